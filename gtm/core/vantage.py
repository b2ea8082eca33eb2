"""Is this vantage itself sick, and can a failed probe be believed? Only the world may be down.

A probe that failed while gtm was stalled (its event loop late, its probes started late),
out of descriptors or buffers, or waiting on a blocked store says nothing about the target:
it is *unknown*, never a failure toward ``down``. While any such symptom is recent the
vantage is *degraded* and makes no automatic move. Everything here is a pure function of
values and ``now`` (the controller's monotonic clock).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

from gtm.errors import ConfigError


class Symptom(StrEnum):
    """A way the vantage itself can be sick."""

    LOOP_LAG = "loop-lag"
    """The event loop woke a sleeper late: something blocked it."""
    PROBE_LATE = "probe-late"
    """The scheduler started a probe late."""
    RESOURCES = "resources"
    """A prober or the process ran out of descriptors, buffers or memory."""
    STORE_STALLED = "store-stalled"
    """The store did not answer in time (another process holds its lock, a slow disk)."""


class SymptomSink(Protocol):
    """Where the shell reports that gtm itself is sick (the controller is one).

    Implementations must be quick and must not block or raise: they are called from the
    event loop, from the store and from probe callbacks.
    """

    def report(self, symptom: Symptom, detail: str, *, ongoing: bool = False) -> None:
        """Note ``symptom`` now; ``ongoing`` ones last until :meth:`clear` is called.

        Args:
            symptom: What is wrong.
            detail: One sentence with the figures, e.g. ``"event loop 0.420s late"``.
            ongoing: The condition lasts (a stalled store) rather than happened once.
        """
        ...

    def clear(self, symptom: Symptom) -> None:
        """An ongoing ``symptom`` has ended; the vantage recovers after the hold time."""
        ...


@dataclass(frozen=True, slots=True)
class VantageParams:
    """Bounds past which gtm distrusts itself.

    Raises:
        ConfigError: when a value is out of range; the message lists every problem.
    """

    max_lag: float = 0.1
    """Seconds of event-loop lag past which the loop counts as stalled."""
    max_lateness: float = 0.25
    """Seconds a probe may start after its slot before the vantage counts as overloaded."""
    descriptor_share: float = 0.9
    """Share of the descriptor limit in use past which the vantage counts as short of them."""
    max_store_wait: float = 0.5
    """Seconds a store call may stay in flight before the store counts as stalled."""
    hold: float = 3.0
    """Seconds the vantage stays degraded after its last symptom."""

    def __post_init__(self) -> None:
        checks = (
            (self.max_lag > 0, f"max_lag must be positive, got {self.max_lag}"),
            (self.max_lateness > 0, f"max_lateness must be positive, got {self.max_lateness}"),
            (
                0 < self.descriptor_share <= 1,
                f"descriptor_share must be above 0 and at most 1, got {self.descriptor_share}",
            ),
            (self.hold >= 0, f"hold must not be negative, got {self.hold}"),
            (
                self.max_store_wait > 0,
                f"max_store_wait must be positive, got {self.max_store_wait}",
            ),
        )
        problems = [message for passed, message in checks if not passed]
        if problems:
            raise ConfigError("vantage: " + "; ".join(problems), problems)


@dataclass(frozen=True, slots=True)
class Sighting:
    """The latest occurrence of one symptom."""

    symptom: Symptom
    detail: str
    at: float
    """When it was last seen (for an ongoing one: when it began or was last reported)."""
    ongoing: bool = False
    """It lasts until cleared, whatever the hold time."""
    began: float | None = None
    """The earliest moment it can have touched a probe (a stall measured at its end began
    before); None: ``at``."""

    @property
    def onset(self) -> float:
        """When it began, or when it was seen if that is all that is known."""
        return self.at if self.began is None else self.began


@dataclass(frozen=True, slots=True)
class VantageHealth:
    """The symptoms seen so far, the latest of each kind; :func:`note` adds one."""

    sightings: tuple[Sighting, ...] = ()


@dataclass(frozen=True, slots=True)
class Assessment:
    """Whether the vantage is degraded now, and why."""

    degraded: bool
    reasons: tuple[str, ...] = ()
    """One sentence per current symptom, in the order of :class:`Symptom`."""
    since: float | None = None
    """While degraded: when the spell's earliest symptom began (see :func:`go_on`)."""


@dataclass(frozen=True, slots=True)
class ProbeContext:
    """What the shell knows about how one probe ran, besides what it found."""

    started_at: float
    """When the probe started, on the monotonic clock."""
    late: float = 0.0
    """Seconds the probe started after its slot."""
    fault: str = ""
    """Non-empty when the prober failed for want of a local resource (EMFILE, ENOBUFS…)."""


