"""The controller: probe results in, verdicts through the pure core, mappings out.

It owns the only mutable health state (one :class:`LocatorHealth` per locator), asks the
pure policy what each service's mapping should be, writes it to the registry with
compare-and-set, and journals every move with its measured timeline. When another writer
stored the service's mapping first, the registry has read the winner back, and the
controller decides again on it: a lost race is logged, never silently dropped.

It also keeps this vantage's own health (:mod:`gtm.core.vantage`): loop lag, late probes,
resource shortages and store stalls reported to it. A failed probe it cannot trust is
recorded as unknown, and while the vantage is degraded no decision that changes a mapping
is published; both edges of a degraded spell are journaled, as is every change of a
locator's verdict (kind ``health``).

It keeps the last ``PROBES_KEPT`` probe results of every locator for the API's probe
detail, and records probes, verdicts and moves in :mod:`gtm.metrics` as it learns them.

For a service under ``policy: burst`` it keeps each locator's latest load figure (the
probe's latency, the replica's reported figure, or a load balancer's count) and steps
the service's burst cycle (:mod:`gtm.core.burst`) on every figure and every decision,
waking the service when a window ends; the share that results goes to ``decide``.

Every time it compares (verdicts, damping, dwell, the timeline) is the injected clock's
monotonic time; wall time appears only in what it writes for people: the mapping's
``updated_at`` (through ``decide``'s ``now``) and the journal, converted in one place.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from gtm.controller.bursting import Bursting, Tick
from gtm.controller.tasks import cancel_all
from gtm.controller.vantages import Vantages
from gtm.core.burst import BurstParams, BurstState
from gtm.core.due import is_due, next_due
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
from gtm.core.journal import EventKind
from gtm.core.model import Event, Intent, Mapping
from gtm.core.policy import Decision, ServicePolicy, decide
from gtm.core.quorum import Tally, VantageReport
from gtm.core.readiness import SeenRelease, ServiceReleases, service_releases, site_releases
from gtm.core.sites import SiteHealth, site_health
from gtm.core.sweep import sweeps
from gtm.core.vantage import (
    Assessment,
    ProbeContext,
    Symptom,
    Trust,
    VantageHealth,
    VantageParams,
    assess,
    clear,
    first_choice,
    go_on,
    holds,
    note,
    observe_descriptors,
    observe_lag,
    observe_probe,
    observe_store,
    trust,
)
from gtm.errors import ConflictError, GtmError
from gtm.metrics import AUTOMATIC, PLANNED, Metrics, ProbeLabels
from gtm.registry.registry import Registry
from healthchecks.clock import Clock, LoopClock, wall_time, wall_times

log = logging.getLogger(__name__)

DEGRADED = "degraded"
"""Journal kind of the event that opens a degraded spell of this vantage."""

RECOVERED = "recovered"
"""Journal kind of the event that closes it."""

JOURNAL_ATTEMPTS = 30
"""Tries at journaling the start or end of a degraded spell, ``JOURNAL_RETRY`` apart."""

JOURNAL_RETRY = 1.0

LATENESS_WINDOW = 10.0
"""Seconds of probes whose lateness ``/healthz`` summarises."""

LATENESS_SAMPLES = 20_000
"""Most probe start times kept for that summary."""

PROBES_KEPT = 20
"""Most recent probe results kept per locator for the API's probe detail."""

DECIDE_SLICE = 20
"""Most decision tasks the dispatcher starts in one turn of the event loop (a service woken
again while its task decides goes back in line). A whole site lost, or the periodic
refresh, wakes every service at once; deciding a thousand in one turn would hold the loop
(probes, DNS answers, the lag monitor) for the lot, and the lag would count this vantage
degraded. In slices, the loop turns between them and the writes of a slice still go to
the store together."""

DECIDE_ATTEMPTS = 3
"""Decisions on one wake-up before the controller leaves a service to the next tick: each
lost race to another writer costs one."""


@dataclass(frozen=True, slots=True)
class ServicePlan:
    """What the controller needs to know about one service besides its policy."""

    policy: ServicePolicy
    health: HealthParams
    min_healthy: int | float = 1
    burst: BurstParams | None = None
    """Under ``policy: burst``, when the service overspills."""


ProbeRecord = tuple[float, str, float | None, str]
"""One probe result as the probe detail shows it: the wall-clock time it started, its
result (``ok``, ``fail``, or ``unknown`` when this vantage could not trust it), the
seconds it took when the prober said, and the prober's one-sentence reason.

A plain tuple of plain values, which the garbage collector stops tracking after its
first young collection: thousands of checks keep twenty each, and as tracked objects
they were two thirds of what every full collection walks."""


class _SharedStep:
    """One probe result on its way to every locator a shared check judges.

    Locators judged by one check, with equal settings and the same health before it,
    reach the same health after it: the core computes it once per distinct pair, not
    once per locator (10,000 services behind one ingress share one computation).
    """

    __slots__ = (
        "at",
        "detail",
        "latency",
        "load",
        "memo",
        "now",
        "ok",
        "record",
        "release",
        "trusted",
    )

    def __init__(
        self,
        ok: bool,
        detail: str,
        at: float,
        now: float,
        trusted: Trust,
        result: str,
        wall: float,
        latency: float | None,
        release: str | None,
        load: float | None,
    ) -> None:
        self.ok = ok
        self.detail = detail
        self.at = at
        self.now = now
        self.trusted = trusted
        self.latency = latency
        self.release = release
        self.load = load
        self.record: ProbeRecord = (wall, result, latency, detail)
        # Keyed by identity; the value keeps ``before`` alive so its id is not reused.
        self.memo: dict[tuple[int, int], tuple[LocatorHealth, LocatorHealth, float | None]] = {}

    def advance(
        self, before: LocatorHealth, params: HealthParams
    ) -> tuple[LocatorHealth, float | None]:
        """The health after this probe of a locator whose health was ``before``, and the
        core's :func:`recheck_delay` for it (None for a result not trusted)."""
        found = self.memo.get((id(before), id(params)))
        if found is None:
            found = self.compute(before, params)
        return found[1], found[2]

    def compute(
        self, before: LocatorHealth, params: HealthParams
    ) -> tuple[LocatorHealth, LocatorHealth, float | None]:
        """Ask the core, and remember the answer for the next locator alike."""
        if self.trusted.trusted:
            after = observe(before, self.ok, self.at, params, self.detail)
            found = (before, after, recheck_delay(after, params))
        else:
            after = observe_unknown(before, f"{self.detail} ({self.trusted.why})")
            found = (before, after, None)
        self.memo[(id(before), id(params))] = found
        return found


