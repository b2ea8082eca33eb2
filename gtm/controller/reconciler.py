"""The reconciler: keeps every provider's external system in step with the mappings.

It runs each provider on every mapping change and on a periodic resync, one task per
provider, so a provider that is down (retried with backoff) or refuses (a permanent
error, shown in its status) never blocks the others or the registry. A pass is
observe → diff → safety → apply → verify; a resync pass that finds differences for
mappings it had already applied has found drift (a hand edit) and repairs it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gtm.controller.tasks import cancel_all
from gtm.core.changes import Change, Emptying, Owned, diff, emptied
from gtm.core.model import Event, Mapping
from gtm.core.reports import ProviderReport, provider_report_to_dict
from gtm.errors import ConflictError, GtmError, Rejected, Unavailable
from gtm.metrics import Metrics
from gtm.providers.base import Provider, managed
from gtm.registry.registry import Registry

log = logging.getLogger(__name__)

Clock = Callable[[], float]

RETRY_MIN = 0.1
"""First wait before retrying a provider that was unavailable; doubles up to retry_max."""

SETTLE = 0.005
"""Seconds a provider waits after a wake-up, so a burst of changes goes out in one pass."""

STARTUP = 10.0
"""Longest wait at start for the controller's first mappings before the first pass."""

POLL = 0.05
"""Seconds between looks at the registry while waiting at start."""


def serves(item: object) -> bool:
    """Whether an item sends clients somewhere: an address record or a weight above zero.

    TXT and SRV-only records, and load-balancer entries at weight 0, do not: a service left
    with none of these has, in effect, been removed from that system.
    """
    kind = getattr(item, "rdtype", None) or getattr(item, "type", None)
    if kind is not None:
        return str(kind).upper() in ("A", "AAAA")
    weight = getattr(item, "weight", None)
    if isinstance(weight, int):
        return weight > 0
    weights = getattr(item, "weights", None)
    if isinstance(weights, tuple):
        return any(w > 0 for _, w in weights)
    return True


@dataclass(slots=True)
class PassResult:
    """What one observe → apply → verify pass of one provider did."""

    provider: str
    changes: list[Change[Any]] = field(default_factory=list)
    refused: list[Emptying] = field(default_factory=list)
    remaining: list[Change[Any]] = field(default_factory=list)
    applied_at: float | None = None
    verified_at: float | None = None
    apply_s: float = 0.0
    verify_s: float = 0.0


