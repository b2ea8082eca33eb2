"""Per-locator verdicts: fail over as fast as one failed probe, yet ignore random losses.

A verdict changes only after a streak of agreeing probes, and unconfirmed streaks are
re-probed quickly, so a hard failure is confirmed within a fraction of a second. How long a
failure streak must be depends on the locator's history: one that has been healthy needs
``fall`` failures, one that has been failing at random needs as many as make a chance
streak that long less likely than ``false_alarm``. Flap damping keeps a locator that keeps
going down from coming straight back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

from gtm.errors import ConfigError


class Verdict(StrEnum):
    """The health of one locator after hysteresis and flap damping."""

    UP = "up"
    DOWN = "down"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class HealthParams:
    """How much evidence it takes to change a verdict.

    Raises:
        ConfigError: when a value is out of range; the message lists every problem.
    """

    rise: int = 2
    """Consecutive successes that bring a locator up."""
    fall: int = 3
    """Consecutive failures that bring a healthy locator down (the adaptive minimum)."""
    recheck_interval: float = 0.05
    """Seconds between quick re-probes while a streak is unconfirmed."""
    max_fall: int = 20
    """Cap on the adaptive failure count, so even a very flaky locator can go down."""
    false_alarm: float = 1e-9
    """Acceptable chance, per failure streak, that a flaky but working locator goes down."""
    rate_window: int = 50
    """Probes in the failure-rate moving average (its smoothing factor is 1/rate_window)."""
    damping: bool = True
    """Whether flap damping is on; off, a locator is never held down and gains no penalty."""
    damping_penalty: float = 1.0
    """Penalty added on every up->down transition."""
    damping_half_life: float = 60.0
    """Seconds for the penalty to halve."""
    damping_suppress: float = 3.0
    """Penalty at or above which a down locator is held down when it would come up."""
    damping_reuse: float = 1.5
    """A held locator stays down until its penalty falls below this."""

    def __post_init__(self) -> None:
        checks = (
            (self.rise >= 1, f"rise must be at least 1, got {self.rise}"),
            (self.fall >= 1, f"fall must be at least 1, got {self.fall}"),
            (
                self.max_fall >= self.fall,
                f"max_fall ({self.max_fall}) must not be below fall ({self.fall})",
            ),
            (
                self.recheck_interval > 0,
                f"recheck_interval must be positive, got {self.recheck_interval}",
            ),
            (
                0 < self.false_alarm < 1,
                f"false_alarm must be between 0 and 1, got {self.false_alarm}",
            ),
            (self.rate_window >= 1, f"rate_window must be at least 1, got {self.rate_window}"),
            (
                self.damping_penalty >= 0,
                f"damping_penalty must not be negative, got {self.damping_penalty}",
            ),
            (
                self.damping_half_life > 0,
                f"damping_half_life must be positive, got {self.damping_half_life}",
            ),
            (
                self.damping_suppress > 0,
                f"damping_suppress must be positive, got {self.damping_suppress}",
            ),
            # A reuse level of 0 would never be passed, and one at or above suppress would
            # release a locator as soon as it is held: both hold it down or not at all.
            (
                0 < self.damping_reuse < self.damping_suppress,
                f"damping_reuse ({self.damping_reuse}) must be above 0 and below "
                f"damping_suppress ({self.damping_suppress})",
            ),
        )
        problems = [message for passed, message in checks if not passed]
        if problems:
            raise ConfigError("health: " + "; ".join(problems), problems)


@dataclass(frozen=True, slots=True)
class LocatorHealth:
    """Everything the verdict of one locator depends on; :func:`observe` makes the next."""

    verdict: Verdict = Verdict.UNKNOWN
    ok_streak: int = 0
    """Consecutive successful probes up to now (0 while failing)."""
    fail_streak: int = 0
    """Consecutive failed probes up to now (0 while succeeding)."""
    streak_started_at: float | None = None
    """Time of the first probe of the current streak."""
    failure_rate: float = 0.0
    """Moving average of failed probes, rechecks included, while the locator is not down.

    The failures of a streak that brought the locator down are taken back out: they were
    an outage, not the chance failures this rate is meant to measure.
    """
    streak_rate: float = 0.0
    """``failure_rate`` as it was just before the current failure streak began."""
    penalty: float = 0.0
    """Flap-damping penalty as of ``penalty_at``; see :func:`decayed_penalty`."""
    penalty_at: float = 0.0
    """When ``penalty`` was last updated."""
    changed_at: float | None = None
    """When the verdict last changed."""
    reason: str = "no probe yet"
    """One sentence: why the verdict is what it is."""
    held: bool = False
    """Flap damping holds the locator down until its penalty falls below reuse."""


def observe(
    health: LocatorHealth, ok: bool, now: float, params: HealthParams, detail: str = ""
) -> LocatorHealth:
    """The health of a locator after one more probe.

    Args:
        health: the locator's health before the probe.
        ok: whether the probe passed.
        now: when the probe was made.
        params: the thresholds.
        detail: the prober's one-sentence reason, quoted in the verdict's reason.

    Returns:
        The new health, with the verdict, streaks, rates, penalty and reason updated.
    """
    failure_rate = health.failure_rate
    # The rate measures chance failures of a locator in service; probes of a locator that
    # is down say nothing about that, and would make it slow to fail over once back up.
    if health.verdict is not Verdict.DOWN:
        failure_rate += ((0.0 if ok else 1.0) - failure_rate) / params.rate_window
    if ok:
        ok_streak = health.ok_streak + 1
        started = now if health.ok_streak == 0 else health.streak_started_at
        if health.verdict is Verdict.UP:
            # A healthy locator probed healthy, the case of nearly every probe: only the
            # streak, the rate and the reason change, so the new value is built at once.
            return LocatorHealth(
                verdict=Verdict.UP,
                ok_streak=ok_streak,
                fail_streak=0,
                streak_started_at=started,
                failure_rate=failure_rate,
                streak_rate=health.streak_rate,
                penalty=health.penalty,
                penalty_at=health.penalty_at,
                changed_at=health.changed_at,
                reason=f"up: {_successes(ok_streak)}",
                held=health.held,
            )
        probed = replace(
            health,
            ok_streak=ok_streak,
            fail_streak=0,
            streak_started_at=started,
            failure_rate=failure_rate,
        )
        return _judge_success(probed, now, params)
    first = health.fail_streak == 0
    probed = replace(
        health,
        ok_streak=0,
        fail_streak=health.fail_streak + 1,
        streak_started_at=now if first else health.streak_started_at,
        failure_rate=failure_rate,
        # The streak is judged by the history before it: its own failures must not make
        # a real outage look like flakiness and slow its confirmation down.
        streak_rate=health.failure_rate if first else health.streak_rate,
    )
    return _judge_failure(probed, now, params, detail)


def observe_unknown(health: LocatorHealth, detail: str) -> LocatorHealth:
    """The health of a locator after a probe whose result says nothing about it.

    Such a probe (see :func:`gtm.core.vantage.trust`) neither extends nor breaks a streak,
    leaves the failure rate alone and changes no verdict; only the reason mentions it.

    Args:
        health: the locator's health before the probe.
        detail: why the result is unknown, quoted in the reason.

    Returns:
        The same health with the reason saying the last probe was unknown.
    """
    kept = health.reason.split("; last probe unknown: ")[0]
    return replace(health, reason=f"{kept}; last probe unknown: {detail}")


def required_failures(health: LocatorHealth, params: HealthParams) -> int:
    """Consecutive failures that bring this locator down from up.

    The count is the shortest streak that a locator failing at random with the rate seen
    before the streak produces with a chance below ``false_alarm``, kept between ``fall``
    and ``max_fall``. Outside a failure streak it is the count the next streak would need.

    Args:
        health: the locator's health.
        params: the thresholds.

    Returns:
        The number of consecutive failures, from ``fall`` to ``max_fall``.
    """
    rate = health.streak_rate if health.fail_streak else health.failure_rate
    if rate <= 0.0:
        return params.fall
    if rate >= 1.0:
        return params.max_fall
    needed = math.ceil(math.log(params.false_alarm) / math.log(rate))
    return min(max(needed, params.fall), params.max_fall)


def recheck_delay(health: LocatorHealth, params: HealthParams) -> float | None:
    """How soon to probe again: quickly while the latest probes disagree with the verdict.

    Args:
        health: the locator's health after its latest probe.
        params: the thresholds.

    Returns:
        ``params.recheck_interval`` while a streak that would change the verdict has not
        reached its threshold yet, else None (probe at the normal interval).
    """
    if health.verdict is Verdict.UP:
        unconfirmed = 0 < health.fail_streak < required_failures(health, params)
    elif health.verdict is Verdict.DOWN:
        # A held locator cannot come up however many successes it shows: no hurry.
        unconfirmed = 0 < health.ok_streak < params.rise and not health.held
    else:
        unconfirmed = 0 < health.ok_streak < params.rise or 0 < health.fail_streak < params.fall
    return params.recheck_interval if unconfirmed else None


def decayed_penalty(health: LocatorHealth, now: float, params: HealthParams) -> float:
    """The flap-damping penalty at ``now``: it halves every ``damping_half_life`` seconds.

    Args:
        health: the locator's health.
        now: the time to decay the penalty to.
        params: the thresholds.

    Returns:
        The decayed penalty; a clock that went backwards does not make it grow.
    """
    elapsed = max(0.0, now - health.penalty_at)
    return health.penalty * math.exp2(-elapsed / params.damping_half_life)


def _judge_failure(
    health: LocatorHealth, now: float, params: HealthParams, detail: str
) -> LocatorHealth:
    streak = _count(health.fail_streak, "consecutive failure", "consecutive failures")
    if health.verdict is Verdict.DOWN:
        return replace(health, reason=f"down: {streak}{_last(detail)}")
    needed = params.fall if health.verdict is Verdict.UNKNOWN else required_failures(health, params)
    if health.fail_streak < needed:
        so_far = _count(health.fail_streak, "failure", "failures")
        return replace(
            health,
            reason=f"{health.verdict.value}, {so_far} so far "
            f"({_required(needed, health.streak_rate, params)}){_colon(detail)}",
        )
    penalty, penalty_at = health.penalty, health.penalty_at
    if health.verdict is Verdict.UP and params.damping:
        penalty, penalty_at = decayed_penalty(health, now, params) + params.damping_penalty, now
    return replace(
        health,
        verdict=Verdict.DOWN,
        changed_at=now,
        # The streak was an outage, not chance: taking it back out of the rate keeps the
        # next failure over as fast as the first.
        failure_rate=health.streak_rate,
        penalty=penalty,
        penalty_at=penalty_at,
        reason=f"down: {streak} ({needed} required){_last(detail)}",
    )


def _judge_success(health: LocatorHealth, now: float, params: HealthParams) -> LocatorHealth:
    """The verdict after a success of a locator that is not up (see :func:`observe`)."""
    penalty = decayed_penalty(health, now, params)
    if health.ok_streak < params.rise:
        so_far = _count(health.ok_streak, "success", "successes")
        reason = (
            _held(penalty, params)
            if health.held
            else f"{health.verdict.value}, {so_far} so far ({params.rise} required)"
        )
        return replace(health, reason=reason)
    if health.verdict is Verdict.DOWN and params.damping:
        # Suppress and reuse form a hysteresis band: a locator is held once its penalty
        # reaches suppress, and released only once it has decayed below reuse.
        limit = params.damping_reuse if health.held else params.damping_suppress
        if penalty >= limit:
            return replace(health, held=True, reason=_held(penalty, params))
    released = ""
    if health.held:
        released = (
            f", flap damping released (penalty {penalty:.1f} < {params.damping_reuse:.1f})"
            if params.damping
            else ", flap damping released (damping off)"
        )
    return replace(
        health,
        verdict=Verdict.UP,
        held=False,
        changed_at=now,
        reason=f"up: {_successes(health.ok_streak)}{released}",
    )


def _held(penalty: float, params: HealthParams) -> str:
    above = f" >= {params.damping_suppress:.1f}" if penalty >= params.damping_suppress else ""
    return (
        f"held down by flap damping: penalty {penalty:.1f}{above}, "
        f"reuse below {params.damping_reuse:.1f}"
    )


def _required(needed: int, rate: float, params: HealthParams) -> str:
    if needed > params.fall:
        return f"{needed} required at a {rate:.2f} failure rate"
    return f"{needed} required"


def _successes(n: int) -> str:
    return _count(n, "consecutive success", "consecutive successes")


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _last(detail: str) -> str:
    return f", last: {detail}" if detail else ""


def _colon(detail: str) -> str:
    return f": {detail}" if detail else ""
