"""Flap damping as configured: its levels, switched off, and how the half-life sets the hold."""

from __future__ import annotations

from typing import Any

import pytest

from gtm.core.health import HealthParams, LocatorHealth, Verdict, observe
from gtm.errors import ConfigError

OFF = HealthParams(damping=False)


def faults(params: HealthParams, count: int, gap: float) -> tuple[LocatorHealth, float]:
    """A locator brought down ``count`` times, ``gap`` seconds apart, probed every 0.5 s.

    Each fault is three failures; between faults the locator answers. Returns the health
    after the last fault and the time of its last probe.
    """
    health, now = LocatorHealth(), 0.0
    for _ in range(2):
        health = observe(health, True, now, params)
        now += 0.5
    for n in range(count):
        start = 10.0 + n * gap
        now = max(now, start)
        for _ in range(3):
            health = observe(health, False, now, params)
            now += 0.05
        if n < count - 1:
            for _ in range(params.rise):
                health = observe(health, True, now, params)
                now += 0.5
    return health, now


def held_for(params: HealthParams, count: int = 6, gap: float = 3.5) -> float:
    """Seconds from the end of the last fault to the locator's verdict being up again."""
    health, end = faults(params, count, gap)
    now = end
    while health.verdict is not Verdict.UP:
        now += 0.5
        health = observe(health, True, now, params)
    return now - end


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        pytest.param({"damping_suppress": 0}, "damping_suppress must be positive", id="suppress"),
        pytest.param(
            {"damping_reuse": 0}, "damping_reuse (0) must be above 0 and below", id="reuse-zero"
        ),
        pytest.param(
            {"damping_reuse": 3.0}, "damping_reuse (3.0) must be above 0 and below", id="reuse-eq"
        ),
    ],
)
def test_damping_levels_refused(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        HealthParams(**changes)
    assert [p for p in caught.value.problems if p.startswith(problem)]


@pytest.mark.parametrize("count", [1, 4, 10, 30])
@pytest.mark.parametrize("gap", [0.5, 3.5, 60.0])
def test_off_never_suppresses(count: int, gap: float) -> None:
    health, now = faults(OFF, count, gap)
    assert (health.verdict, health.penalty) == (Verdict.DOWN, 0.0)
    up = observe(observe(health, True, now, OFF), True, now + 0.5, OFF)
    assert (up.verdict, up.held, up.reason) == (Verdict.UP, False, "up: 2 consecutive successes")


def test_on_suppresses_the_same_faults() -> None:
    health, now = faults(HealthParams(), 10, 3.5)
    held = observe(observe(health, True, now, HealthParams()), True, now + 0.5, HealthParams())
    assert (held.verdict, held.held) == (Verdict.DOWN, True)


def test_turning_damping_off_releases_a_held_locator() -> None:
    held = LocatorHealth(Verdict.DOWN, ok_streak=1, penalty=5.0, held=True)
    up = observe(held, True, 1.0, OFF)
    assert (up.verdict, up.held) == (Verdict.UP, False)
    assert up.reason == "up: 2 consecutive successes, flap damping released (damping off)"


@pytest.mark.parametrize(
    ("longer", "shorter"),
    [
        pytest.param(HealthParams(), HealthParams(damping_half_life=15.0), id="60s-vs-15s"),
        pytest.param(
            HealthParams(damping_half_life=15.0), HealthParams(damping_half_life=5.0), id="15-vs-5"
        ),
        pytest.param(HealthParams(), OFF, id="60s-vs-off"),
    ],
)
def test_a_shorter_half_life_releases_sooner(longer: HealthParams, shorter: HealthParams) -> None:
    assert held_for(shorter) < held_for(longer)
