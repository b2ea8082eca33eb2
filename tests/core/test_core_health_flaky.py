"""Seeded simulations: a flaky locator never fails over, a dead one does at once.

A locator failing 20 % of its probes independently at random is probed once per interval,
plus quick rechecks whenever the health core asks for them, as the scheduler does.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from gtm.core.health import (
    HealthParams,
    LocatorHealth,
    Verdict,
    observe,
    recheck_delay,
    required_failures,
)

PARAMS = HealthParams()


@dataclass
class Run:
    """What a simulated locator went through."""

    health: LocatorHealth
    probes: int = 0
    failed: int = 0
    downs_after_up: int = 0
    came_up: bool = False


def probe_for(run: Run, intervals: int, rng: random.Random, fail_ratio: float) -> Run:
    """Probe ``intervals`` times one second apart, with rechecks, failing at random."""
    for interval in range(intervals):
        now = float(interval)
        while True:
            ok = rng.random() >= fail_ratio
            before = run.health.verdict
            run.health = observe(run.health, ok, now, PARAMS, "" if ok else "status 503")
            run.probes += 1
            run.failed += not ok
            if run.came_up and before is Verdict.UP and run.health.verdict is Verdict.DOWN:
                run.downs_after_up += 1
            run.came_up = run.came_up or run.health.verdict is Verdict.UP
            delay = recheck_delay(run.health, PARAMS)
            if delay is None:
                break
            now += delay
    return run


def test_flaky_locator_never_goes_down_once_up() -> None:
    run = probe_for(Run(LocatorHealth()), 100_000, random.Random(20261121), 0.2)
    assert run.came_up
    assert run.downs_after_up == 0
    assert run.failed / run.probes == pytest.approx(0.2, abs=0.01)
    assert run.health.failure_rate == pytest.approx(0.2, abs=0.15)


@pytest.mark.parametrize("seed", range(10))
def test_flaky_locator_with_history_never_goes_down(seed: int) -> None:
    # Starts from a locator whose rate already shows its flakiness: before its first
    # failure ever, a fresh locator's chance streak of ``fall`` failures is exactly what
    # an outage looks like, and is treated as one.
    start = LocatorHealth(Verdict.UP, ok_streak=5, failure_rate=0.2)
    run = probe_for(Run(start, came_up=True), 10_000, random.Random(seed), 0.2)
    assert run.downs_after_up == 0


@pytest.mark.parametrize("seed", range(5))
def test_dead_flaky_locator_still_goes_down(seed: int) -> None:
    run = probe_for(Run(LocatorHealth()), 2_000, random.Random(seed), 0.2)
    needed = required_failures(run.health, PARAMS)
    health, failures = run.health, 0
    while health.verdict is not Verdict.DOWN:
        health = observe(health, False, 3000.0 + failures * 0.05, PARAMS, "connect refused")
        failures += 1
    assert failures <= needed <= PARAMS.max_fall


def test_outage_does_not_slow_the_next_failover() -> None:
    rng = random.Random(0)
    run = probe_for(Run(LocatorHealth()), 500, rng, 0.0)
    down = probe_for(run, 60, rng, 1.0).health
    assert down.verdict is Verdict.DOWN
    recovered = probe_for(run, 5, rng, 0.0).health
    assert recovered.verdict is Verdict.UP
    assert required_failures(recovered, PARAMS) == PARAMS.fall
