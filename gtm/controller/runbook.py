"""Planned failovers: preflight, lower TTL, drain, switch, verify, hold — or roll back.

A run acts only by writing intents (a TTL cap, a traffic shift, a pin), so the same
controller, policy and providers that handle failures carry it out. Every step is
persisted in the registry as it starts and ends; a run found unfinished when gtm starts
(it was killed mid-run) is rolled back, never left half-done. Which site a run goes to,
what refuses it and what its preview shows are answered by ``gtm.core.moves``; this
module only gathers the values those functions take and does the waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import secrets
from collections.abc import Awaitable, Callable
from typing import ClassVar

from gtm.controller.controller import Controller, ServicePlan
from gtm.controller.reconciler import Reconciler
from gtm.controller.tasks import cancel_all
from gtm.core.changes import diff, render
from gtm.core.model import Event, Intent, IntentKind, Mapping
from gtm.core.moves import Refusal, Screening, describe, keeps_pin, outcome, screen, target
from gtm.core.runbook import (
    PlannedChange,
    Preview,
    ProviderPreview,
    Run,
    RunOptions,
    RunState,
    Step,
    preflight,
    ramp,
    recovers,
    run_from_dict,
    run_to_dict,
    steps_for,
    summary,
)
from gtm.core.sites import SiteHealth
from gtm.errors import GtmError, NotFound, Rejected, SafetyRefused
from gtm.providers.base import managed
from gtm.registry.registry import Registry
from healthchecks.clock import Clock, LoopClock

log = logging.getLogger(__name__)

ProbeNow = Callable[[str], Awaitable[tuple[bool, str]]]
"""Probe one locator right now: ``(ok, reason)``."""

POLL = 0.05
"""Seconds between looks at the registry or health while a step waits."""


class StepFailed(GtmError):
    """A step could not complete; the run rolls back."""


class Aborted(GtmError):
    """An operator asked the run to stop; the run rolls back."""


class Runbooks:
    """Starts, persists, aborts and recovers planned-failover runs.

    Args:
        registry: Where runs, intents, mappings and events live.
        controller: Health verdicts and service plans.
        reconciler: The providers, to push and verify each switch.
        probe_now: A fresh probe of one locator, for preflight.
        clock: The time: monotonic for deadlines and waits, wall for what a run records
            (step times, when each system served the new site); the loop's by default.
    """

    def __init__(
        self,
        registry: Registry,
        controller: Controller,
        reconciler: Reconciler,
        probe_now: ProbeNow,
        *,
        clock: Clock | None = None,
    ) -> None:
        self._registry = registry
        self._controller = controller
        self._reconciler = reconciler
        self._probe_now = probe_now
        self._clock: Clock = clock if clock is not None else LoopClock()
        self._tasks: dict[str, asyncio.Task[None]] = {}

    # -- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        """Roll back every unfinished run this instance owns (see :func:`recovers`).

        A running run owned by another instance is left to it, with a log line.
        """
        instance = self._registry.instance_id
        for doc in self._registry.runs():
            run = run_from_dict(doc)
            if recovers(run, instance):
                step = run.current.step.value if run.current else "its start"
                self._spawn(run, self._recover(run, f"gtm restarted during {step}"))
            elif run.state is RunState.RUNNING:
                log.info(
                    "runbook: run %s of %s is owned by %s, not %s; left to its owner",
                    run.id,
                    run.service,
                    run.owner,
                    instance or "this instance",
                )

    async def stop(self) -> None:
        """Stop running runs where they are; the next start rolls them back."""
        await cancel_all(list(self._tasks.values()), "runbook")
        self._tasks.clear()

    # -- requests -----------------------------------------------------------------

    def runs(self) -> list[Run]:
        """Every run, oldest first."""
        return [run_from_dict(doc) for doc in self._registry.runs()]

    def get(self, run_id: str) -> Run:
        """One run; NotFound when there is none."""
        doc = self._registry.run(run_id)
        if doc is None:
            raise NotFound(f"runbook: no run {run_id}")
        return run_from_dict(doc)

    async def wait(self, run_id: str, revision: int, timeout: float) -> Run:
        """The run once it changes past ``revision``, or as it is at the timeout."""
        doc = await self._registry.wait_run(run_id, revision, timeout)
        if doc is None:
            raise NotFound(f"runbook: no run {run_id}")
        return run_from_dict(doc)

    def target_of(self, kind: str, service: str, to_site: str | None) -> str:
        """The site a run of ``kind`` moves ``service`` to (see :func:`gtm.core.moves.target`).

        Raises:
            Rejected: Unknown service or site, no mapping yet, or no site to move to.
        """
        plan = self._plan(service)
        mapping = self._registry.get(service)
        if mapping is None:
            raise Rejected(f"runbook: {service} has no mapping yet; retry once health is known")
        chosen = target(
            kind,
            plan.policy,
            mapping,
            self._controller.verdicts(service),
            self._controller.site_health(service),
            self._registry.intents(),
            self._clock.wall(),
            to_site,
        )
        if isinstance(chosen, Refusal):
            raise Rejected(f"runbook: {chosen.message}")
        return chosen

    def screen(
        self, service: str, to_site: str, options: RunOptions, own: tuple[str, ...] = ()
    ) -> Screening:
        """How a run stands against the intents in force (see :func:`gtm.core.moves.screen`)."""
        return screen(
            service,
            to_site,
            self._registry.intents(),
            self._clock.wall(),
            options.replace_intents,
            own,
        )

    def site_health(self, service: str) -> dict[str, SiteHealth]:
        """The health of each site of ``service``, as the controller decides with it.

        Raises:
            Rejected: Unknown service.
        """
        self._plan(service)
        return self._controller.site_health(service)

    async def begin(
        self,
        kind: str,
        service: str,
        to_site: str | None,
        reason: str,
        who: str,
        options: RunOptions,
    ) -> Run:
        """Start a run (or, with ``dry_run``, describe it) and return it as persisted.

        Raises:
            Rejected: Unknown service or site, no reason, the service already has a
                running run, or the target is already active.
            SafetyRefused: A standing intent stands in the way (see
                :func:`gtm.core.moves.screen`); the message names it.
        """
        if not reason.strip():
            raise Rejected("runbook: a reason is required for a planned move (--reason)")
        to = self.target_of(kind, service, to_site)
        mapping = self._mapping_or_reject(service)
        if mapping.active_site == to:
            raise Rejected(f"runbook: {service} is already on {to}")
        busy = [r for r in self.runs() if r.service == service and not r.state.finished]
        if busy:
            raise Rejected(f"runbook: {service} already has run {busy[0].id} in progress")
        refusal = self.screen(service, to, options).refusal
        if refusal is not None:
            raise SafetyRefused(f"runbook: {refusal.message}")
        run = Run(
            id=secrets.token_hex(4),
            kind=kind,
            service=service,
            from_site=mapping.active_site,
            to_site=to,
            reason=reason,
            who=who,
            created_at=self._clock.wall(),
            options=options,
            owner=self._registry.instance_id,
        )
        if options.dry_run:
            preview = await self.preview(run)
            run = dataclasses.replace(run, preview=preview)
            return run.finish(RunState.DONE, self._describe_preview(run, preview))
        run = await self._save(run)
        self._spawn(run, self._execute(run))
        return run

    async def finished(self, run: Run, timeout: float = 3600.0) -> Run:
        """Wait until ``run`` has ended; return it as stored."""
        deadline = self._clock.monotonic() + timeout
        while not run.state.finished and self._clock.monotonic() < deadline:
            run = await self.wait(
                run.id, run.revision, min(5.0, deadline - self._clock.monotonic())
            )
        return run

    async def evacuate(
        self, site: str, reason: str, who: str, options: RunOptions, parallel: int = 8
    ) -> list[Run]:
        """Move every service active on ``site`` to its next healthy site; wait for all.

        At most ``parallel`` runs go at once. A service that cannot move (no healthy
        site, a run already going) is reported as a refused run rather than stopping
        the others.
        """
        services = [m.service for m in self._registry.mappings() if m.active_site == site]
        gate = asyncio.Semaphore(max(1, parallel))

        async def move(service: str) -> Run:
            async with gate:
                try:
                    run = await self.begin("evacuate", service, None, reason, who, options)
                except Rejected as exc:
                    return Run(
                        id="-",
                        kind="evacuate",
                        service=service,
                        from_site=site,
                        to_site="-",
                        reason=reason,
                        who=who,
                        created_at=self._clock.wall(),
                        options=options,
                        state=RunState.REFUSED,
                        outcome=str(exc),
                    )
                return await self.finished(run)

        return list(await asyncio.gather(*(move(service) for service in services)))

    async def drill(self, service: str, reason: str, who: str, options: RunOptions) -> list[Run]:
        """A rehearsal: move ``service`` to the next site, then back; both runs, timed.

        A dry run previews the way there only: the way back starts from where that run
        would leave the service, which no registry holds yet.
        """
        there = await self.finished(
            await self.begin("drill", service, None, f"drill: {reason}", who, options)
        )
        if there.state is not RunState.DONE or there.from_site is None or options.dry_run:
            return [there]
        back = await self.begin(
            "drill", service, there.from_site, f"drill back: {reason}", who, options
        )
        return [there, await self.finished(back)]

    async def abort(self, run_id: str, who: str) -> Run:
        """Ask a running run to stop and roll back."""
        run = self.get(run_id)
        if run.state.finished:
            raise Rejected(f"runbook: run {run_id} already ended ({run.state.value})")
        return await self._save(
            dataclasses.replace(run, abort_requested=True).note(f"abort requested by {who}")
        )

    def outcome(self, run: Run) -> Mapping:
        """The mapping ``run`` would leave behind, decided as the controller will decide it.

        Raises:
            StepFailed: The service has no mapping.
        """
        mapping = self._mapping(run.service)
        replaced = self.screen(run.service, run.to_site, run.options, run.intents).replaced
        return outcome(
            self._plan(run.service).policy,
            mapping,
            self._controller.verdicts(run.service),
            self._controller.site_health(run.service),
            self._registry.intents(),
            run.to_site,
            self._clock.wall(),
            force=run.options.force,
            replaced={intent.id for intent in replaced},
        )

    async def preview(self, run: Run) -> Preview:
        """What a run would do: its steps, the mapping it leaves and each provider's changes.

        The mapping is :meth:`outcome`, so the preview shows what the real run publishes;
        the providers diff that mapping's content against what their systems hold.
        """
        preview = self.outcome(run)
        replaced = self.screen(run.service, run.to_site, run.options, run.intents).replaced
        providers: list[ProviderPreview] = []
        for name, provider in self._reconciler.providers.items():
            if provider.services and run.service not in provider.services:
                continue
            try:
                observed = await provider.observe()
            except GtmError as exc:
                providers.append(ProviderPreview(name, error=str(exc)))
                continue
            desired = provider.desired(managed([preview], provider.services))
            mine = {k: v for k, v in observed.items() if v.service == run.service}
            changes = tuple(
                PlannedChange(
                    change.kind.value,
                    change.key,
                    None if change.before is None else render(change.before),
                    None if change.after is None else render(change.after),
                )
                for change in diff(desired, mine)
            )
            providers.append(ProviderPreview(name, changes))
        return Preview(
            steps_for(run.options),
            preview,
            tuple(providers),
            tuple(describe(intent) for intent in replaced),
        )

    def _describe_preview(self, run: Run, preview: Preview) -> str:
        """A dry run's outcome: the preview in lines an operator reads."""
        mapping = self._mapping(run.service)
        after = preview.mapping
        ranks = sorted(
            {loc.site: loc.priority for loc in after.locators}.items(), key=lambda kv: kv[1]
        )
        lines = [
            f"would move {run.service} from {run.from_site} to {run.to_site} "
            f"(epoch {mapping.epoch} -> {after.epoch}); steps: "
            + ", ".join(step.value for step in preview.steps),
            f"mapping: active {after.active_site}; priorities "
            + ", ".join(f"{site} {rank}" for site, rank in ranks),
        ]
        if after.active_site != run.to_site:
            lines.append(f"the move would not hold: {after.reason}")
        lines += [f"replaces {text}" for text in preview.replaces]
        for provider in preview.providers:
            if provider.error is not None:
                lines.append(f"{provider.name}: cannot observe: {provider.error}")
                continue
            lines.append(f"{provider.name}: {len(provider.changes)} change(s)")
            lines += [f"  {_change_line(change)}" for change in provider.changes]
        return "\n".join(lines)

    # -- execution ----------------------------------------------------------------

    def _spawn(self, run: Run, work: Awaitable[None]) -> None:
        async def guarded() -> None:
            try:
                await work
            finally:
                self._tasks.pop(run.id, None)

        self._tasks[run.id] = asyncio.create_task(guarded(), name=f"run-{run.id}")

    async def _execute(self, run: Run) -> None:
        try:
            for step in steps_for(run.options):
                run = await self._begin_step(run, step)
                run = await self._STEPS[step](self, run)
                run = await self._save(run.end(self._clock.wall(), ok=True))
            run = await self._complete(run)
        except GtmError as exc:
            stored = self.get(run.id)
            if stored.state is RunState.REFUSED:
                await self._journal(stored)
                return
            run = await self._save(stored.end(self._clock.wall(), ok=False, detail=str(exc)))
            run = await self._rollback(run, str(exc))
        await self._journal(run)

    async def _recover(self, run: Run, why: str) -> None:
        run = await self._save(run.end(self._clock.wall(), ok=False, detail=why))
        run = await self._rollback(run, why)
        await self._journal(run)

    async def _begin_step(self, run: Run, step: Step) -> Run:
        run = self._fresh(run)
        if run.abort_requested:
            raise Aborted(f"aborted before {step.value}")
        return await self._save(run.begin(step, self._clock.wall()))

    async def _preflight(self, run: Run) -> Run:
        refusal = self.screen(run.service, run.to_site, run.options, run.intents).refusal
        if refusal is not None:
            await self._refuse(run, refusal.message, f"refused: {refusal.message}")
        ids = self._controller.site_locators(run.service, run.to_site)
        verdicts = [self._controller.health(i).verdict for i in ids]
        fresh = list(await asyncio.gather(*(self._probe_now(i) for i in ids)))
        min_up = self._controller.site_health(run.service)[run.to_site].needed
        ok, why = preflight(run.to_site, verdicts, fresh, min_up)
        if not ok and not run.options.force:
            await self._refuse(run, why, f"refused: {why}; use --force to move anyway")
        return run.note(why if ok else f"{why}; forced")

    async def _refuse(self, run: Run, why: str, outcome: str) -> None:
        """End the running step and the run as refused, and stop the run."""
        await self._save(
            run.end(self._clock.wall(), ok=False, detail=why).finish(RunState.REFUSED, outcome)
        )
        raise StepFailed(why)

    async def _lower_ttl(self, run: Run) -> Run:
        mapping = self._mapping(run.service)
        longest = mapping.ttl
        run = await self._add_intent(
            run, Intent("", IntentKind.TTL, run.service, ttl=run.options.short_ttl)
        )
        await self._until(run, lambda m: m.ttl <= run.options.short_ttl, "publishing short TTL")
        deadline = self._clock.monotonic() + longest
        while (left := deadline - self._clock.monotonic()) > 0:
            run = await self._save(
                self._fresh(run).note(f"waiting {math.ceil(left)}s for caches of ttl {longest}s")
            )
            self._check_abort(run)
            await asyncio.sleep(min(1.0, left))
        return run.note(f"ttl {run.options.short_ttl}s published; caches of ttl {longest}s expired")

    async def _drain(self, run: Run) -> Run:
        started = self._clock.monotonic()
        previous: str | None = None
        steps = ramp(run.options.drain)
        for number, (offset, share) in enumerate(steps, start=1):
            await asyncio.sleep(max(0.0, started + offset - self._clock.monotonic()))
            run = self._fresh(run)
            self._check_abort(run)
            self._check_target(run)
            shift = Intent("", IntentKind.SHIFT, run.service, run.to_site, share=share)
            run = await self._add_intent(run, shift)
            await self._until(run, self._shifted(run, share), f"shifting {share}%")
            if previous is not None:
                run = await self._remove_intent(run, previous)
            previous = run.intents[-1]
            bar = "#" * (share // 10) + "." * (10 - share // 10)
            run = await self._save(
                run.note(f"[{bar}] {share}% on {run.to_site} ({number}/{len(steps)})")
            )
        return run

    def _shifted(self, run: Run, share: int) -> Callable[[Mapping], bool]:
        """Whether a mapping carries ``share`` percent of traffic on the run's target."""
        want = {
            spec.id: round(spec.weight * share / 100)
            for spec in self._plan(run.service).policy.locators
            if spec.site == run.to_site
        }
        return lambda m: all(
            loc.priority == 1 and loc.weight == want[loc.id] for loc in m.locators if loc.id in want
        )

    async def _switch(self, run: Run) -> Run:
        screening = self.screen(run.service, run.to_site, run.options, run.intents)
        if screening.refusal is not None:
            raise StepFailed(screening.refusal.message)
        pin = Intent("", IntentKind.PIN, run.service, run.to_site, force=run.options.force)
        run = await self._add_intent(run, pin)
        # The run's pin is the latest, so it wins before the replaced intents are gone:
        # no decision in between sends traffic anywhere else.
        for replaced in screening.replaced:
            with contextlib.suppress(NotFound):
                await self._registry.remove_intent(replaced.id)
        replacing = "".join(f"; replaced {describe(i)}" for i in screening.replaced)
        mapping = await self._until(
            run, lambda m: m.active_site == run.to_site, f"switching to {run.to_site}"
        )
        run = dataclasses.replace(run, served={**run.served, "dns": self._clock.wall()})
        for intent_id in self._intent_ids(run, IntentKind.SHIFT):
            run = await self._remove_intent(run, intent_id)
        run, _problems = await self._push(run)  # verify waits for what is still missing
        return run.note(f"{run.service} active on {run.to_site}, epoch {mapping.epoch}{replacing}")

    async def _verify(self, run: Run) -> Run:
        deadline = self._clock.monotonic() + run.options.verify_timeout
        while True:
            run = self._fresh(run)
            self._check_abort(run)
            run, problems = await self._push(run)
            problems += await self._routes(run)
            if not self._site_up(run.service, run.to_site):
                problems.append(f"{run.to_site} is not healthy")
            mapping = self._mapping(run.service)
            if mapping.active_site != run.to_site:
                problems.append(f"{run.service} is active on {mapping.active_site}")
            if not problems:
                return run.note(f"served by {', '.join(sorted(run.served))}")
            if self._clock.monotonic() > deadline:
                raise StepFailed(f"verify: {'; '.join(problems)}")
            run = await self._save(run.note(f"waiting: {'; '.join(problems)}"))
            await asyncio.sleep(POLL * 4)

    async def _hold(self, run: Run) -> Run:
        deadline = self._clock.monotonic() + run.options.hold
        while self._clock.monotonic() < deadline:
            run = self._fresh(run)
            self._check_abort(run)
            self._check_target(run)
            if self._mapping(run.service).active_site != run.to_site:
                raise StepFailed(f"hold: {run.service} left {run.to_site}")
            await asyncio.sleep(POLL)
        return run.note(f"{run.to_site} stayed healthy for {run.options.hold:g}s")

    _STEPS: ClassVar[dict[Step, Callable[[Runbooks, Run], Awaitable[Run]]]] = {
        Step.PREFLIGHT: _preflight,
        Step.LOWER_TTL: _lower_ttl,
        Step.DRAIN: _drain,
        Step.SWITCH: _switch,
        Step.VERIFY: _verify,
        Step.HOLD: _hold,
    }

    async def _complete(self, run: Run) -> Run:
        keep_pin = keeps_pin(self._plan(run.service).policy)
        for intent_id in list(run.intents):
            intent = self._intent(intent_id)
            if intent is not None and intent.kind is IntentKind.PIN and keep_pin:
                continue  # under priority, dropping the pin would send traffic back
            run = await self._remove_intent(run, intent_id)
        outcome = f"{run.service} moved to {run.to_site}"
        if keep_pin:
            policy = self._plan(run.service).policy
            outcome += f" and stays pinned there ({policy.policy.value} policy, "
            outcome += f"failback {policy.failback.value})"
        return await self._save(run.finish(RunState.DONE, outcome))

    async def _rollback(self, run: Run, why: str) -> Run:
        run = await self._save(self._fresh(run).begin(Step.ROLLBACK, self._clock.wall(), why))
        for intent_id in [i for i in run.intents if self._kind(i) is not IntentKind.PIN]:
            run = await self._remove_intent(run, intent_id)
        origin = run.from_site
        mapping = self._mapping(run.service)
        restored = mapping.active_site == origin
        if origin is not None and not restored:
            back = Intent("", IntentKind.PIN, run.service, origin)
            run = await self._add_intent(run, back)
            try:
                await self._until(
                    run,
                    lambda m: m.active_site == origin,
                    f"returning to {origin}",
                    abortable=False,
                )
                restored = True
            except StepFailed:
                restored = False
        for intent_id in list(run.intents):
            run = await self._remove_intent(run, intent_id)
        if restored:
            # The shift is gone once the target no longer shares priority 1 with the origin.
            with contextlib.suppress(StepFailed):
                await self._until(
                    run,
                    lambda m: all(
                        loc.priority != 1 for loc in m.locators if loc.site == run.to_site
                    ),
                    "withdrawing the shift",
                    abortable=False,
                )
        await self._push(run)  # providers follow the way back; served stays the run's target
        where = self._mapping(run.service).active_site
        detail = f"back on {where}" if restored else f"could not return to {origin}; on {where}"
        run = run.end(self._clock.wall(), ok=restored, detail=detail)
        state = RunState.ROLLED_BACK if restored else RunState.FAILED
        return await self._save(run.finish(state, f"rolled back ({why}); {detail}"))

    # -- helpers ------------------------------------------------------------------

    async def _push(self, run: Run) -> tuple[Run, list[str]]:
        """Make every provider of the service hold its mapping now.

        A provider the reconciler has already seen holding the service's current version
        is not asked again, so an evacuation of many services does not make every run
        re-read every system.

        Returns:
            ``run`` with the time each provider was first seen serving added to
            ``served``, and what still does not hold the mapping.
        """
        problems: list[str] = []
        served = dict(run.served)
        version = self._mapping(run.service).version
        for name, provider in self._reconciler.providers.items():
            if provider.services and run.service not in provider.services:
                continue
            held = self._reconciler.holds(name, run.service, version)
            if held is None:
                try:
                    result = await self._reconciler.run_pass(name, resync=False)
                except GtmError as exc:
                    problems.append(f"{name}: {exc}")
                    continue
                mine = [c for c in result.remaining if c.service == run.service]
                if mine:
                    problems.append(f"{name}: {len(mine)} change(s) not visible")
                    continue
                held = self._reconciler.holds(name, run.service, version) or self._clock.wall()
            served.setdefault(name, held)
        return dataclasses.replace(run, served=served), problems

    async def _routes(self, run: Run) -> list[str]:
        """Send a request through each load balancer that can report which server took it.

        Providers offer this with an ``async reaches(mapping) -> str | None`` method
        (HAProxy with ``frontends`` configured); None means the active site answered.
        """
        mapping = self._mapping(run.service)
        problems: list[str] = []
        for provider in self._reconciler.providers.values():
            reaches = getattr(provider, "reaches", None)
            if reaches is None or (provider.services and run.service not in provider.services):
                continue
            try:
                problem = await reaches(mapping)
            except GtmError as exc:
                problem = f"{provider.name}: {exc}"
            if problem is not None:
                problems.append(str(problem))
        return problems

    async def _until(
        self, run: Run, ready: Callable[[Mapping], bool], doing: str, *, abortable: bool = True
    ) -> Mapping:
        deadline = self._clock.monotonic() + run.options.verify_timeout
        while True:
            mapping = self._mapping(run.service)
            if ready(mapping):
                return mapping
            if abortable:
                self._check_abort(self._fresh(run))
            if self._clock.monotonic() > deadline:
                raise StepFailed(f"{doing}: not published after {run.options.verify_timeout:g}s")
            await self._registry.wait(run.service, mapping.version, POLL * 4)

    async def _add_intent(self, run: Run, intent: Intent) -> Run:
        stored = await self._registry.add_intent(
            dataclasses.replace(
                intent,
                who=run.who,
                why=f"run {run.id}: {run.reason}",
                created_at=self._clock.wall(),
            )
        )
        return await self._save(dataclasses.replace(run, intents=(*run.intents, stored.id)))

    async def _remove_intent(self, run: Run, intent_id: str) -> Run:
        with contextlib.suppress(NotFound):  # already gone: the goal is reached either way
            await self._registry.remove_intent(intent_id)
        left = tuple(i for i in run.intents if i != intent_id)
        return await self._save(dataclasses.replace(run, intents=left))

    def _intent(self, intent_id: str) -> Intent | None:
        return next((i for i in self._registry.intents() if i.id == intent_id), None)

    def _kind(self, intent_id: str) -> IntentKind | None:
        intent = self._intent(intent_id)
        return intent.kind if intent else None

    def _intent_ids(self, run: Run, kind: IntentKind) -> list[str]:
        return [i for i in run.intents if self._kind(i) is kind]

    async def _save(self, run: Run) -> Run:
        saved = dataclasses.replace(run, revision=self._revision(run.id) + 1)
        await self._registry.save_run(run_to_dict(saved))
        return saved

    def _revision(self, run_id: str) -> int:
        doc = self._registry.run(run_id)
        return int(doc["revision"]) if doc else 0

    def _fresh(self, run: Run) -> Run:
        """``run`` with the abort flag as stored (an abort arrives through the registry)."""
        doc = self._registry.run(run.id)
        if doc is None or not doc.get("abort_requested"):
            return run
        return dataclasses.replace(run, abort_requested=True, revision=int(doc["revision"]))

    def _check_abort(self, run: Run) -> None:
        if run.abort_requested:
            step = run.current.step.value if run.current else "the run"
            raise Aborted(f"aborted during {step}")

    def _check_target(self, run: Run) -> None:
        if not self._site_up(run.service, run.to_site):
            raise StepFailed(f"{run.to_site} went down")

    def _site_up(self, service: str, site: str) -> bool:
        health = self.site_health(service).get(site)
        return health is not None and health.healthy

    def _plan(self, service: str) -> ServicePlan:
        try:
            return self._controller.plan(service)
        except KeyError:
            known = ", ".join(self._controller.services)
            raise Rejected(f"runbook: no service {service}; known services: {known}") from None

    def _mapping(self, service: str) -> Mapping:
        mapping = self._registry.get(service)
        if mapping is None:
            raise StepFailed(f"{service} has no mapping")
        return mapping

    def _mapping_or_reject(self, service: str) -> Mapping:
        mapping = self._registry.get(service)
        if mapping is None:
            raise Rejected(f"runbook: {service} has no mapping yet; retry once health is known")
        return mapping

    async def _journal(self, run: Run) -> None:
        timeline: dict[str, float] = {}
        for record in run.steps:
            timeline[f"{record.step.value}.start"] = record.started_at
            if record.finished_at is not None:
                timeline[f"{record.step.value}.end"] = record.finished_at
        timeline.update({f"served.{name}": at for name, at in run.served.items()})
        mapping = self._registry.get(run.service)
        await self._registry.record(
            Event(
                kind="run",
                service=run.service,
                time=self._clock.wall(),
                reason=f"run {run.id} by {run.who or '-'} ({run.reason}): {summary(run)}",
                from_site=run.from_site,
                to_site=run.to_site,
                epoch=mapping.epoch if mapping else None,
                version=mapping.version if mapping else None,
                actor=run.who or "operator",
                timeline=timeline,
            )
        )
        log.warning("run %s: %s", run.id, summary(run))


def _change_line(change: PlannedChange) -> str:
    """One change as ``gtm plan`` shows it: ``~ key: before -> after``."""
    sign = {"create": "+", "update": "~", "delete": "-"}.get(change.kind, "?")
    if change.before is None:
        return f"{sign} {change.key}: {change.after}"
    if change.after is None:
        return f"{sign} {change.key}: {change.before}"
    return f"{sign} {change.key}: {change.before} -> {change.after}"
