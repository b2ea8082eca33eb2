"""The runs as the registry keeps them, typed, and the intents each run owns.

A run records an intent's id before the intent is stored, so wherever gtm dies the run's
record names every intent it made, and its rollback removes them all.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import secrets

from gtm.core.model import Event, Intent, IntentKind
from gtm.core.runbook import Run, summary
from gtm.errors import NotFound
from gtm.registry.registry import Registry
from healthchecks.clock import Clock

log = logging.getLogger(__name__)


class RunStore:
    """Reads, saves and journals runs, and adds and removes the intents they own.

    Args:
        registry: Where runs, intents and events live.
        clock: Wall time for what a run records.
    """

    def __init__(self, registry: Registry, clock: Clock) -> None:
        self._registry = registry
        self._clock = clock

    def all(self) -> list[Run]:
        """Every run, oldest first."""
        return self._registry.runs()

    def get(self, run_id: str) -> Run:
        """One run as stored.

        Raises:
            NotFound: There is no run ``run_id``.
        """
        run = self._registry.run(run_id)
        if run is None:
            raise NotFound(f"runbook: no run {run_id}")
        return run

    async def wait(self, run_id: str, revision: int, timeout: float) -> Run:
        """The run once it changes past ``revision``, or as it is at the timeout.

        Raises:
            NotFound: There is no run ``run_id``.
        """
        run = await self._registry.wait_run(run_id, revision, timeout)
        if run is None:
            raise NotFound(f"runbook: no run {run_id}")
        return run

    async def save(self, run: Run) -> Run:
        """Store ``run`` as its next revision and return it so.

        An abort, once asked for, stays asked for: a save built on a copy of the run from
        before the abort arrived (the executor noting progress) keeps the request.
        """
        stored = self._registry.run(run.id)
        saved = dataclasses.replace(
            run,
            revision=(stored.revision if stored else 0) + 1,
            abort_requested=run.abort_requested or (stored is not None and stored.abort_requested),
        )
        return await self._registry.save_run(saved)

    def fresh(self, run: Run) -> Run:
        """``run`` with the abort flag as stored (an abort arrives through the registry)."""
        stored = self._registry.run(run.id)
        if stored is None or not stored.abort_requested:
            return run
        return dataclasses.replace(run, abort_requested=True, revision=stored.revision)

    async def add_intent(self, run: Run, intent: Intent) -> Run:
        """Store ``intent`` on behalf of ``run``, recording its id in the run first.

        The id is the run's id and a random suffix, so it is known before the intent
        exists and cannot be another writer's.

        Returns:
            ``run`` as saved, listing the new intent.
        """
        intent_id = f"{run.id}-{secrets.token_hex(4)}"
        run = await self.save(dataclasses.replace(run, intents=(*run.intents, intent_id)))
        await self._registry.add_intent(
            dataclasses.replace(
                intent,
                id=intent_id,
                who=run.who,
                why=f"run {run.id}: {run.reason}",
                created_at=self._clock.wall(),
            )
        )
        return run

    async def remove_intent(self, run: Run, intent_id: str) -> Run:
        """Remove one of ``run``'s intents (gone already is fine) and drop it from the run."""
        with contextlib.suppress(NotFound):  # already gone, or never stored: the goal either way
            await self._registry.remove_intent(intent_id)
        left = tuple(i for i in run.intents if i != intent_id)
        return await self.save(dataclasses.replace(run, intents=left))

    def kind(self, intent_id: str) -> IntentKind | None:
        """The kind of the standing intent ``intent_id``; None when it does not stand."""
        intent = next((i for i in self._registry.intents() if i.id == intent_id), None)
        return intent.kind if intent else None

    def intent_ids(self, run: Run, kind: IntentKind) -> list[str]:
        """The ids of ``run``'s standing intents of ``kind``."""
        return [i for i in run.intents if self.kind(i) is kind]

    async def journal(self, run: Run) -> None:
        """Record an ended run in the journal, with each step's times, and log it."""
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
        log.warning(
            "run %s: %s",
            run.id,
            summary(run),
            extra={"run": run.id, "service": run.service, "site": run.to_site},
        )
