"""The runbooks as gtm's API and runtime use them: start, watch, abort and recover runs.

Everything a run does is persisted in the registry as it starts and ends; a run found
unfinished when gtm starts (it was killed mid-run) is rolled back by its owner, never
left half-done. With several instances, only the leader carries runs out: a run posted
to another instance is stored for it, and a new leader carries out or rolls back every
run it inherits (:func:`gtm.core.leadership.inherit`).
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable

from gtm.controller.controller import Controller
from gtm.controller.reconciler import Reconciler
from gtm.controller.runbook import campaigns
from gtm.controller.runbook.delivery import Delivery
from gtm.controller.runbook.executor import Executor
from gtm.controller.runbook.preview import explain, preview
from gtm.controller.runbook.recovery import Recovery
from gtm.controller.runbook.runs import RunStore
from gtm.controller.runbook.situation import Situation
from gtm.controller.runbook.steps import ProbeNow, Steps
from gtm.core.leadership import Inheritance, inherit
from gtm.core.model import Mapping
from gtm.core.readiness import MoveCheck
from gtm.core.runbook import Run, RunKind, RunOptions, RunState
from gtm.core.sites import SiteHealth
from gtm.errors import Rejected, SafetyRefused
from gtm.registry.registry import Registry
from healthchecks.clock import Clock, LoopClock


class Runbooks:
    """Starts, persists, aborts and recovers planned-failover runs.

    Args:
        registry: Where runs, intents, mappings and events live.
        controller: Health verdicts and service plans.
        reconciler: The providers, to push and verify each switch.
        probe_now: A fresh probe of one locator, for preflight.
        clock: The time: monotonic for deadlines and waits, wall for what a run records
            (step times, when each system served the new site); the loop's by default.
        leading: With several instances, whether this one leads now: a run begun while
            it does not is stored for the leader to carry out (:meth:`take_over`).
            Without it, this instance carries out every run it begins.
    """

    def __init__(
        self,
        registry: Registry,
        controller: Controller,
        reconciler: Reconciler,
        probe_now: ProbeNow,
        *,
        clock: Clock | None = None,
        leading: Callable[[], bool] | None = None,
    ) -> None:
        self._registry = registry
        self._leading = leading
        self._starting: set[str] = set()
        self._reconciler = reconciler
        self._clock: Clock = clock if clock is not None else LoopClock()
        self._situation = Situation(registry, controller, self._clock)
        self._store = RunStore(registry, self._clock)
        delivery = Delivery(registry, self._situation, self._store, reconciler, self._clock)
        self._recovery = Recovery(self._situation, self._store, delivery, self._clock)
        steps = Steps(
            registry, controller, self._situation, self._store, delivery, probe_now, self._clock
        )
        self._executor = Executor(self._situation, self._store, steps, self._recovery, self._clock)

    async def start(self) -> None:
        """Roll back every unfinished run this instance owns (see :meth:`Recovery.unfinished`)."""
        for run in self._recovery.unfinished(self._registry.instance_id):
            self._executor.recover(run)

    async def take_over(self) -> None:
        """Carry out the runs stored for the leader, roll back those a lost one began.

        Called when this instance starts leading, and again while it leads, for runs
        posted to other instances since.
        """
        me = self._registry.instance_id
        for run in self.runs():
            busy = self._executor.carrying_out(run.id) or run.id in self._starting
            what = inherit(run, busy)
            if what is Inheritance.LEAVE:
                continue
            self._starting.add(run.id)
            try:
                owned = await self._store.save(dataclasses.replace(run, owner=me))
                if what is Inheritance.EXECUTE:
                    self._executor.execute(owned)
                else:
                    lost = f"its leader {run.owner or 'unknown'} was lost"
                    self._executor.recover(owned, lost)
            finally:
                self._starting.discard(run.id)

    async def stop(self) -> None:
        """Stop running runs where they are; the next start rolls them back."""
        await self._executor.stop()

    def runs(self) -> list[Run]:
        """Every run, oldest first."""
        return self._store.all()

    def get(self, run_id: str) -> Run:
        """One run; NotFound when there is none."""
        return self._store.get(run_id)

    async def wait(self, run_id: str, revision: int, timeout: float) -> Run:
        """The run once it changes past ``revision``, or as it is at the timeout."""
        return await self._store.wait(run_id, revision, timeout)

    def site_health(self, service: str) -> dict[str, SiteHealth]:
        """The health of each site of ``service``, as the controller decides with it.

        Raises:
            Rejected: Unknown service.
        """
        return self._situation.site_health(service)

    def readiness(self, service: str, to_site: str, force: bool) -> MoveCheck:
        """Whether readiness lets ``service`` be pinned or moved to ``to_site`` (see
        :meth:`Situation.readiness`)."""
        return self._situation.readiness(service, to_site, force)

    def outcome(self, run: Run) -> Mapping:
        """The mapping ``run`` would leave behind (see :meth:`Situation.outcome`)."""
        return self._situation.outcome(run)

    async def begin(
        self,
        kind: RunKind,
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
                :func:`gtm.core.moves.screen`); the message names it. Or the service's
                readiness is strict and the target runs another release than the active
                site (see :func:`gtm.core.readiness.check_move`); the message names both.
        """
        if not reason.strip():
            raise Rejected("runbook: a reason is required for a planned move (--reason)")
        to = self._situation.target(kind, service, to_site)
        mapping = self._situation.mapping_to_move(service)
        if mapping.active_site == to:
            raise Rejected(f"runbook: {service} is already on {to}")
        busy = [r for r in self.runs() if r.service == service and not r.state.finished]
        if busy:
            raise Rejected(f"runbook: {service} already has run {busy[0].id} in progress")
        refusal = self._situation.screen(service, to, options).refusal
        if refusal is not None:
            raise SafetyRefused(f"runbook: {refusal.message}")
        readiness = self._situation.readiness(service, to, options.force)
        if readiness.refusal is not None:
            raise SafetyRefused(f"runbook: run of {service} to {to} refused: {readiness.refusal}")
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
            described = await preview(self._situation, self._reconciler, run)
            run = dataclasses.replace(run, preview=described)
            said = explain(run, mapping, described)
            if readiness.warning is not None:
                said = f"{said}\n{readiness.warning}"
            return run.finish(RunState.DONE, said)
        if self._leading is not None and not self._leading():
            # Stored without an owner: the leader carries it out (take_over).
            return await self._store.save(dataclasses.replace(run, owner=""))
        self._starting.add(run.id)
        try:
            run = await self._store.save(run)
            self._executor.execute(run)
        finally:
            self._starting.discard(run.id)
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
        """Move every service active on ``site`` away (see :func:`campaigns.evacuate`)."""
        return await campaigns.evacuate(
            self, self._registry.mappings(), site, reason, who, options, self._clock, parallel
        )

    async def drill(self, service: str, reason: str, who: str, options: RunOptions) -> list[Run]:
        """Move ``service`` to the next site and back (see :func:`campaigns.drill`)."""
        return await campaigns.drill(self, service, reason, who, options)

    async def abort(self, run_id: str, who: str) -> Run:
        """Ask a running run to stop and roll back."""
        run = self.get(run_id)
        if run.state.finished:
            raise Rejected(f"runbook: run {run_id} already ended ({run.state.value})")
        return await self._store.save(
            dataclasses.replace(run, abort_requested=True).note(f"abort requested by {who}")
        )
