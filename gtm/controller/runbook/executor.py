"""Sequencing a run: each step begun, carried out and ended in the record, then the end.

A run that completes keeps only what its policy needs (the pin, under ``priority``); one
whose step fails or is aborted is rolled back; either way it is journaled. Each run is a
task of its own, stopped where it is when gtm stops.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from gtm.controller.runbook.recovery import Recovery
from gtm.controller.runbook.runs import RunStore
from gtm.controller.runbook.situation import Situation
from gtm.controller.runbook.steps import Steps
from gtm.controller.runbook.stops import Aborted
from gtm.controller.tasks import cancel_all
from gtm.core.model import IntentKind
from gtm.core.moves import keeps_pin
from gtm.core.runbook import Run, RunState, Step, steps_for
from gtm.errors import GtmError
from healthchecks.clock import Clock


class Executor:
    """Runs runs, one task each.

    Args:
        situation: The service's plan, for what a completed run keeps.
        store: Saves and journals the run, and removes its intents.
        steps: Carries out each step.
        recovery: Rolls back a run that failed.
        clock: Wall time for what the run records.
    """

    def __init__(
        self,
        situation: Situation,
        store: RunStore,
        steps: Steps,
        recovery: Recovery,
        clock: Clock,
    ) -> None:
        self._situation = situation
        self._store = store
        self._steps = steps
        self._recovery = recovery
        self._clock = clock
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def execute(self, run: Run) -> None:
        """Carry ``run`` (saved, running) out in a task of its own."""
        self._spawn(run, self._execute(run))

    def recover(self, run: Run, why: str = "gtm restarted") -> None:
        """Roll back ``run``, left unfinished by a gtm that stopped, in a task of its own."""
        self._spawn(run, self._recovery.recover(run, why))

    def carrying_out(self, run_id: str) -> bool:
        """Whether the run ``run_id`` is being carried out or rolled back here."""
        return run_id in self._tasks

    async def stop(self) -> None:
        """Stop running runs where they are; the next start rolls them back."""
        await cancel_all(list(self._tasks.values()), "runbook")
        self._tasks.clear()

    def _spawn(self, run: Run, work: Awaitable[object]) -> None:
        async def guarded() -> None:
            try:
                await work
            finally:
                self._tasks.pop(run.id, None)

        self._tasks[run.id] = asyncio.create_task(guarded(), name=f"run-{run.id}")

    async def _execute(self, run: Run) -> None:
        try:
            for step in steps_for(run.options):
                run = await self._begin(run, step)
                run = await self._steps.carry_out(step, run)
                run = await self._store.save(run.end(self._clock.wall(), ok=True))
            run = await self._complete(run)
        except GtmError as exc:
            stored = self._store.get(run.id)
            if stored.state is RunState.REFUSED:
                await self._store.journal(stored)
                return
            run = await self._store.save(stored.end(self._clock.wall(), ok=False, detail=str(exc)))
            run = await self._recovery.rollback(run, str(exc))
        await self._store.journal(run)

    async def _begin(self, run: Run, step: Step) -> Run:
        run = self._store.fresh(run)
        if run.abort_requested:
            raise Aborted(f"aborted before {step.value}")
        return await self._store.save(run.begin(step, self._clock.wall()))

    async def _complete(self, run: Run) -> Run:
        policy = self._situation.plan(run.service).policy
        keep_pin = keeps_pin(policy)
        for intent_id in list(run.intents):
            if keep_pin and self._store.kind(intent_id) is IntentKind.PIN:
                continue  # under priority, dropping the pin would send traffic back
            run = await self._store.remove_intent(run, intent_id)
        outcome = f"{run.service} moved to {run.to_site}"
        if keep_pin:
            outcome += f" and stays pinned there ({policy.policy.value} policy, "
            outcome += f"failback {policy.failback.value})"
        return await self._store.save(run.finish(RunState.DONE, outcome))
