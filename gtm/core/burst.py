"""Decide when a service bursts into its next site, and when the overspill leaves again.

Cloud bursting runs a service on its active site and sends the excess to the next site in
preference order while the active site is overloaded. When to start and stop is a pure
function of the active site's load readings and ``now``, with hysteresis (a start level
above a stop level), a window the load must stay past each level, and a minimum time in
each state, so a load hovering at a level cannot make traffic flap; the policy then gives
the overspill site the share this module computes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from collections.abc import Mapping as Lookup
from dataclasses import dataclass, replace
from enum import StrEnum

from gtm.core.model import Mapping
from gtm.errors import ConfigError

_FOREVER_AGO = -math.inf
"""``since`` of a fresh state: no minimum time holds back the first burst."""


class Metric(StrEnum):
    """What a site's load is measured by."""

    LATENCY = "latency"
    """Seconds the health probe took."""
    LOAD = "load"
    """A figure the replica reports in its health answer (a header or a JSON field)."""
    SESSIONS = "sessions"
    """The load balancer's current sessions on each of the site's servers."""
    QUEUE = "queue"
    """The load balancer's requests queued for each of the site's servers."""


class Phase(StrEnum):
    """Where a service is in its bursting cycle."""

    STEADY = "steady"
    """The active site takes all traffic."""
    BURSTING = "bursting"
    """The overspill site takes a share that ramps up to the configured one."""
    LEAVING = "leaving"
    """The overspill site's share ramps down; at zero the service is steady again."""


class Change(StrEnum):
    """What a step did to the bursting cycle, for the journal."""

    BEGAN = "began"
    ENDED = "ended"
    LEFT = "left"
    """The overspill site's share reached zero: it no longer takes traffic."""


@dataclass(frozen=True, slots=True)
class BurstParams:
    """When a service bursts, and how fast the overspill ramps.

    Raises:
        ConfigError: when the levels or times cannot work together.
    """

    metric: Metric = Metric.LATENCY
    above: float = 0.25
    """A burst begins once the load has stayed above this for ``window`` seconds."""
    below: float = 0.2
    """It ends once the load has stayed below this for ``calm`` seconds; below ``above``."""
    window: float = 10.0
    calm: float = 30.0
    hold: float = 60.0
    """Minimum seconds in each state: between a start and an end, and an end and a start."""
    ramp: float = 20.0
    """Seconds the overspill share takes to climb to ``share`` (and to fall back to 0)."""
    share: int = 50
    """Percent of traffic the overspill site takes once ramped up."""
    steps: int = 4
    """The ramp climbs in this many equal steps, so a ramp is a few changes, not one a tick."""

    def __post_init__(self) -> None:
        checks = (
            (
                self.below < self.above,
                f"below ({self.below:g}) is not below above ({self.above:g})",
            ),
            (self.below >= 0, f"below ({self.below:g}) is negative"),
            (self.window >= 0, f"for ({self.window:g}s) is negative"),
            (self.calm >= 0, f"calm ({self.calm:g}s) is negative"),
            (self.hold >= 0, f"hold ({self.hold:g}s) is negative"),
            (self.ramp >= 0, f"ramp ({self.ramp:g}s) is negative"),
            (0 < self.share <= 100, f"share ({self.share}) is outside 1..100"),
            (self.steps >= 1, f"steps ({self.steps}) is below 1"),
        )
        problems = [message for ok, message in checks if not ok]
        if problems:
            raise ConfigError("burst: " + "; ".join(problems), problems)

    def show(self, value: float) -> str:
        """A load figure as people read it: milliseconds for latency, else the number."""
        return f"{value * 1000:.0f}ms" if self.metric is Metric.LATENCY else f"{value:g}"


@dataclass(frozen=True, slots=True)
class Reading:
    """The active site's load, and when the newest sample behind it was taken."""

    value: float
    at: float


@dataclass(frozen=True, slots=True)
class BurstState:
    """One service's bursting cycle: its phase, since when, and the load timers.

    It lives in memory; after a restart :func:`resume` rebuilds it from the published
    mapping, so an overspill in progress is kept rather than dropped or doubled.
    """

    active: str | None = None
    """The active site the load is read from; another one resets the cycle."""
    phase: Phase = Phase.STEADY
    since: float = _FOREVER_AGO
    """When the phase began."""
    start_share: int = 0
    """The overspill share when the phase began (a ramp goes from here)."""
    above_since: float | None = None
    """When the load went above ``above`` and has stayed there since, if it has."""
    below_since: float | None = None
    """When the load went below ``below`` and has stayed there since, if it has."""
    seen: float = _FOREVER_AGO
    """Time of the newest reading taken into account: an older one is not news."""
    last: float | None = None
    """The newest load figure, for reasons."""


@dataclass(frozen=True, slots=True)
class Step:
    """A state after a step, and what changed, if anything, with one sentence on why."""

    state: BurstState
    change: Change | None = None
    reason: str = ""


