"""Per-locator verdicts: rise and fall, the adaptive failure count, rechecks, flap damping."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from gtm.core.health import (
    HealthParams,
    LocatorHealth,
    Verdict,
    decayed_penalty,
    observe,
    observe_unknown,
    recheck_delay,
    required_failures,
)
from gtm.errors import ConfigError

PARAMS = HealthParams()
FRESH = LocatorHealth()
UP = LocatorHealth(Verdict.UP, ok_streak=5)
DOWN = LocatorHealth(Verdict.DOWN, fail_streak=5)


def run(
    probes: str,
    start: LocatorHealth = FRESH,
    params: HealthParams = PARAMS,
    detail: str = "connect refused",
    t0: float = 0.0,
    step: float = 1.0,
) -> LocatorHealth:
    """Feed ``probes`` ("+" passed, "-" failed) one ``step`` apart, starting at ``t0``."""
    health = start
    for n, probe in enumerate(probes):
        health = observe(health, probe == "+", t0 + n * step, params, detail)
    return health


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        pytest.param({"rise": 0}, "rise must be at least 1, got 0", id="rise"),
        pytest.param({"fall": 0}, "fall must be at least 1, got 0", id="fall"),
        pytest.param({"max_fall": 2}, "max_fall (2) must not be below fall (3)", id="max-fall"),
        pytest.param({"recheck_interval": 0}, "recheck_interval must be positive", id="recheck"),
        pytest.param({"false_alarm": 0}, "false_alarm must be between 0 and 1", id="alarm-0"),
        pytest.param({"false_alarm": 1}, "false_alarm must be between 0 and 1", id="alarm-1"),
        pytest.param({"rate_window": 0}, "rate_window must be at least 1", id="window"),
        pytest.param({"damping_penalty": -1}, "damping_penalty must not be negative", id="pen"),
        pytest.param({"damping_half_life": 0}, "damping_half_life must be positive", id="half"),
        pytest.param(
            {"damping_reuse": 4}, "damping_reuse (4) must be above 0 and below", id="reuse"
        ),
        pytest.param(
            {"damping_reuse": -1}, "damping_reuse (-1) must be above 0 and below", id="neg"
        ),
    ],
)
def test_params_refused(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        HealthParams(**changes)
    assert str(caught.value).startswith("health: ")
    assert [p for p in caught.value.problems if p.startswith(problem)]


def test_params_report_every_problem() -> None:
    with pytest.raises(ConfigError) as caught:
        HealthParams(rise=0, fall=0)
    assert len(caught.value.problems) == 2


@pytest.mark.parametrize(
    ("health", "expected"),
    [
        pytest.param(FRESH, 3, id="no-history-fall"),
        pytest.param(replace(FRESH, failure_rate=1e-4), 3, id="tiny-rate-fall"),
        pytest.param(replace(FRESH, failure_rate=0.001), 3, id="rate-0.001"),
        pytest.param(replace(FRESH, failure_rate=0.002), 4, id="rate-0.002"),
        pytest.param(replace(FRESH, failure_rate=0.02), 6, id="rate-0.02"),
        pytest.param(replace(FRESH, failure_rate=0.19), 13, id="rate-0.19"),
        pytest.param(replace(FRESH, failure_rate=0.2), 13, id="rate-0.2"),
        pytest.param(replace(FRESH, failure_rate=0.5), 20, id="capped-max-fall"),
        pytest.param(replace(FRESH, failure_rate=1.0), 20, id="always-failing"),
        pytest.param(
            replace(FRESH, fail_streak=2, failure_rate=0.5, streak_rate=0.0), 3, id="in-streak"
        ),
    ],
)
def test_required_failures(health: LocatorHealth, expected: int) -> None:
    assert required_failures(health, PARAMS) == expected


FLAKY_UP = replace(UP, failure_rate=0.19)


FLAKY_UP = replace(UP, failure_rate=0.19)
V_UP, V_DOWN, V_UNKNOWN = Verdict.UP, Verdict.DOWN, Verdict.UNKNOWN
FLAKY_13 = "13 required at a 0.19 failure rate"


# fmt: off
VERDICTS_CASES = [
    pytest.param(FRESH, "", "", V_UNKNOWN, "no probe yet", id="no-probe"),
    pytest.param(FRESH, "+", "", V_UNKNOWN, "unknown, 1 success so far (2 required)",
                 id="unknown-1-ok"),
    pytest.param(FRESH, "++", "", V_UP, "up: 2 consecutive successes", id="unknown-rise"),
    pytest.param(FRESH, "+++", "", V_UP, "up: 3 consecutive successes", id="up-more"),
    pytest.param(FRESH, "-", "boom", V_UNKNOWN, "unknown, 1 failure so far (3 required): boom",
                 id="unknown-1-fail"),
    pytest.param(FRESH, "--", "", V_UNKNOWN, "unknown, 2 failures so far (3 required)",
                 id="unknown-2-fail"),
    pytest.param(FRESH, "+-+", "", V_UNKNOWN, "unknown, 1 success so far (2 required)",
                 id="unknown-broken-rise"),
    pytest.param(FRESH, "---", "boom", V_DOWN,
                 "down: 3 consecutive failures (3 required), last: boom", id="unknown-fall"),
    pytest.param(FRESH, "----", "boom", V_DOWN, "down: 4 consecutive failures, last: boom",
                 id="down-more"),
    pytest.param(FRESH, "----", "", V_DOWN, "down: 4 consecutive failures",
                 id="down-no-detail"),
    pytest.param(UP, "-", "boom", V_UP, "up, 1 failure so far (3 required): boom",
                 id="up-1-fail"),
    pytest.param(UP, "--", "", V_UP, "up, 2 failures so far (3 required)", id="up-2-fail"),
    pytest.param(UP, "---", "boom", V_DOWN,
                 "down: 3 consecutive failures (3 required), last: boom", id="up-fall"),
    pytest.param(UP, "--+", "", V_UP, "up: 1 consecutive success", id="up-streak-broken"),
    pytest.param(FLAKY_UP, "-", "timeout after 0.500s", V_UP,
                 f"up, 1 failure so far ({FLAKY_13}): timeout after 0.500s",
                 id="flaky-1-fail"),
    pytest.param(FLAKY_UP, "---", "", V_UP, f"up, 3 failures so far ({FLAKY_13})",
                 id="flaky-3-fail"),
    pytest.param(FLAKY_UP, "-" * 13, "x", V_DOWN,
                 "down: 13 consecutive failures (13 required), last: x", id="flaky-fall"),
    pytest.param(DOWN, "+", "", V_DOWN, "down, 1 success so far (2 required)",
                 id="down-1-ok"),
    pytest.param(DOWN, "++", "", V_UP, "up: 2 consecutive successes", id="down-rise"),
    pytest.param(DOWN, "+-", "boom", V_DOWN, "down: 1 consecutive failure, last: boom",
                 id="down-rise-broken"),
]
# fmt: on


@pytest.mark.parametrize(("start", "probes", "detail", "verdict", "reason"), VERDICTS_CASES)
def test_verdicts(
    start: LocatorHealth, probes: str, detail: str, verdict: Verdict, reason: str
) -> None:
    health = run(probes, start, detail=detail)
    assert (health.verdict, health.reason) == (verdict, reason)


@pytest.mark.parametrize(
    ("params", "probes", "verdict"),
    [
        pytest.param(HealthParams(rise=1), "+", Verdict.UP, id="rise-1"),
        pytest.param(HealthParams(rise=3), "++", Verdict.UNKNOWN, id="rise-3-short"),
        pytest.param(HealthParams(rise=3), "+++", Verdict.UP, id="rise-3"),
        pytest.param(HealthParams(fall=1), "-", Verdict.DOWN, id="fall-1"),
        pytest.param(HealthParams(fall=5), "++----", Verdict.UP, id="fall-5-short"),
        pytest.param(HealthParams(fall=5), "++-----", Verdict.DOWN, id="fall-5"),
    ],
)
def test_thresholds(params: HealthParams, probes: str, verdict: Verdict) -> None:
    assert run(probes, params=params).verdict is verdict


def test_streak_bookkeeping() -> None:
    health = run("++", t0=100.0)
    assert (health.ok_streak, health.fail_streak, health.streak_started_at) == (2, 0, 100.0)
    assert health.changed_at == 101.0
    health = run("--", health, t0=102.0)
    assert (health.ok_streak, health.fail_streak, health.streak_started_at) == (0, 2, 102.0)
    assert health.streak_rate == 0.0
    assert health.failure_rate == pytest.approx(1 - (1 - 1 / 50) ** 2)
    assert health.changed_at == 101.0
    health = run("+", health, t0=104.0)
    assert (health.ok_streak, health.streak_started_at) == (1, 104.0)
    rate = health.failure_rate
    health = run("-", health, t0=105.0)
    assert health.streak_rate == rate


def test_a_success_of_an_up_locator_changes_only_its_streak_rate_and_reason() -> None:
    before = replace(
        UP,
        ok_streak=0,
        fail_streak=1,
        streak_rate=0.1,
        failure_rate=0.2,
        penalty=2.0,
        penalty_at=3.0,
        changed_at=4.0,
    )
    after = observe(before, True, 10.0, PARAMS)
    assert after == replace(
        before,
        ok_streak=1,
        fail_streak=0,
        streak_started_at=10.0,
        failure_rate=0.2 + (0.0 - 0.2) / PARAMS.rate_window,
        reason="up: 1 consecutive success",
    )
    assert observe(after, True, 11.0, PARAMS).reason == "up: 2 consecutive successes"


def test_failure_rate_counts_chance_failures_only() -> None:
    """The streak that brought a locator down, and probes while down, leave the rate as it was."""
    before = replace(UP, failure_rate=0.05)
    down = run("-" * required_failures(before, PARAMS), before)
    assert down.verdict is Verdict.DOWN
    assert down.failure_rate == 0.05
    assert run("-+-+", down).failure_rate == 0.05
    assert run("+" * 10, down).failure_rate < 0.05


def test_recovered_locator_fails_over_as_fast_as_before() -> None:
    outage = run("++" + "-" * 30 + "++" + "---")
    assert outage.verdict is Verdict.DOWN
    assert outage.reason == "down: 3 consecutive failures (3 required), last: connect refused"


@pytest.mark.parametrize(
    ("health", "expected"),
    [
        pytest.param(FRESH, None, id="fresh"),
        pytest.param(replace(FRESH, ok_streak=1), 0.05, id="unknown-rising"),
        pytest.param(replace(FRESH, fail_streak=2), 0.05, id="unknown-falling"),
        pytest.param(replace(FRESH, fail_streak=3), None, id="unknown-at-fall"),
        pytest.param(UP, None, id="up-steady"),
        pytest.param(replace(UP, ok_streak=0, fail_streak=1), 0.05, id="up-first-failure"),
        pytest.param(replace(UP, ok_streak=0, fail_streak=2), 0.05, id="up-second-failure"),
        pytest.param(replace(UP, ok_streak=0, fail_streak=3), None, id="up-at-required"),
        pytest.param(
            replace(UP, ok_streak=0, fail_streak=12, streak_rate=0.2),
            0.05,
            id="up-flaky-unconfirmed",
        ),
        pytest.param(DOWN, None, id="down-steady"),
        pytest.param(replace(DOWN, fail_streak=0, ok_streak=1), 0.05, id="down-first-success"),
        pytest.param(replace(DOWN, fail_streak=0, ok_streak=1, held=True), None, id="down-held"),
        pytest.param(replace(DOWN, fail_streak=0, ok_streak=2), None, id="down-at-rise"),
    ],
)
def test_recheck_delay(health: LocatorHealth, expected: float | None) -> None:
    assert recheck_delay(health, PARAMS) == expected


def test_hard_failure_confirmed_by_quick_rechecks() -> None:
    health = run("+" * 1000)
    failures, rechecks = 0, 0
    while health.verdict is Verdict.UP:
        health = observe(health, False, 2000.0 + rechecks * 0.05, PARAMS, "connect refused")
        failures += 1
        if recheck_delay(health, PARAMS) is not None:
            rechecks += 1
    assert (failures, rechecks) == (PARAMS.fall, PARAMS.fall - 1)


@pytest.mark.parametrize(
    ("penalty", "at", "now", "expected"),
    [
        pytest.param(0.0, 0.0, 100.0, 0.0, id="none"),
        pytest.param(2.0, 10.0, 10.0, 2.0, id="no-time"),
        pytest.param(2.0, 10.0, 70.0, 1.0, id="one-half-life"),
        pytest.param(2.0, 10.0, 130.0, 0.5, id="two-half-lives"),
        pytest.param(2.0, 10.0, 5.0, 2.0, id="clock-backwards"),
    ],
)
def test_decayed_penalty(penalty: float, at: float, now: float, expected: float) -> None:
    health = replace(FRESH, penalty=penalty, penalty_at=at)
    assert decayed_penalty(health, now, PARAMS) == pytest.approx(expected)


def test_penalty_added_on_up_to_down_only() -> None:
    unknown_down = run("---")
    assert unknown_down.penalty == 0.0
    first = run("---", UP, t0=60.0)
    assert (first.penalty, first.penalty_at) == (1.0, 62.0)
    second = run("++---", first, t0=120.0)
    assert second.penalty == pytest.approx(1.0 * 0.5 ** (62 / 60) + 1.0)
    assert second.penalty_at == 124.0
    assert run("----", second, t0=125.0).penalty == second.penalty


def flapped(times: int, gap: float = 1.0) -> LocatorHealth:
    """A locator that went up and down ``times`` times, ``gap`` seconds per probe."""
    health = run("++")
    for n in range(times):
        health = run("---" + ("++" if n < times - 1 else ""), health, t0=10 + n * 5 * gap, step=gap)
    return health


def test_flapping_locator_held_down() -> None:
    three = flapped(3)
    assert three.verdict is Verdict.DOWN
    # Downs 5 s apart: each earlier penalty has decayed by 2 ** (-5 / 60) per flap since.
    assert three.penalty == pytest.approx(sum(0.5 ** (5 * k / 60) for k in range(3)))
    assert run("++", three, t0=three.penalty_at + 1).verdict is Verdict.UP
    four = flapped(4)
    held = run("++", four, t0=four.penalty_at + 1)
    assert (held.verdict, held.held) == (Verdict.DOWN, True)
    assert held.reason == "held down by flap damping: penalty 3.6 >= 3.0, reuse below 1.5"


HELD = replace(DOWN, penalty=4.0, penalty_at=0.0)
HELD_4 = "held down by flap damping: penalty 4.0 >= 3.0, reuse below 1.5"
HELD_3_9 = "held down by flap damping: penalty 3.9 >= 3.0, reuse below 1.5"
HELD_2_8 = "held down by flap damping: penalty 2.8, reuse below 1.5"


# fmt: off
FLAP_DAMPING_CASES = [
    pytest.param("+", 0.0, V_DOWN, False, "down, 1 success so far (2 required)",
                 id="rising"),
    pytest.param("++", 0.0, V_DOWN, True, HELD_4, id="held"),
    pytest.param("+" * 31, 0.0, V_DOWN, True, HELD_2_8, id="between-still-held"),
    pytest.param("++-+", 0.0, V_DOWN, True, HELD_3_9, id="held-across-failure"),
    pytest.param("++", 30.0, V_UP, False, "up: 2 consecutive successes",
                 id="below-suppress-not-held"),
]
# fmt: on


@pytest.mark.parametrize(("probes", "t0", "verdict", "held", "reason"), FLAP_DAMPING_CASES)
def test_flap_damping(probes: str, t0: float, verdict: Verdict, held: bool, reason: str) -> None:
    health = run(probes, HELD, t0=t0)
    assert (health.verdict, health.held, health.reason) == (verdict, held, reason)


def test_held_released_below_reuse() -> None:
    held = run("++", HELD)
    assert run("+", held, t0=84.0).verdict is Verdict.DOWN
    released = run("+", held, t0=90.0)
    assert (released.verdict, released.held, released.changed_at) == (Verdict.UP, False, 90.0)
    assert released.reason == (
        "up: 3 consecutive successes, flap damping released (penalty 1.4 < 1.5)"
    )


def test_held_needs_rise_again_after_a_failure() -> None:
    held = run("++-+", HELD)
    assert recheck_delay(held, PARAMS) is None
    assert run("+", held, t0=100.0).verdict is Verdict.UP


@pytest.mark.parametrize(
    ("before", "probes_after"),
    [
        pytest.param(run("++"), "---", id="up-then-outage"),
        pytest.param(run("++--"), "-", id="mid-streak"),
        pytest.param(run("---"), "++", id="down-then-recovery"),
        pytest.param(FRESH, "---", id="unknown"),
    ],
)
def test_an_unknown_probe_is_no_evidence(before: LocatorHealth, probes_after: str) -> None:
    """Unknowns between probes change nothing the verdict depends on: the same probes
    with or without them end at the same verdict, streaks and rates."""
    unknown = observe_unknown(before, "connect failed: Too many open files (short of resources)")
    assert replace(unknown, reason=before.reason) == before
    assert unknown.reason == (
        f"{before.reason}; last probe unknown: connect failed: Too many open files "
        "(short of resources)"
    )
    with_unknown = run(probes_after, observe_unknown(unknown, "stalled"), t0=10.0)
    without = run(probes_after, before, t0=10.0)
    assert with_unknown == without


def test_unknowns_in_a_row_mention_only_the_latest() -> None:
    twice = observe_unknown(observe_unknown(UP, "first"), "second")
    assert twice.reason == f"{UP.reason}; last probe unknown: second"