class Reconciler:
    """Runs every provider against the registry's mappings.

    Args:
        providers: The configured providers.
        registry: Where the mappings come from (read only).
        services: The configured services, which providers managing "every service"
            wait for at start.
        resync_interval: Seconds between full passes that repair drift.
        retry_max: Longest wait between retries of an unavailable provider.
        clock: Wall clock for the journal's timelines.
        metrics: Where apply and verify times and errors are recorded; a registry of its
            own unless given.
        acting: With several instances, whether this one may touch the providers now
            (it leads), asked before every pass and every apply; :meth:`resume` wakes
            every provider when it may again. Always, unless given.
    """

    def __init__(
        self,
        providers: Sequence[Provider[Any]],
        registry: Registry,
        *,
        services: Sequence[str] = (),
        resync_interval: float = 30.0,
        retry_max: float = 30.0,
        clock: Clock = time.time,
        metrics: Metrics | None = None,
        acting: Callable[[], bool] | None = None,
    ) -> None:
        self._acting = acting if acting is not None else _always
        self._metrics = metrics if metrics is not None else Metrics()
        self._providers = {p.name: p for p in providers}
        self._registry = registry
        self._services = tuple(services)
        self._resync = resync_interval
        self._retry_max = retry_max
        self._clock = clock
        self._status = {p.name: ProviderReport(p.name, p.kind) for p in providers}
        self._known: dict[str, dict[str, Owned[Any]]] = {}
        self._applied: dict[str, dict[str, int]] = {p.name: {} for p in providers}
        self._verified: dict[str, dict[str, float]] = {p.name: {} for p in providers}
        self._wakeups: dict[str, asyncio.Event] = {}
        self._locks = {p.name: asyncio.Lock() for p in providers}
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def providers(self) -> dict[str, Provider[Any]]:
        """The providers by name."""
        return dict(self._providers)

    def holds(self, name: str, service: str, version: int) -> float | None:
        """When provider ``name`` was first seen holding ``service`` at ``version``, if it was."""
        if self._applied[name].get(service) != version:
            return None
        return self._verified[name].get(service)

    def status(self) -> list[dict[str, Any]]:
        """Every provider's status, by name."""
        return [provider_report_to_dict(self._status[name]) for name in sorted(self._status)]

    async def start(self) -> None:
        """One task per provider; a first pass right away, then on changes and resyncs."""
        for name in self._providers:
            wakeup = asyncio.Event()
            wakeup.set()
            self._wakeups[name] = wakeup
            self._tasks.append(asyncio.create_task(self._run(name), name=f"provider-{name}"))
        self._unsubscribe = self._registry.subscribe(self._on_mapping)

    def resume(self) -> None:
        """Run a pass of every provider now (this instance leads again)."""
        for wakeup in self._wakeups.values():
            wakeup.set()

    async def stop(self) -> None:
        """Stop the provider tasks and close the providers; safe to call twice."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await cancel_all(self._tasks, "reconciler")
        self._tasks.clear()
        for provider in self._providers.values():
            try:
                await provider.close()
            except GtmError as exc:
                log.warning(
                    "provider %s did not close cleanly: %s",
                    provider.name,
                    exc,
                    extra={"provider": provider.name},
                )

    async def plan(self, name: str, *, force: bool = False) -> PassResult:
        """Observe and diff one provider without applying anything (``gtm plan``)."""
        provider = self._providers[name]
        mappings = self._registry.mappings()
        desired = provider.desired(managed(mappings, provider.services))
        observed = await provider.observe()
        changes = diff(desired, observed)
        result = PassResult(name, changes=changes)
        if not force:
            result.refused = emptied(
                changes, observed, {m.service: m for m in mappings}, name, serves
            )
        return result

    async def run_pass(self, name: str, *, force: bool = False, resync: bool = True) -> PassResult:
        """Observe, diff, apply what safety allows, verify; journal what changed.

        Args:
            name: The provider.
            force: Apply even changes the safety rule refuses.
            resync: Observe the system first; otherwise start from what the last
                verified pass saw (a hand edit since then fails the update's
                prerequisites, and the pass is retried with a fresh observation).
        """
        provider = self._providers[name]
        # One pass per provider at a time: the change-driven loop, a planned failover
        # and ``gtm apply`` may all ask at once, and interleaved passes would race.
        async with self._locks[name]:
            try:
                fresh = resync or name not in self._known
                return await self._pass(provider, force=force, fresh=fresh)
            except ConflictError:
                self._known.pop(name, None)
                return await self._pass(provider, force=force, fresh=True)

    async def _pass(self, provider: Provider[Any], *, force: bool, fresh: bool) -> PassResult:
        name = provider.name
        mappings = {m.service: m for m in self._registry.mappings()}
        # Deriving and diffing thousands of items is CPU work: keep it off the event loop
        # that probes and answers DNS. The provider's lock keeps it to one pass at a time.
        desired = await asyncio.to_thread(
            provider.desired, managed(mappings.values(), provider.services)
        )
        observed = await provider.observe() if fresh else self._known[name]
        changes = await asyncio.to_thread(diff, desired, observed)
        result = PassResult(name, changes=changes)
        if not force:
            result.refused = emptied(changes, observed, mappings, name, serves)
        refused = {refusal.service for refusal in result.refused}
        todo = [change for change in changes if change.service not in refused]
        self._update(name, passes=self._status[name].passes + 1, pending=len(changes))
        if todo and not self._acting():
            raise Unavailable(
                f"{name}: {len(todo)} change(s) not applied: this instance no longer leads"
            )
        if todo:
            started = time.perf_counter()
            await provider.apply(todo)
            result.apply_s = time.perf_counter() - started
            result.applied_at = self._clock()
            applied = self._status[name].applied + len(todo)
            self._update(name, applied=applied, last_apply_s=result.apply_s)
        started = time.perf_counter()
        verify = getattr(provider, "verify", None)  # a Verifying provider reads back less
        if todo and verify is not None:
            after = dict(observed)
            for change in todo:
                after.pop(change.key, None)
            after.update(await verify(todo))
        else:
            after = await provider.observe() if todo or fresh else observed
        result.remaining = await asyncio.to_thread(diff, desired, after)
        result.verify_s = time.perf_counter() - started
        result.verified_at = self._clock()
        self._update(name, last_verify_s=result.verify_s)
        self._metrics.record_provider_pass(name, result.apply_s if todo else None, result.verify_s)
        self._update(name, pending=len(result.remaining))
        self._known[name] = after
        if result.refused:
            self._fail(name, "; ".join(refusal.message for refusal in result.refused))
        elif result.remaining:
            self._fail(
                name,
                f"{name}: {len(result.remaining)} change(s) not visible after apply: "
                + ", ".join(change.key for change in result.remaining[:5]),
            )
        else:
            self._update(name, last_success=result.verified_at, last_error=None)
        await self._journal(provider, todo, mappings, result, fresh)
        return result

    async def _journal(
        self,
        provider: Provider[Any],
        todo: Sequence[Change[Any]],
        mappings: dict[str, Mapping],
        result: PassResult,
        fresh: bool,
    ) -> None:
        applied = self._applied[provider.name]
        # Grouped once: a site lost is a thousand services with a few changes each.
        by_service: dict[str, list[Change[Any]]] = {}
        for change in todo:
            by_service.setdefault(change.service, []).append(change)
        events: list[Event] = []
        for service in sorted(by_service):
            mapping = mappings.get(service)
            version = mapping.version if mapping else None
            count = len(by_service[service])
            drift = fresh and version is not None and applied.get(service) == version
            timeline = {"applied": result.applied_at or 0.0, "verified": result.verified_at or 0.0}
            if mapping is not None:
                timeline["decided"] = mapping.updated_at
            if drift:
                repaired = self._status[provider.name].drift_repaired + count
                self._update(provider.name, drift_repaired=repaired)
                reason = (
                    f"{provider.name}: {count} item(s) changed outside gtm, restored: "
                    + (", ".join(c.describe() for c in by_service[service])[:400])
                )
            else:
                reason = (
                    f"{provider.name}: {count} change(s) applied in "
                    f"{result.apply_s * 1000:.1f} ms, verified in {result.verify_s * 1000:.1f} ms"
                )
            events.append(
                Event(
                    kind="drift" if drift else "provider",
                    service=service,
                    time=result.verified_at or self._clock(),
                    reason=reason,
                    epoch=mapping.epoch if mapping else None,
                    version=version,
                    to_site=mapping.active_site if mapping else None,
                    actor=provider.name,
                    timeline=timeline,
                )
            )
        if events:
            # One write for the pass: a site lost is a thousand events, one commit.
            await self._registry.record_all(events)
        if not result.remaining:
            verified = self._verified[provider.name]
            for service, mapping in mappings.items():
                if not provider.services or service in provider.services:
                    if applied.get(service) != mapping.version:
                        verified[service] = result.verified_at or self._clock()
                    applied[service] = mapping.version

    def _update(self, name: str, **changes: Any) -> None:
        self._status[name] = replace(self._status[name], **changes)

    def _fail(self, name: str, message: str) -> None:
        self._metrics.record_provider_error(name)
        self._update(name, last_error=message, last_error_at=self._clock())
        log.warning("%s", message, extra={"provider": name})

    async def _settled(self, provider: Provider[Any]) -> None:
        """Wait until every service the provider manages has a mapping, or ``STARTUP``.

        Right after start the controller has not decided yet; a pass then would see the
        system's records as belonging to services without mappings and refuse them.
        """
        wanted = set(provider.services or self._services)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP
        while loop.time() < deadline:
            if all(self._registry.get(service) is not None for service in wanted):
                return
            await asyncio.sleep(POLL)

    def _on_mapping(self, mapping: Mapping) -> None:
        for name, provider in self._providers.items():
            if not provider.services or mapping.service in provider.services:
                wakeup = self._wakeups.get(name)
                if wakeup is not None:
                    wakeup.set()

    async def _run(self, name: str) -> None:
        wakeup = self._wakeups[name]
        backoff = RETRY_MIN
        await self._settled(self._providers[name])
        while True:
            resync = False
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
                # cancellation that arrives just as the event is set, and stop() would hang.
                async with asyncio.timeout(self._resync):
                    await wakeup.wait()
            except TimeoutError:
                resync = True
            # A moment for a burst of decisions (a whole site lost) to land in one pass.
            await asyncio.sleep(SETTLE)
            wakeup.clear()
            if not self._acting():
                continue  # another instance leads; resume() wakes this one when it does
            try:
                await self.run_pass(name, resync=resync)
                backoff = RETRY_MIN
            except Unavailable as exc:
                self._fail(name, str(exc))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._retry_max)
                self._known.pop(name, None)
                wakeup.set()
            except Rejected as exc:
                # Permanent: retrying the same request cannot help; the next change or
                # resync tries again, in case the operator fixed the cause meanwhile.
                self._fail(name, str(exc))
            except GtmError as exc:
                self._fail(name, f"{name}: {exc}")


def _always() -> bool:
    """A lone instance always acts."""
    return True