def step(
    state: BurstState, active: str, reading: Reading | None, now: float, params: BurstParams
) -> Step:
    """Take the active site's newest reading into account, then let time do its part.

    A reading is news only if taken after the last one seen; call this for every new
    sample, so no sample between two decisions is skipped, and at every decision. No
    reading (no locator of the site reported a figure) stops both timers: without
    evidence a burst neither begins nor ends.

    Args:
        state: The cycle so far.
        active: The service's active site now; when it is another one, the cycle starts
            again on it (an overspill in progress ends at once).
        reading: The active site's load, or None.
        now: The current time, on the same clock as the readings.
        params: The service's burst settings.

    Returns:
        The new state and, when a burst began, ended or its overspill left, why.
    """
    if state.active != active:
        fresh = BurstState(active=active)
        if state.phase is Phase.STEADY:
            return Step(fresh)
        moved = replace(fresh, since=now)
        return Step(moved, Change.ENDED, f"burst ended: active site moved from {state.active}")
    state = _sense(state, reading, params)
    return _advance(state, now, params)


def share(state: BurstState, now: float, params: BurstParams) -> int:
    """Percent of traffic the overspill site takes now (0 when steady)."""
    if state.phase is Phase.STEADY:
        return 0
    done = _progress(state, now, params)
    if state.phase is Phase.BURSTING:
        return state.start_share + round((params.share - state.start_share) * done)
    return round(state.start_share * (1 - done))


def due(state: BurstState, now: float, params: BurstParams) -> float | None:
    """The next time after ``now`` a step could change something with no new reading.

    The controller wakes the service then, so a burst begins the moment its window ends
    rather than at the next probe or tick.
    """
    moments: list[float] = []
    if state.phase is not Phase.BURSTING and state.above_since is not None:
        moments.append(max(state.above_since + params.window, state.since + params.hold))
    if state.phase is Phase.BURSTING and state.below_since is not None:
        moments.append(max(state.below_since + params.calm, state.since + params.hold))
    if state.phase is not Phase.STEADY and params.ramp > 0:
        stride = params.ramp / params.steps
        taken = math.floor((now - state.since) / stride) + 1
        if taken < params.steps:
            moments.append(state.since + stride * taken)
    later = [moment for moment in moments if moment > now]
    return min(later) if later else None


def combine(figures: Iterable[Reading]) -> Reading | None:
    """A site's reading from its locators': the mean figure, at the newest sample's time."""
    readings = list(figures)
    if not readings:
        return None
    mean = sum(r.value for r in readings) / len(readings)
    return Reading(mean, max(r.at for r in readings))


def resume(current: Mapping | None, weights: Lookup[str, int], now: float) -> BurstState:
    """The cycle a published mapping shows, for a controller that has just started.

    A mapping whose non-active sites have locators at priority 1 is overspilling: the
    state is ``bursting`` from ``now`` at the share those locators' weights show, so the
    minimum time in a state protects the overspill from ending at once, and the ramp
    carries on from where it was.

    Args:
        current: The service's published mapping, None before the first one.
        weights: Each locator's configured weight, by id.
        now: The current time.
    """
    if current is None or current.active_site is None:
        return BurstState()
    shares = [
        round(100 * loc.weight / weights[loc.id])
        for loc in current.locators
        if loc.site != current.active_site and loc.priority == 1 and weights.get(loc.id)
    ]
    if not shares:
        return BurstState(active=current.active_site)
    return BurstState(
        active=current.active_site, phase=Phase.BURSTING, since=now, start_share=max(shares)
    )


def _sense(state: BurstState, reading: Reading | None, params: BurstParams) -> BurstState:
    if reading is None:
        return replace(state, above_since=None, below_since=None, last=None)
    if reading.at <= state.seen:
        return state
    state = replace(state, seen=reading.at, last=reading.value)
    if reading.value > params.above:
        above = state.above_since if state.above_since is not None else reading.at
        return replace(state, above_since=above, below_since=None)
    if reading.value < params.below:
        below = state.below_since if state.below_since is not None else reading.at
        return replace(state, above_since=None, below_since=below)
    return replace(state, above_since=None, below_since=None)


def _advance(state: BurstState, now: float, params: BurstParams) -> Step:
    held = now >= state.since + params.hold
    load = params.show(state.last) if state.last is not None else "unknown"
    above, below = state.above_since, state.below_since
    starts = above is not None and now >= above + params.window
    if held and starts and above is not None and state.phase is not Phase.BURSTING:
        began = replace(
            state, phase=Phase.BURSTING, since=now, start_share=share(state, now, params)
        )
        return Step(
            began,
            Change.BEGAN,
            f"burst began: load of {state.active} {load} above {params.show(params.above)} "
            f"for {now - above:.1f}s (for {params.window:g}s)",
        )
    ends = below is not None and now >= below + params.calm
    if held and ends and below is not None and state.phase is Phase.BURSTING:
        ended = replace(
            state, phase=Phase.LEAVING, since=now, start_share=share(state, now, params)
        )
        return Step(
            ended,
            Change.ENDED,
            f"burst ended: load of {state.active} {load} below {params.show(params.below)} "
            f"for {now - below:.1f}s (calm {params.calm:g}s)",
        )
    if state.phase is Phase.LEAVING and share(state, now, params) == 0:
        left = replace(state, phase=Phase.STEADY, since=now, start_share=0)
        return Step(left, Change.LEFT, "overspill left: its share ramped down to 0")
    return Step(state)


def _progress(state: BurstState, now: float, params: BurstParams) -> float:
    """How far the ramp has gone, in whole steps, the first taken at once."""
    if params.ramp <= 0:
        return 1.0
    taken = math.floor(params.steps * (now - state.since) / params.ramp) + 1
    return min(params.steps, taken) / params.steps
