"""Bursting over random load traces: the minimum time bounds flips; a hovering load never flaps."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from gtm.core.burst import BurstParams, BurstState, Change, Reading, share, step

A = "aws-use1"

params_strategy = st.builds(
    BurstParams,
    above=st.just(0.25),
    below=st.sampled_from([0.1, 0.2, 0.24]),
    window=st.sampled_from([0.0, 1.0, 5.0, 10.0]),
    calm=st.sampled_from([0.0, 2.0, 10.0, 30.0]),
    hold=st.sampled_from([0.0, 5.0, 30.0, 60.0]),
    ramp=st.sampled_from([0.0, 4.0, 20.0]),
    share=st.integers(1, 100),
    steps=st.integers(1, 5),
)

samples = st.lists(
    st.tuples(
        st.floats(0.05, 3.0),  # seconds since the previous sample
        st.one_of(st.none(), st.floats(0.0, 0.6)),  # the figure, or none
    ),
    min_size=1,
    max_size=400,
)


def flips(params: BurstParams, trace: list[tuple[float, float | None]]) -> list[float]:
    """Times a burst began or ended while stepping through ``trace``."""
    state, now, seen = BurstState(active=A), 0.0, []
    for gap, value in trace:
        now += gap
        reading = None if value is None else Reading(value, now)
        result = step(state, A, reading, now, params)
        assert 0 <= share(result.state, now, params) <= params.share
        state = result.state
        if result.change in (Change.BEGAN, Change.ENDED):
            seen.append(now)
    return seen


@settings(max_examples=300, deadline=None)
@given(params_strategy, samples)
def test_flips_are_at_least_the_minimum_time_apart(
    params: BurstParams, trace: list[tuple[float, float | None]]
) -> None:
    times = flips(params, trace)
    assert all(later - earlier >= params.hold for earlier, later in itertools.pairwise(times))
    duration = sum(gap for gap, _ in trace)
    if params.hold > 0:
        assert len(times) <= 1 + duration / params.hold


@settings(max_examples=300, deadline=None)
@given(
    params_strategy,
    st.lists(st.tuples(st.floats(0.05, 3.0), st.floats(-1.0, 1.0)), min_size=1, max_size=400),
)
def test_a_load_hovering_at_the_start_level_bursts_at_most_once_and_never_ends(
    params: BurstParams, trace: list[tuple[float, float]]
) -> None:
    # Noise around ``above`` that never reaches ``below``: the hysteresis band holds it.
    spread = (params.above - params.below) * 0.99
    hovering = [(gap, params.above + noise * spread) for gap, noise in trace]
    assert len(flips(params, hovering)) <= 1