@dataclass(frozen=True, slots=True)
class Trust:
    """Whether one probe's result counts as evidence about its target."""

    trusted: bool
    why: str = ""
    """For an untrusted result: one sentence on what was wrong with this vantage."""


TRUSTED = Trust(True)
"""The answer for every success and every failure this vantage can vouch for."""


def note(
    health: VantageHealth,
    symptom: Symptom,
    detail: str,
    now: float,
    *,
    ongoing: bool = False,
    began: float | None = None,
) -> VantageHealth:
    """``health`` with ``symptom`` seen at ``now``, replacing the last sighting of its kind.

    An ongoing sighting stays ongoing (and keeps when it began) until :func:`clear`.

    Args:
        health: The vantage's health so far.
        symptom: What is wrong.
        detail: One sentence with the figures.
        now: When it was seen.
        ongoing: It lasts until cleared.
        began: When it began, if earlier than ``now`` (a stall is measured at its end).
    """
    previous = _sighting(health, symptom)
    if previous is not None and previous.ongoing:
        seen = replace(previous, detail=detail)
    else:
        seen = Sighting(symptom, detail, now, ongoing, began)
    others = tuple(s for s in health.sightings if s.symptom is not symptom)
    return VantageHealth((*others, seen))


def clear(health: VantageHealth, symptom: Symptom, now: float) -> VantageHealth:
    """``health`` with an ongoing ``symptom`` ended at ``now``; the hold time runs from now."""
    previous = _sighting(health, symptom)
    if previous is None or not previous.ongoing:
        return health
    others = tuple(s for s in health.sightings if s.symptom is not symptom)
    return VantageHealth((*others, replace(previous, at=now, ongoing=False)))


def observe_lag(
    health: VantageHealth, lag: float, now: float, params: VantageParams, *, period: float = 0.0
) -> VantageHealth:
    """``health`` after one measurement of event-loop lag: a symptom past ``max_lag``.

    Args:
        health: The vantage's health so far.
        lag: How late the loop woke a sleeper, measured at ``now``.
        now: When it was measured.
        params: The bounds.
        period: How long the sleeper slept: the stall may have begun that much before
            the sleep was due to end.
    """
    if lag <= params.max_lag:
        return health
    return note(
        health,
        Symptom.LOOP_LAG,
        f"event loop {lag:.3f}s late (bound {params.max_lag:.3f}s)",
        now,
        began=now - lag - period,
    )


def observe_store(
    health: VantageHealth, busy_for: float, now: float, params: VantageParams
) -> VantageHealth:
    """``health`` after asking how long the store's oldest call has been in flight.

    A call past ``max_store_wait`` (another process holds the store's lock, the disk
    stalls) is an ongoing symptom until the store answers again.
    """
    if busy_for <= params.max_store_wait:
        return clear(health, Symptom.STORE_STALLED, now)
    return note(
        health,
        Symptom.STORE_STALLED,
        f"a store call in flight for {busy_for:.3f}s (bound {params.max_store_wait:.3f}s)",
        now,
        ongoing=True,
        began=now - busy_for,
    )


def observe_descriptors(
    health: VantageHealth, in_use: int | None, limit: int, now: float, params: VantageParams
) -> VantageHealth:
    """``health`` after counting open descriptors; None: they could not even be counted.

    Args:
        health: The vantage's health so far.
        in_use: Descriptors open now, or None when counting them failed for want of one.
        limit: The soft ``RLIMIT_NOFILE``.
        now: The time of the count.
        params: The bounds.
    """
    if in_use is None:
        return note(health, Symptom.RESOURCES, "out of file descriptors", now)
    if in_use < limit * params.descriptor_share:
        return health
    return note(
        health,
        Symptom.RESOURCES,
        f"{in_use} of {limit} file descriptors in use "
        f"(bound {params.descriptor_share:.0%} of the limit)",
        now,
    )


def observe_probe(
    health: VantageHealth, context: ProbeContext, now: float, params: VantageParams
) -> VantageHealth:
    """``health`` after one probe: a late start or a local fault is a symptom."""
    if context.fault:
        health = note(
            health,
            Symptom.RESOURCES,
            f"a prober failed: {context.fault}",
            now,
            began=context.started_at,
        )
    if context.late > params.max_lateness:
        health = note(
            health,
            Symptom.PROBE_LATE,
            f"a probe started {context.late:.3f}s late (bound {params.max_lateness:.3f}s)",
            now,
            began=context.started_at - context.late,
        )
    return health


