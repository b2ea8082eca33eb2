"""Bursting: when an overspill begins, how it ramps, holds and ends, and what survives a restart."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from gtm.core.burst import (
    BurstParams,
    BurstState,
    Change,
    Metric,
    Phase,
    Reading,
    Step,
    combine,
    due,
    resume,
    share,
    step,
)
from gtm.core.model import Locator, Mapping, State
from gtm.errors import ConfigError

A, B = "aws-use1", "gcp-euw1"
PARAMS = BurstParams(above=0.25, below=0.2, window=10, calm=30, hold=60, ramp=20, share=40)


def run(
    trace: list[tuple[float, float | None]],
    params: BurstParams = PARAMS,
    state: BurstState | None = None,
) -> tuple[BurstState, list[tuple[float, Change]]]:
    """Step through ``(time, figure)`` samples, each read at its own time."""
    state = state if state is not None else BurstState(active=A)
    changes: list[tuple[float, Change]] = []
    for at, value in trace:
        reading = None if value is None else Reading(value, at)
        result = step(state, A, reading, at, params)
        state = result.state
        if result.change is not None:
            changes.append((at, result.change))
    return state, changes


def every(
    start: float, stop: float, value: float | None, stride: float = 1.0
) -> list[tuple[float, float | None]]:
    count = math.floor((stop - start) / stride)
    return [(start + i * stride, value) for i in range(count)]


@pytest.mark.parametrize(
    ("trace", "phase", "changes"),
    [
        # Above for less than the window: nothing.
        (every(0, 9.5, 0.3), Phase.STEADY, []),
        # Above for the whole window: the burst begins when the window ends.
        (every(0, 11, 0.3), Phase.BURSTING, [(10.0, Change.BEGAN)]),
        # A dip into the band in the middle restarts the window.
        ([*every(0, 6, 0.3), (6, 0.22), *every(7, 16, 0.3)], Phase.STEADY, []),
        (
            [*every(0, 6, 0.3), (6, 0.22), *every(7, 18, 0.3)],
            Phase.BURSTING,
            [(17.0, Change.BEGAN)],
        ),
        # No figure stops the timers too.
        ([*every(0, 6, 0.3), (6, None), *every(7, 16, 0.3)], Phase.STEADY, []),
        # Below the stop level while steady: nothing to end.
        (every(0, 100, 0.1), Phase.STEADY, []),
    ],
)
def test_a_burst_begins_only_after_the_load_stays_above_for_the_window(
    trace: list[tuple[float, float | None]], phase: Phase, changes: list[tuple[float, Change]]
) -> None:
    state, seen = run(trace)
    assert state.phase is phase
    assert seen == changes


def test_a_burst_ramps_up_in_steps_holds_and_ramps_down_after_the_calm() -> None:
    state, changes = run(every(0, 11, 0.3))
    assert changes == [(10.0, Change.BEGAN)]
    # 4 steps of 5 s up to 40 %, the first at once.
    assert [share(state, 10 + t, PARAMS) for t in (0, 4.9, 5, 10, 15, 19.9, 20, 500)] == [
        10,
        10,
        20,
        30,
        40,
        40,
        40,
        40,
    ]
    # The load drops at once, but the minimum time in a state (60 s from 10) holds the burst.
    state, changes = run(every(11, 70, 0.1), state=state)
    assert changes == [] and state.phase is Phase.BURSTING
    state, changes = run(every(70, 72, 0.1), state=state)
    assert changes == [(70.0, Change.ENDED)]
    assert state.phase is Phase.LEAVING and state.start_share == 40
    assert [share(state, 70 + t, PARAMS) for t in (0, 5, 10, 15)] == [30, 20, 10, 0]
    state, changes = run(every(72, 90, 0.1), state=state)
    assert changes == [(85.0, Change.LEFT)] and state.phase is Phase.STEADY
    assert share(state, 90, PARAMS) == 0


def test_the_calm_window_is_counted_from_the_first_reading_below() -> None:
    state, _ = run(every(0, 11, 0.3))
    # Load in the band for a long time: the burst holds (hysteresis).
    state, changes = run(every(11, 200, 0.22), state=state)
    assert changes == [] and state.phase is Phase.BURSTING
    # Then below from 200: the end comes 30 s later.
    state, changes = run(every(200, 231, 0.1), state=state)
    assert changes == [(230.0, Change.ENDED)]


def test_a_load_back_above_while_leaving_bursts_again_after_the_minimum_time() -> None:
    params = replace(PARAMS, ramp=200, hold=20)
    state, _ = run(every(0, 11, 0.3), params)
    state, changes = run(every(11, 61, 0.1), params, state)
    assert changes == [(41.0, Change.ENDED)]
    assert state.phase is Phase.LEAVING
    state, changes = run(every(61, 72, 0.3), params, state)
    assert changes == [(71.0, Change.BEGAN)]
    # The ramp climbs again from the share it had: 10 % when it ended at 41 (one step of
    # four), 8 % a step into leaving.
    assert state.start_share == 8
    assert share(state, 71, params) == 8 + round(32 / 4)


def test_a_reading_already_seen_is_not_news() -> None:
    state, _ = run([(0, 0.3)])
    again = step(state, A, Reading(0.1, 0), 5, PARAMS)
    assert again.state.above_since == 0 and again.state.below_since is None


def test_a_decision_step_without_new_readings_lets_time_start_the_burst() -> None:
    state, _ = run([(0, 0.3)])
    result = step(state, A, Reading(0.3, 0), 10, PARAMS)
    assert result.change is Change.BEGAN
    assert result.reason == "burst began: load of aws-use1 300ms above 250ms for 10.0s (for 10s)"


def test_the_end_says_why_with_the_figures() -> None:
    state, _ = run(every(0, 11, 0.3))
    result = step(state, A, Reading(0.15, 40), 70, PARAMS)
    assert result == Step(
        replace(result.state),
        Change.ENDED,
        "burst ended: load of aws-use1 150ms below 200ms for 30.0s (calm 30s)",
    )


def test_a_load_figure_is_shown_as_a_number() -> None:
    params = BurstParams(metric=Metric.LOAD, above=0.8, below=0.5, window=0, hold=0)
    result = step(BurstState(active=A), A, Reading(0.95, 1), 1, params)
    assert result.reason == "burst began: load of aws-use1 0.95 above 0.8 for 0.0s (for 0s)"
    assert (
        share(result.state, 1, params) == 12
    )  # a quarter of 50 %, the first step, rounded to even


def test_no_figure_stops_a_calm_that_had_begun() -> None:
    params = replace(PARAMS, hold=0)
    state, _ = run([*every(0, 11, 0.3), (11, 0.1)], params)
    assert state.below_since == 11
    state, changes = run([(20, None), *every(21, 50, 0.1)], params, state)
    assert changes == []
    assert state.below_since == 21


def test_without_a_ramp_the_share_is_full_at_once_and_gone_at_once() -> None:
    params = replace(PARAMS, ramp=0, hold=0, calm=0)
    state, changes = run(every(0, 11, 0.3), params)
    assert share(state, 10, params) == 40
    assert due(state, 10, params) is None
    state, changes = run([(11, 0.1)], params, state)
    assert changes == [(11, Change.ENDED)]
    assert share(state, 11, params) == 0
    state, changes = run([(11.5, 0.1)], params, state)
    assert changes == [(11.5, Change.LEFT)]


def test_another_active_site_starts_the_cycle_again() -> None:
    state, _ = run(every(0, 11, 0.3))
    moved = step(state, B, Reading(0.3, 11), 11, PARAMS)
    assert moved.change is Change.ENDED
    assert moved.reason == "burst ended: active site moved from aws-use1"
    assert moved.state == BurstState(active=B, since=11)
    assert share(moved.state, 11, PARAMS) == 0
    # A steady cycle just follows the new active site, with no minimum time.
    quiet = step(BurstState(active=A), B, None, 5, PARAMS)
    assert quiet == Step(BurstState(active=B))


@pytest.mark.parametrize(
    ("state", "now", "expected"),
    [
        (BurstState(active=A), 0, None),
        # Steady, load above since 3: the window ends at 13.
        (BurstState(active=A, above_since=3), 5, 13),
        # ... unless the minimum time in the state ends later.
        (BurstState(active=A, since=10, above_since=3), 12, 70),
        # Bursting: the next ramp step.
        (BurstState(active=A, phase=Phase.BURSTING, since=10), 12, 15),
        # Ramp done, load below since 100: the calm ends at 130.
        (BurstState(active=A, phase=Phase.BURSTING, since=10, below_since=100), 110, 130),
        (BurstState(active=A, phase=Phase.BURSTING, since=10), 40, None),
        # Leaving: the next ramp step, the last included (share reaches 0 there).
        (BurstState(active=A, phase=Phase.LEAVING, since=10, start_share=40), 21, 25),
        # Past the moment: nothing left to wait for.
        (BurstState(active=A, above_since=3), 20, None),
    ],
)
def test_due_is_the_next_moment_a_step_could_change_something(
    state: BurstState, now: float, expected: float | None
) -> None:
    assert due(state, now, PARAMS) == expected


def test_a_site_reading_is_the_mean_of_its_locators_at_the_newest_time() -> None:
    assert combine([]) is None
    assert combine([Reading(0.1, 5), Reading(0.3, 7)]) == Reading(pytest.approx(0.2), 7)


def _mapping(b_priority: int, b_weight: int, active: str | None = A) -> Mapping:
    return Mapping(
        service="billing",
        version=3,
        epoch=1,
        ttl=5,
        active_site=active,
        locators=(
            Locator("billing@a/1", A, "192.0.2.1", 80, 1, 60, State.UP),
            Locator("billing@b/1", B, "198.51.100.1", 80, b_priority, b_weight, State.UP),
        ),
    )


WEIGHTS = {"billing@a/1": 100, "billing@b/1": 100}


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        (None, BurstState()),
        (_mapping(2, 100, active=None), BurstState()),
        (_mapping(2, 100), BurstState(active=A)),
        # Priority 1 but weight 0 in the config: nothing can be read from it.
        (_mapping(1, 40), BurstState(active=A, phase=Phase.BURSTING, since=500, start_share=40)),
    ],
)
def test_a_restart_resumes_the_overspill_the_mapping_shows(
    current: Mapping | None, expected: BurstState
) -> None:
    assert resume(current, WEIGHTS, 500) == expected


def test_a_resumed_overspill_is_held_by_the_minimum_time() -> None:
    state = resume(_mapping(1, 40), WEIGHTS, 500)
    assert share(state, 500, PARAMS) == 40
    state, changes = run(every(500, 559, 0.1), state=state)
    assert changes == [] and state.phase is Phase.BURSTING
    assert resume(_mapping(1, 40), {"billing@a/1": 100, "billing@b/1": 0}, 5) == BurstState(
        active=A
    )


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"below": 0.3}, "below (0.3) is not below above (0.25)"),
        ({"below": -1.0, "above": -0.5}, "below (-1) is negative"),
        ({"window": -1.0}, "for (-1s) is negative"),
        ({"calm": -1.0}, "calm (-1s) is negative"),
        ({"hold": -1.0}, "hold (-1s) is negative"),
        ({"ramp": -1.0}, "ramp (-1s) is negative"),
        ({"share": 0}, "share (0) is outside 1..100"),
        ({"steps": 0}, "steps (0) is below 1"),
    ],
)
def test_settings_that_cannot_work_are_refused_with_the_values(
    changes: dict[str, float], problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        replace(PARAMS, **changes)
    assert problem in str(caught.value)