class _CheckGroup:
    """The locators one check judges, and what they share: the probe history shown for
    each of them and the labels their results are counted under."""

    __slots__ = ("bursting", "history", "labels", "sites")

    def __init__(
        self,
        history: deque[ProbeRecord],
        labels: ProbeLabels,
        sites: frozenset[str],
        bursting: bool,
    ) -> None:
        self.history = history
        self.labels = labels
        self.sites = sites
        self.bursting = bursting
        """Whether a service of one of the locators bursts (its probes feed the cycle)."""


@dataclass(slots=True)
class _Pending:
    """Why a service needs a new decision: the verdict changes since the last one.

    Times are the clock's monotonic time.
    """

    first_failed_probe: float | None = None
    verdict: float | None = None
    last_verdict: float | None = None
    """The latest of the changes (``verdict`` is the earliest)."""
    locators: list[str] = field(default_factory=list)
    tallies: dict[str, Tally] = field(default_factory=dict)
    """With several vantages, the count that changed each locator's verdict."""


class Controller:
    """Turns probe results into published mappings, one service at a time.

    ``observe`` is called synchronously for every probe result (from the scheduler's
    callback); it updates the locator's health and, when a verdict changes, queues a new
    decision for the services that use the locator. Decisions run in one task per
    service, so a slow registry write for one service never delays another; the task
    runs on the next turn of the loop, so the decision follows the verdict at once.

    A decision that loses its compare-and-set to another writer is logged (service,
    the version it built on, the version found and who wrote it) and made again on the
    mapping the registry read back, up to ``DECIDE_ATTEMPTS`` times per wake-up.

    Args:
        plans: each service's policy and health thresholds.
        registry: where mappings are read and written and moves journaled.
        clock: the time; the event loop's unless a test gives another.
        writer: this instance's name, recorded on every mapping and move.
        vantage: the bounds past which this vantage distrusts itself.
        metrics: where probes, verdicts and moves are counted; a registry of its own
            unless given.
        acting_as: with several instances, who this instance writes as while it leads
            (its name and term), asked at every decision; None while it does not lead,
            and decisions wait until :meth:`refresh` after it leads again. Without it,
            this instance always decides, as ``writer``.
        vantages: with several instances, every vantage's verdicts: decisions then use
            the quorum's verdicts, and this vantage's own are published through it;
            None (one instance): this vantage's verdicts are the decisions' own.
        sweep: called with a site's name when the core's :func:`sweeps` rule says its
            checks should all be probed now (one of its locators just went down).
    """

    def __init__(
        self,
        plans: dict[str, ServicePlan],
        registry: Registry,
        *,
        clock: Clock | None = None,
        writer: str = "",
        vantage: VantageParams | None = None,
        metrics: Metrics | None = None,
        acting_as: Callable[[], str | None] | None = None,
        vantages: Vantages | None = None,
        sweep: Callable[[str], None] | None = None,
    ) -> None:
        self._plans = plans
        self._sweep = sweep
        self._swept: dict[str, float] = {}
        self._acting_as = acting_as
        self._vantages = vantages
        self._registry = registry
        self._clock: Clock = clock if clock is not None else LoopClock()
        self._writer = writer
        self._health: dict[str, LocatorHealth] = {}
        self._params: dict[str, HealthParams] = {}
        self._service_of: dict[str, str] = {}
        self._sites: dict[tuple[str, str], SiteHealth] = {}
        self._pending: dict[str, _Pending] = {}
        self._running = False
        # A decision task per service being decided, ended when nothing more is asked of
        # it: 10,000 idle tasks would be 10,000 more objects for every full collection.
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # Services woken while their task decides: it decides once more.
        self._again: set[str] = set()
        # Services woken and not yet handed to a decision task, oldest first; a
        # dispatcher hands DECIDE_SLICE of them on per turn of the loop.
        self._ready: dict[str, None] = {}
        self._dispatching = False
        self._unsubscribe: Callable[[], None] | None = None
        self._vantage_params = vantage if vantage is not None else VantageParams()
        self._vantage = VantageHealth()
        self._assessment = Assessment(False)
        self._degraded_since: float | None = None
        self._held: set[str] = set()
        # The intents in force when the degraded spell began (None outside one): a change to
        # those of a service is an operator asking, which a degraded vantage carries out.
        self._spell_intents: tuple[Intent, ...] | None = None
        self._journaling: set[asyncio.Task[None]] = set()
        self._lateness: deque[tuple[float, float]] = deque(maxlen=LATENESS_SAMPLES)
        self._downs = 0
        self._metrics = metrics if metrics is not None else Metrics()
        self._metrics.watch_verdicts(self._verdict_counts)
        self._site_of: dict[str, str] = {}
        self._probes: dict[str, deque[ProbeRecord]] = {}
        self._groups: dict[tuple[str, ...], _CheckGroup] = {}
        # Beside each locator's health: the release its probes last read, and when.
        self._releases: dict[str, SeenRelease] = {}
        self._bursting = Bursting(
            {name: plan.burst for name, plan in plans.items() if plan.burst is not None},
            {name: plan.policy for name, plan in plans.items()},
        )
        self._burst_wakeups: dict[str, asyncio.TimerHandle] = {}
        # Per service, the wall time its decision is next due with nothing new observed
        # (an intent expiring, a fail-back dwell ending), and the same as a heap, so a
        # tick wakes the services that are due without visiting the others.
        self._due: dict[str, float] = {}
        self._due_order: list[tuple[float, str]] = []
        # Locators start with one shared health and equal settings as one object, so
        # those a shared check judges alike stay one value (see observe_shared).
        unknown = LocatorHealth()
        settings: dict[HealthParams, HealthParams] = {}
        for name, plan in plans.items():
            for spec in plan.policy.locators:
                self._health[spec.id] = unknown
                self._params[spec.id] = settings.setdefault(plan.health, plan.health)
                self._service_of[spec.id] = name
                self._site_of[spec.id] = spec.site
                self._probes[spec.id] = deque(maxlen=PROBES_KEPT)

    # -- inputs -------------------------------------------------------------------

    def observe(
        self,
        locator_id: str,
        ok: bool,
        detail: str,
        at: float,
        *,
        late: float = 0.0,
        fault: str = "",
        latency: float | None = None,
        release: str | None = None,
        load: float | None = None,
    ) -> float | None:
        """Feed one probe result; returns the delay to the next probe when a recheck is due.

        A failure the core does not trust (:func:`gtm.core.vantage.trust`: this vantage
        was stalled, late or short of resources) is recorded as unknown.

        Args:
            locator_id: the probed locator.
            ok: whether the probe passed.
            detail: the prober's one-sentence reason.
            at: when the probe started, on the clock's monotonic time.
            late: seconds the probe started after its slot.
            fault: non-empty when the prober failed for want of a local resource.
            latency: seconds the probe took, when the prober says.
            release: the release the replica said it runs, when the probe reads one.
            load: the load figure the replica reported, when the probe reads one.

        Returns:
            The core's :func:`recheck_delay`: seconds to a quick re-probe while a change
            of verdict is unconfirmed, else None (the check's interval applies; an
            unknown result is no evidence and asks for no quick re-probe).
        """
        delays = self.observe_shared(
            (locator_id,),
            ok,
            detail,
            at,
            late=late,
            fault=fault,
            latency=latency,
            release=release,
            load=load,
        )
        return delays[0]

    def observe_shared(
        self,
        locator_ids: Sequence[str],
        ok: bool,
        detail: str,
        at: float,
        *,
        late: float = 0.0,
        fault: str = "",
        latency: float | None = None,
        release: str | None = None,
        load: float | None = None,
    ) -> list[float | None]:
        """Feed one probe result that judges every locator in ``locator_ids``.

        Locators probed identically share one check (services behind one ingress); its
        result is one probe, so this vantage's own health (lateness, faults, trust) is
        noted once, and then each locator's health (release, bursting, votes) as
        :meth:`observe` does.

        Returns:
            Each locator's :func:`recheck_delay`, in the order given.
        """
        now = self._clock.monotonic()
        context = ProbeContext(started_at=at, late=late, fault=fault)
        self._lateness.append((now, late))
        self._vantage = observe_probe(self._vantage, context, now, self._vantage_params)
        self._reassess(now)
        trusted = trust(ok, context, self._vantage, now, self._vantage_params)
        result = "unknown" if not trusted.trusted else "ok" if ok else "fail"
        step = _SharedStep(
            ok, detail, at, now, trusted, result, wall_time(self._clock, at), latency, release, load
        )
        group = self._group(tuple(locator_ids))
        group.history.append(step.record)
        self._metrics.record_probes(group.labels, result)
        if latency is not None:
            for site in group.sites:
                self._metrics.time_probe(site, latency)
        if release is not None or group.bursting:
            return [self._observe_locator(locator_id, step) for locator_id in locator_ids]
        if not trusted.trusted:
            log.debug(
                "probe unknown for %d locator(s) from %s: %s (%s)",
                len(locator_ids),
                locator_ids[0],
                detail,
                trusted.why,
            )
        # The common case, kept lean: 10,000 services behind one ingress share this loop.
        # An untrusted result changes no verdict (the core's observe_unknown).
        health, params, memo = self._health, self._params, step.memo
        delays: list[float | None] = []
        for locator_id in locator_ids:
            before = health[locator_id]
            settings = params[locator_id]
            found = memo.get((id(before), id(settings)))
            if found is None:
                found = step.compute(before, settings)
            after = found[1]
            health[locator_id] = after
            if after.verdict is not before.verdict:
                self._verdict_moved(locator_id, before, after, now)
            delays.append(found[2])
        return delays

    def _group(self, locator_ids: tuple[str, ...]) -> _CheckGroup:
        """The group of ``locator_ids``, made the first time they are judged together."""
        group = self._groups.get(locator_ids)
        if group is None:
            history: deque[ProbeRecord] = deque(maxlen=PROBES_KEPT)
            pairs = tuple((self._service_of[i], self._site_of[i]) for i in locator_ids)
            group = _CheckGroup(
                history,
                ProbeLabels(pairs),
                frozenset(site for _, site in pairs),
                any(self._bursting.applies(service) for service, _ in pairs),
            )
            for locator_id in locator_ids:
                self._probes[locator_id] = history
            self._groups[locator_ids] = group
        return group

    def _observe_locator(self, locator_id: str, step: _SharedStep) -> float | None:
        params = self._params[locator_id]
        before = self._health[locator_id]
        if step.release is not None:
            seen = self._releases.get(locator_id)
            self._releases[locator_id] = SeenRelease(step.release, step.at)
            if seen is None or seen.release != step.release:
                # A strict service ranks its standby sites by release: decide again.
                self._wake(self._service_of[locator_id])
        after, delay = step.advance(before, params)
        self._health[locator_id] = after
        if not step.trusted.trusted:
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "locator %s: probe unknown: %s (%s)",
                    locator_id,
                    step.detail,
                    step.trusted.why,
                    extra={
                        "service": self._service_of[locator_id],
                        "site": self._site_of[locator_id],
                        "locator": locator_id,
                    },
                )
            return None
        service = self._service_of[locator_id]
        if self._bursting.applies(service):
            self._bursting.observe(locator_id, service, step.ok, step.latency, step.load, step.at)
            self._step_burst(service, step.now)
        if after.verdict is not before.verdict:
            self._verdict_moved(locator_id, before, after, step.now)
        return delay

    def _verdict_moved(
        self, locator_id: str, before: LocatorHealth, after: LocatorHealth, now: float
    ) -> None:
        if after.verdict is Verdict.DOWN:
            self._downs += 1
        site = self._site_of[locator_id]
        if self._sweep is not None and sweeps(
            before.verdict, after.verdict, self._swept.get(site), now
        ):
            self._swept[site] = now
            self._sweep(site)
        log.info(
            "locator %s %s: %s",
            locator_id,
            after.verdict.value,
            after.reason,
            extra={
                "service": self._service_of[locator_id],
                "site": site,
                "locator": locator_id,
            },
        )
        self._journal_health(locator_id, before, after, now)
        if self._vantages is None:
            self._verdict_changed(locator_id, after.verdict, after.streak_started_at)
        else:
            self._vantages.set_own(locator_id, after.verdict)
            self._recount([locator_id])

    def observe_load(self, locator_id: str, figure: float | None, at: float) -> None:
        """Feed a load balancer's figure for one locator (sessions, queue), read at ``at``.

        Args:
            locator_id: The locator whose server the figure is of.
            figure: The figure, or None when the load balancer had none for it.
            at: When it was read, on the clock's monotonic time.
        """
        service = self._service_of[locator_id]
        if self._bursting.applies(service):
            self._bursting.observe_figure(locator_id, figure, at)
            self._step_burst(service, self._clock.monotonic())

    def peers(self, reports: dict[str, VantageReport]) -> None:
        """The other live vantages' reports changed: count the votes again.

        Args:
            reports: Every live vantage's report, by name, as last read from the cluster.
        """
        if self._vantages is None:
            return
        self._vantages.set_others(reports)
        self._recount(self._vantages.locators)

    def vantages_status(self) -> dict[str, object]:
        """Every live vantage, the quorum and lasting disagreements; empty with one instance."""
        if self._vantages is None:
            return {}
        now = self._clock.monotonic()
        return self._vantages.status(now, wall_time(self._clock, now))

    def _recount(self, locators: Iterable[str]) -> None:
        """Count the votes on ``locators`` again and act on each combined verdict that changed.

        A move's timeline starts at this vantage's first failed probe when it, too, says down.
        """
        assert self._vantages is not None
        for changed in self._vantages.recount(locators, self._clock.monotonic()):
            log.info("locator %s %s", changed.locator, changed.describe())
            own = self._health[changed.locator]
            failed = own.streak_started_at if own.verdict is changed.verdict else None
            self._verdict_changed(changed.locator, changed.verdict, failed, changed)

    def _verdict_changed(
        self,
        locator_id: str,
        verdict: Verdict,
        first_failed_probe: float | None,
        counted: Tally | None = None,
    ) -> None:
        """The verdict decisions use for ``locator_id`` changed: its service decides again."""
        pending = self._pending.setdefault(self._service_of[locator_id], _Pending())
        if verdict is Verdict.DOWN and pending.first_failed_probe is None:
            pending.first_failed_probe = first_failed_probe
        changed = self._clock.monotonic()
        if pending.verdict is None:
            pending.verdict = changed
        pending.last_verdict = changed
        pending.locators.append(locator_id)
        if counted is not None:
            pending.tallies[locator_id] = counted
        self._wake(self._service_of[locator_id])

    def refresh(self) -> None:
        """Ask for a new decision on every service (intents changed, leadership taken)."""
        self._reassess(self._clock.monotonic())
        self._wake_all()

    def tick(self) -> None:
        """Time passed: reassess the vantage and ask for a decision on the services that
        have one due (:func:`~gtm.core.due.next_due`), in time proportional to them."""
        mono = self._clock.monotonic()
        self._reassess(mono)
        now = wall_time(self._clock, mono)
        while self._due_order and is_due(self._due_order[0][0], now):
            due, service = heapq.heappop(self._due_order)
            if self._due.get(service) == due:  # not superseded by a later decision
                del self._due[service]
                self._wake(service)

    def _schedule(self, service: str, due: float | None) -> None:
        """Note when ``service``'s decision is next due (None: only on a change)."""
        if due is None:
            self._due.pop(service, None)
        elif self._due.get(service) != due:
            self._due[service] = due
            heapq.heappush(self._due_order, (due, service))

    def report(self, symptom: Symptom, detail: str, *, ongoing: bool = False) -> None:
        """Note that this vantage is sick (a :class:`~gtm.core.vantage.SymptomSink`).

        Args:
            symptom: What is wrong.
            detail: One sentence with the figures.
            ongoing: The condition lasts until :meth:`clear` (a stalled store).
        """
        now = self._clock.monotonic()
        self._vantage = note(self._vantage, symptom, detail, now, ongoing=ongoing)
        self._reassess(now)

    def clear(self, symptom: Symptom) -> None:
        """An ongoing ``symptom`` has ended; the vantage recovers after the hold time."""
        now = self._clock.monotonic()
        self._vantage = clear(self._vantage, symptom, now)
        self._reassess(now)

    def observe_lag(self, lag: float, period: float = 0.0) -> None:
        """Feed one measurement of event-loop lag, in seconds.

        Args:
            lag: How late the loop woke a sleeper.
            period: How long that sleeper slept (a stall may have begun before it was due).
        """
        now = self._clock.monotonic()
        self._vantage = observe_lag(self._vantage, lag, now, self._vantage_params, period=period)
        self._reassess(now)

    def observe_descriptors(self, in_use: int | None, limit: int) -> None:
        """Feed a count of open descriptors (None: counting them failed for want of one)."""
        now = self._clock.monotonic()
        self._vantage = observe_descriptors(self._vantage, in_use, limit, now, self._vantage_params)
        self._reassess(now)

    def observe_store(self, busy_for: float) -> None:
        """Feed how long the store's oldest call has been in flight, in seconds."""
        now = self._clock.monotonic()
        self._vantage = observe_store(self._vantage, busy_for, now, self._vantage_params)
        self._reassess(now)

    # -- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        """Be ready to decide every service and follow intent changes.

        A service's decision task starts when it is woken: 10,000 tasks started at once
        would hold the loop for one long turn.
        """
        self._running = True
        self._unsubscribe = self._registry.on_intents(lambda _intents: self.refresh())

    async def stop(self) -> None:
        """Stop the decision tasks; safe to call twice."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._running = False  # a wake-up from now on starts nothing
        self._ready.clear()
        await cancel_all(list(self._tasks.values()), "controller")
        self._tasks.clear()
        for handle in self._burst_wakeups.values():
            handle.cancel()
        self._burst_wakeups.clear()
        await cancel_all(list(self._journaling), "controller journal")
        self._journaling.clear()

    # -- views --------------------------------------------------------------------

    def vantage(self) -> Assessment:
        """Whether this vantage is degraded now, and why."""
        return self._assessment

    def vantage_status(self) -> dict[str, object]:
        """This vantage's health for ``/healthz``.

        Whether it is degraded, the reasons, since when (wall time), the services whose
        change is held, how late probes started over the last ``LATENESS_WINDOW``
        seconds, and how many times a locator has been judged down since start.
        """
        since = self._degraded_since
        now = self._clock.monotonic()
        late = sorted(value for at, value in self._lateness if at >= now - LATENESS_WINDOW)
        return {
            "degraded": self._assessment.degraded,
            "reasons": list(self._assessment.reasons),
            "since": None if since is None else round(wall_time(self._clock, since), 3),
            "held": sorted(self._held),
            "probe_lateness": {
                "window_s": LATENESS_WINDOW,
                "probes": len(late),
                "p99_s": round(_nearest_rank(late, 0.99), 6),
                "max_s": round(late[-1], 6) if late else 0.0,
            },
            "verdicts_down": self._downs,
        }

    def damping(self) -> dict[str, dict[str, float | bool]]:
        """Flap damping for ``/healthz``: each locator with a penalty, by locator id.

        Its penalty now (decayed, to two decimals) and whether damping holds it down;
        locators whose penalty has decayed to nothing are left out.
        """
        now = self._clock.monotonic()
        shown: dict[str, dict[str, float | bool]] = {}
        for locator_id, health in self._health.items():
            penalty = round(decayed_penalty(health, now, self._params[locator_id]), 2)
            if penalty or health.held:
                shown[locator_id] = {"penalty": penalty, "suppressed": health.held}
        return shown

    def locators(self, service: str | None = None) -> list[dict[str, object]]:
        """Every locator's probe detail, of ``service`` only when given, for ``/v1/locators``.

        Each has its service, site, verdict and why, when the verdict last changed (wall
        time), the recent failure rate, the consecutive failures that would bring it down
        now, the current streaks, the flap-damping penalty and whether it holds the
        locator down, and the last ``PROBES_KEPT`` probes, oldest first.

        Raises:
            KeyError: ``service`` is not configured.
        """
        if service is not None and service not in self._plans:
            raise KeyError(service)
        names = list(self._plans) if service is None else [service]
        now = self._clock.monotonic()
        docs: list[dict[str, object]] = []
        for name in names:
            for spec in self._plans[name].policy.locators:
                health = self._health[spec.id]
                params = self._params[spec.id]
                changed = health.changed_at
                docs.append(
                    {
                        "id": spec.id,
                        "service": name,
                        "site": spec.site,
                        "verdict": health.verdict.value,
                        "reason": health.reason,
                        "since": None
                        if changed is None
                        else round(wall_time(self._clock, changed), 3),
                        "failure_rate": round(health.failure_rate, 4),
                        "required_failures": required_failures(health, params),
                        "fail_streak": health.fail_streak,
                        "ok_streak": health.ok_streak,
                        "penalty": round(decayed_penalty(health, now, params), 4),
                        "held": health.held,
                        **self._release_doc(spec.id),
                        "probes": [
                            {
                                "time": round(started, 3),
                                "result": result,
                                "latency_s": None if latency is None else round(latency, 6),
                                "detail": detail,
                            }
                            for started, result, latency, detail in self._probes[spec.id]
                        ],
                    }
                )
        return docs

    def _release_doc(self, locator_id: str) -> dict[str, object]:
        seen = self._releases.get(locator_id)
        if seen is None:
            return {"release": None, "release_seen": None}
        return {
            "release": seen.release,
            "release_seen": round(wall_time(self._clock, seen.at), 3),
        }

    def releases(self, service: str | None = None) -> list[ServiceReleases]:
        """Each service's release by site (of ``service`` only when given) and its drift.

        A site's release is the latest one its locators' probes read.

        Raises:
            KeyError: ``service`` is not configured.
        """
        if service is not None and service not in self._plans:
            raise KeyError(service)
        names = list(self._plans) if service is None else [service]
        found: list[ServiceReleases] = []
        for name in names:
            policy = self._plans[name].policy
            mapping = self._registry.get(name)
            found.append(
                service_releases(
                    name,
                    policy.readiness,
                    mapping.active_site if mapping is not None else None,
                    policy.sites,
                    self._site_releases(policy),
                )
            )
        return found

    def _site_releases(self, policy: ServicePolicy) -> dict[str, str]:
        return site_releases((spec.site, self._releases.get(spec.id)) for spec in policy.locators)

    def bursts(self) -> dict[str, dict[str, object]]:
        """Each bursting service's cycle for ``/healthz``: phase, since when (wall time),
        the overspill's share in percent and the last load figure."""
        now = self._clock.monotonic()
        return {
            name: {
                "phase": state.phase.value,
                "since": None
                if math.isinf(state.since)
                else round(wall_time(self._clock, state.since), 3),
                "share": share,
                "load": state.last,
            }
            for name, (state, share) in self._bursting.shares(now).items()
        }

    def burst(self, service: str) -> BurstState | None:
        """The burst cycle of ``service`` (phase, since, load timers); None when it does not
        burst or has not been stepped yet."""
        return self._bursting.status(service)

    def health(self, locator_id: str) -> LocatorHealth:
        """The current health of one locator."""
        return self._health[locator_id]

    def plan(self, service: str) -> ServicePlan:
        """The plan of ``service``; raises KeyError for an unknown one."""
        return self._plans[service]

    @property
    def services(self) -> tuple[str, ...]:
        """The configured services."""
        return tuple(self._plans)

    def site_locators(self, service: str, site: str) -> list[str]:
        """Ids of the locators of ``service`` in ``site``."""
        return [spec.id for spec in self._plans[service].policy.locators if spec.site == site]

    def verdicts(self, service: str) -> dict[str, Verdict]:
        """The verdict decisions use of every locator of ``service``, by locator id: this
        vantage's, or with several instances the quorum's."""
        return {spec.id: self._verdict(spec.id) for spec in self._plans[service].policy.locators}

    def _verdict(self, locator_id: str) -> Verdict:
        if self._vantages is None:
            return self._health[locator_id].verdict
        return self._vantages.verdict(locator_id)

    def site_health(self, service: str) -> dict[str, SiteHealth]:
        """The health of every site of ``service`` now, as decisions see it.

        ``since`` is wall-clock time, as :func:`decide` and people expect it.
        """
        _now, sites = self._site_healths(service, self._plans[service])
        return sites

    def known(self, service: str) -> bool:
        """Whether every locator of ``service`` has a verdict (none still unknown)."""
        return all(
            self._verdict(spec.id) is not Verdict.UNKNOWN
            for spec in self._plans[service].policy.locators
        )

    # -- decisions ----------------------------------------------------------------

    def _wake_all(self) -> None:
        for name in self._plans:
            self._wake(name)

    def _verdict_counts(self) -> list[tuple[str, str, str, int]]:
        counts: dict[tuple[str, str, str], int] = {}
        for locator_id, health in self._health.items():
            key = (self._service_of[locator_id], self._site_of[locator_id], health.verdict.value)
            counts[key] = counts.get(key, 0) + 1
        return [(*key, count) for key, count in sorted(counts.items())]

    def _journal_health(
        self, locator_id: str, before: LocatorHealth, after: LocatorHealth, now: float
    ) -> None:
        # A locator's first verdict after start is news only when it is down.
        if before.verdict is Verdict.UNKNOWN and after.verdict is not Verdict.DOWN:
            return
        self._spawn_record(
            Event(
                kind=EventKind.HEALTH.value,
                service=self._service_of[locator_id],
                time=wall_time(self._clock, now),
                reason=(
                    f"{locator_id} {before.verdict.value} -> {after.verdict.value}: {after.reason}"
                ),
                actor=self._writer or "controller",
            )
        )

    def _reassess(self, now: float) -> None:
        before = self._assessment
        after = go_on(before, assess(self._vantage, now, self._vantage_params))
        self._assessment = after
        if after.degraded is before.degraded:
            return
        self._metrics.record_degraded(after.degraded)
        if self._vantages is not None:
            # A degraded vantage abstains; the votes are counted again without it (or with).
            self._vantages.set_own_vantage(after.degraded, after.reasons)
            self._recount(self._vantages.locators)
        reason = "; ".join(after.reasons if after.degraded else before.reasons)
        if after.degraded:
            self._degraded_since = now
            self._spell_intents = tuple(self._registry.intents())
            log.warning("vantage degraded, no automatic move until it recovers: %s", reason)
            self._journal_vantage(DEGRADED, f"degraded: {reason}", now)
            return
        began = self._degraded_since if self._degraded_since is not None else now
        self._degraded_since = None
        log.warning(
            "vantage recovered after %.3fs (was: %s); %d held change(s) decided again",
            now - began,
            reason,
            len(self._held),
        )
        self._journal_vantage(
            RECOVERED, f"recovered after {now - began:.3f}s degraded (was: {reason})", now
        )
        held, self._held = self._held, set()
        self._spell_intents = None
        # Decisions held while degraded are made now, on trusted verdicts only. Only those:
        # every other service was decided during the spell without a change to hold, and
        # deciding a thousand again at each recovery is a burst that can bring the lag back.
        for service in sorted(held):
            self._wake(service)

    def _journal_vantage(self, kind: str, reason: str, now: float) -> None:
        self._spawn_record(
            Event(
                kind=kind,
                service=None,
                time=wall_time(self._clock, now),
                reason=reason,
                actor=self._writer or "controller",
            )
        )

    def _spawn_record(self, event: Event) -> None:
        try:
            task = asyncio.get_running_loop().create_task(self._record(event))
        except RuntimeError:
            return  # no loop (a synchronous caller): the log line stands alone
        self._journaling.add(task)
        task.add_done_callback(self._journaling.discard)

    async def _record(self, event: Event) -> None:
        # A spell often begins when the store or the descriptors are what is short, so
        # the event is retried until it is written (or the controller stops).
        for attempt in range(1, JOURNAL_ATTEMPTS + 1):
            try:
                await self._registry.record(event)
                return
            except GtmError as exc:
                log.warning(
                    "%s event not journaled (attempt %d of %d): %s",
                    event.kind,
                    attempt,
                    JOURNAL_ATTEMPTS,
                    exc,
                    extra={"service": event.service, "epoch": event.epoch},
                )
            await asyncio.sleep(JOURNAL_RETRY)

    def _wake(self, service: str) -> None:
        """Ask for a decision on ``service``: handed to its task on a later turn."""
        if not self._running or service not in self._plans:
            return
        self._ready[service] = None
        if not self._dispatching:
            self._dispatching = True
            asyncio.get_running_loop().call_soon(self._dispatch)

    def _dispatch(self) -> None:
        """Wake the decision tasks of up to ``DECIDE_SLICE`` ready services, oldest first.

        Thousands of services woken at once (every verdict of a site, a recovered
        vantage) are handed on a slice per turn, so no turn of the loop resumes them all.
        """
        for _ in range(min(DECIDE_SLICE, len(self._ready))):
            service = next(iter(self._ready))
            del self._ready[service]
            if service in self._tasks:
                self._again.add(service)
            else:
                self._tasks[service] = asyncio.create_task(
                    self._run(service), name=f"decide-{service}"
                )
        if self._ready:
            asyncio.get_running_loop().call_soon(self._dispatch)
        else:
            self._dispatching = False

    async def _run(self, service: str) -> None:
        """Decide ``service`` once, then end; woken meanwhile, it is handed on again."""
        try:
            try:
                await self._decide(service)
            except GtmError as exc:
                # The registry may be briefly unavailable; try again shortly.
                log.warning(
                    "decision for %s not published: %s",
                    service,
                    exc,
                    extra={"service": service},
                )
                await asyncio.sleep(0.2)
                self._again.add(service)
        finally:
            self._tasks.pop(service, None)
            again = service in self._again
            self._again.discard(service)
        if again:
            # Back in line behind the services woken since, through the dispatcher.
            self._wake(service)

    async def _decide(self, service: str) -> None:
        if not self.known(service):
            return
        plan = self._plans[service]
        pending = self._pending.pop(service, _Pending())
        try:
            for attempt in range(1, DECIDE_ATTEMPTS + 1):
                writer = self._writer if self._acting_as is None else self._acting_as()
                if writer is None:
                    # Another instance leads: this one keeps its verdicts for when it does.
                    self._requeue(service, pending)
                    return
                now, sites = self._site_healths(service, plan)
                current = self._registry.get(service)
                tick = self._step_burst(service, self._clock.monotonic())
                intents = self._registry.intents()
                decision = decide(
                    plan.policy,
                    current,
                    self.verdicts(service),
                    sites,
                    intents,
                    now,
                    writer,
                    overspill=0 if tick is None else tick.share,
                )
                self._schedule(service, next_due(plan.policy, sites, intents, now))
                if not decision.changed:
                    return
                asked = self._asked_since_spell(service)
                first = first_choice(
                    current is not None, decision.mapping.active_site, plan.policy.sites
                )
                if holds(self._assessment, decision.changed, asked, first, pending.last_verdict):
                    self._hold(service, decision)
                    self._requeue(service, pending)
                    return
                decided = self._clock.monotonic()
                move = self._move_event(current, decision, pending, decided)
                try:
                    published = await self._registry.put(decision.mapping, move)
                except ConflictError as exc:
                    # The registry has read the winner back: decide again on its mapping.
                    self._lost_race(service, current, attempt, exc)
                    continue
                self._published(current, published, decision, pending, move)
                return
            # Every attempt lost a race: decide again at the next tick rather than wait for
            # a change that may never come (traffic on a dead site must still leave it).
            self._requeue(service, pending)
            self._schedule(service, now)
        except BaseException:
            # Not published: the retry's move journals the verdicts that asked for it.
            self._requeue(service, pending)
            raise

    def _step_burst(self, service: str, now: float) -> Tick | None:
        """Step a bursting service's cycle; journal what changed, wake it when due."""
        if not self._bursting.applies(service):
            return None
        current = self._registry.get(service)
        tick = self._bursting.tick(service, current, self.verdicts(service), now)
        if tick is None:
            return None
        if tick.step.change is not None:
            log.warning("%s: %s", service, tick.step.reason)
            self._spawn_record(
                Event(
                    kind=EventKind.BURST.value,
                    service=service,
                    time=wall_time(self._clock, now),
                    reason=tick.step.reason,
                    from_site=current.active_site if current is not None else None,
                    actor=self._writer or "controller",
                )
            )
            self._wake(service)
        previous = self._burst_wakeups.pop(service, None)
        if previous is not None:
            previous.cancel()
        if tick.due is not None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return tick  # no loop (a synchronous caller): the next decision steps it
            delay = max(0.0, tick.due - now)
            self._burst_wakeups[service] = loop.call_later(delay, self._wake, service)
        return tick

    def _intent_ids(self, service: str, intents: Iterable[Intent] | None = None) -> frozenset[str]:
        """The ids of the intents (default: those in force) that concern ``service``: its
        own, and global ones."""
        return frozenset(
            intent.id
            for intent in (self._registry.intents() if intents is None else intents)
            if intent.service is None or intent.service == service
        )

    def _asked_since_spell(self, service: str) -> bool:
        """Whether an operator made or withdrew an intent for ``service`` while degraded."""
        if self._spell_intents is None:
            return False
        return self._intent_ids(service, self._spell_intents) != self._intent_ids(service)

    def _hold(self, service: str, decision: Decision) -> None:
        # One line per spell, not per service: a site lost while degraded holds a thousand
        # changes, and a line each would cost the loop more than the decisions did. Which
        # services wait is in the vantage status (``held``); recovery logs their count.
        if not self._held:
            log.warning(
                "%s: change held while this vantage is degraded (%s): %s; other services'"
                " changes held in this spell are not logged one by one",
                service,
                "; ".join(self._assessment.reasons),
                decision.reason,
                extra={"service": service},
            )
        self._held.add(service)

    def _lost_race(
        self, service: str, expected: Mapping | None, attempt: int, exc: ConflictError
    ) -> None:
        found = self._registry.get(service)
        log.warning(
            "%s: lost a race (attempt %d of %d): built on version %s, found version %s"
            " written by %s; %s",
            service,
            attempt,
            DECIDE_ATTEMPTS,
            _version(expected),
            _version(found),
            (found.written_by if found is not None else "") or "an unnamed writer",
            "deciding again" if attempt < DECIDE_ATTEMPTS else "deciding again at the next tick",
            extra={"service": service},
        )
        log.debug("%s: %s", service, exc, extra={"service": service})

    def _requeue(self, service: str, pending: _Pending) -> None:
        later = self._pending.get(service)
        if later is not None:
            pending.first_failed_probe = _earliest(
                pending.first_failed_probe, later.first_failed_probe
            )
            pending.verdict = _earliest(pending.verdict, later.verdict)
            if later.last_verdict is not None:
                pending.last_verdict = later.last_verdict
            pending.locators.extend(later.locators)
            pending.tallies.update(later.tallies)
        self._pending[service] = pending

    def _site_healths(self, service: str, plan: ServicePlan) -> tuple[float, dict[str, SiteHealth]]:
        """Wall time now, and the sites' health with ``since`` in wall time.

        Site health is kept on the monotonic clock and handed out in wall time, converted
        with the same offset as ``now``, so a fail-back dwell (``now - since``) measures
        monotonic time even though ``decide`` sees wall-clock values.
        """
        mono = self._clock.monotonic()
        kept: dict[str, float] = {"now": mono}
        result: dict[str, SiteHealth] = {}
        for site in plan.policy.sites:
            verdicts = [
                self._verdict(spec.id) for spec in plan.policy.locators if spec.site == site
            ]
            key = (service, site)
            health = site_health(site, verdicts, plan.min_healthy, self._sites.get(key), mono)
            self._sites[key] = health
            result[site] = health
            if health.since is not None:
                kept[site] = health.since
        wall = wall_times(self._clock, kept)
        releases = self._site_releases(plan.policy)
        return wall["now"], {
            site: replace(health, since=wall.get(site), release=releases.get(site))
            for site, health in result.items()
        }

    def _move_event(
        self, before: Mapping | None, decision: Decision, pending: _Pending, decided: float
    ) -> tuple[Event, ...]:
        """The journal event of a move, written in the same store transaction as its
        mapping (none when the decision moves nothing).

        Its ``published`` moment is when the mapping and the event were handed to the
        registry together; the store makes both durable in one commit with the other
        moves asked for at the same time (a lost site's services all at once). With
        several vantages, the move names who voted on each locator it rests on.
        """
        if not decision.moved:
            return ()
        after = decision.mapping
        moments = {"decision": decided, "published": self._clock.monotonic()}
        if pending.verdict is not None:
            moments["verdict"] = pending.verdict
        if pending.first_failed_probe is not None:
            moments["first_failed_probe"] = pending.first_failed_probe
        timeline = wall_times(self._clock, moments)
        counted = {locator: pending.tallies[locator] for locator in sorted(pending.tallies)}
        reason = "; ".join(
            [decision.reason, *(f"{loc} {t.describe()}" for loc, t in counted.items())]
        )
        return (
            Event(
                kind="move",
                service=after.service,
                time=timeline["published"],
                reason=reason,
                from_site=before.active_site if before else None,
                to_site=after.active_site,
                epoch=after.epoch,
                version=after.version,
                actor=self._writer or "controller",
                timeline=timeline,
                votes={locator: t.votes() for locator, t in counted.items()},
            ),
        )

    def _published(
        self,
        before: Mapping | None,
        after: Mapping,
        decision: Decision,
        pending: _Pending,
        move: tuple[Event, ...],
    ) -> None:
        extra = {"service": after.service, "site": after.active_site, "epoch": after.epoch}
        if not move:
            log.info("%s v%d: %s", after.service, after.version, decision.reason, extra=extra)
            return
        # Health moved it when verdicts asked for the decision; otherwise an intent did.
        kind = AUTOMATIC if pending.verdict is not None else PLANNED
        self._metrics.record_move(after.service, kind, move[0].timeline)
        log.warning(
            "%s moved %s -> %s (epoch %d): %s",
            after.service,
            before.active_site if before else None,
            after.active_site,
            after.epoch,
            decision.reason,
            extra=extra,
        )


def _nearest_rank(ordered: list[float], share: float) -> float:
    """The ``share`` quantile of sorted values by nearest rank; 0 for none."""
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _earliest(first: float | None, second: float | None) -> float | None:
    known = [t for t in (first, second) if t is not None]
    return min(known) if known else None


def _version(mapping: Mapping | None) -> str:
    return "none" if mapping is None else str(mapping.version)