def assess(health: VantageHealth, now: float, params: VantageParams) -> Assessment:
    """Whether the vantage is degraded at ``now``: a symptom ongoing or seen within ``hold``."""
    current = [s for s in _ordered(health) if s.ongoing or now - s.at <= params.hold]
    if not current:
        return Assessment(False)
    return Assessment(True, tuple(s.detail for s in current), min(s.onset for s in current))


def go_on(before: Assessment, after: Assessment) -> Assessment:
    """``after``, its spell begun when ``before``'s did if the vantage stayed degraded.

    A spell can outlast the sightings that began it (a later one of the same kind
    replaces the earlier); it still began with them.
    """
    if not (before.degraded and after.degraded):
        return after
    if before.since is None or (after.since is not None and after.since <= before.since):
        return after
    return replace(after, since=before.since)


def trust(
    ok: bool,
    context: ProbeContext,
    health: VantageHealth,
    now: float,
    params: VantageParams,
) -> Trust:
    """Whether a probe's result is evidence about its target, or only about this vantage.

    A success always is: the target answered. A failure is not when the prober failed for
    want of a local resource, when the probe started late, or when any symptom was seen
    from the probe's start to now or the vantage is degraded now.

    Args:
        ok: Whether the probe passed.
        context: How the probe ran.
        health: The vantage's health, with this probe's own symptoms already noted.
        now: When the result arrived.
        params: The bounds.
    """
    if ok:
        return TRUSTED
    if context.fault:
        return Trust(False, f"this instance is short of resources: {context.fault}")
    if context.late > params.max_lateness:
        return Trust(False, f"the probe started {context.late:.3f}s late")
    since = min(context.started_at, now - params.hold)
    during = [s for s in _ordered(health) if s.ongoing or s.at >= since]
    if during:
        return Trust(False, "this instance is degraded: " + "; ".join(s.detail for s in during))
    return TRUSTED


def holds(
    assessment: Assessment,
    changed: bool,
    asked: bool,
    first_choice: bool = False,
    evidence_at: float | None = None,
) -> bool:
    """Whether a decision that would change a mapping must wait for the vantage to recover.

    While degraded, a change waits unless an operator asked for it during the spell (an
    intent made or withdrawn for the service, a planned run's step). Such a change rests
    on what the operator asked and on verdicts that hold no failure seen while degraded
    (each is unknown, see :func:`trust`); an automatic change waits.

    A change whose verdicts all changed before the spell began does not wait either: no
    symptom of this vantage can have shaped them, and holding it would keep traffic on a
    site already judged lost only because the work of moving away made gtm late. (A
    verdict changed after the spell began waits: the stall may be measured only once it
    is over, so a failure taken as evidence during it can be the stall's doing.)

    A service's first mapping onto its most preferred site does not wait either: it
    passes over no site, so no failure, believed or not, shaped it; it sends traffic
    where it would go with every site healthy, and a service without a mapping has no
    answer at all. (A first mapping onto another site waits: a failure of the first site
    seen while degraded may be what passed it over, and traffic does not move back by
    itself.)

    Args:
        assessment: The vantage's state now.
        changed: Whether the decision changes the mapping.
        asked: Whether the service's intents changed since the spell began.
        first_choice: Whether the decision is the service's first mapping and onto its
            most preferred site.
        evidence_at: When the last verdict change the decision answers was made; None
            when it answers none (a timer, a restart).
    """
    if not (changed and assessment.degraded) or asked or first_choice:
        return False
    settled = (
        evidence_at is not None and assessment.since is not None and evidence_at < assessment.since
    )
    return not settled


def first_choice(had_mapping: bool, proposed_site: str | None, preference: Sequence[str]) -> bool:
    """Whether a decision is a service's first mapping and onto its most preferred site
    (the ``first_choice`` of :func:`holds`).

    Args:
        had_mapping: Whether the service had a mapping before the decision.
        proposed_site: The active site of the mapping the decision proposes.
        preference: The service's sites in preference order.
    """
    return not had_mapping and bool(preference) and proposed_site == preference[0]


def _sighting(health: VantageHealth, symptom: Symptom) -> Sighting | None:
    return next((s for s in health.sightings if s.symptom is symptom), None)


_RANK = {symptom: rank for rank, symptom in enumerate(Symptom)}
"""Each symptom's place in the order of :class:`Symptom`, looked up for every probe."""


def _ordered(health: VantageHealth) -> list[Sighting]:
    return sorted(health.sightings, key=lambda s: _RANK[s.symptom])
