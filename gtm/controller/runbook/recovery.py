"""Rolling a run back: after a failed step or an abort, or when gtm died mid-run.

The way back removes every intent the run made (its record lists them before they are
stored), pins the service to where it was until it is back there, and lets the providers
follow. At start, only the instance that owns an unfinished run rolls it back.
"""

from __future__ import annotations

import contextlib
import logging

from gtm.controller.runbook.delivery import Delivery
from gtm.controller.runbook.runs import RunStore
from gtm.controller.runbook.situation import Situation
from gtm.controller.runbook.stops import StepFailed
from gtm.core.model import Intent, IntentKind
from gtm.core.runbook import Run, RunState, Step, recovers
from healthchecks.clock import Clock

log = logging.getLogger(__name__)


class Recovery:
    """Rolls runs back.

    Args:
        situation: The service's mapping.
        store: Saves the run and the intents it owns.
        delivery: Waits for publication and providers.
        clock: Wall time for what the run records.
    """

    def __init__(
        self, situation: Situation, store: RunStore, delivery: Delivery, clock: Clock
    ) -> None:
        self._situation = situation
        self._store = store
        self._delivery = delivery
        self._clock = clock

    def unfinished(self, instance: str) -> list[Run]:
        """The runs gtm ``instance``, starting, rolls back (see :func:`recovers`).

        A running run owned by another instance is left to it, with a log line.
        """
        mine: list[Run] = []
        for run in self._store.all():
            if recovers(run, instance):
                mine.append(run)
            elif run.state is RunState.RUNNING:
                log.info(
                    "runbook: run %s of %s is owned by %s, not %s; left to its owner",
                    run.id,
                    run.service,
                    run.owner,
                    instance or "this instance",
                    extra={"run": run.id, "service": run.service},
                )
        return mine

    async def recover(self, run: Run, cause: str = "gtm restarted") -> Run:
        """Roll back a run left unfinished (gtm stopped, or its leader was lost); journal it."""
        step = run.current.step.value if run.current else "its start"
        why = f"{cause} during {step}"
        run = await self._store.save(run.end(self._clock.wall(), ok=False, detail=why))
        run = await self.rollback(run, why)
        await self._store.journal(run)
        return run

    async def rollback(self, run: Run, why: str) -> Run:
        """Take ``run``'s service back where it was and remove every intent the run made.

        Returns:
            The run, ended ``rolled-back`` (or ``failed`` when the service could not
            return), as saved.
        """
        run = await self._store.save(
            self._store.fresh(run).begin(Step.ROLLBACK, self._clock.wall(), why)
        )
        for intent_id in [i for i in run.intents if self._store.kind(i) is not IntentKind.PIN]:
            run = await self._store.remove_intent(run, intent_id)
        origin = run.from_site
        restored = self._situation.mapping(run.service).active_site == origin
        if origin is not None and not restored:
            run = await self._store.add_intent(run, Intent("", IntentKind.PIN, run.service, origin))
            try:
                await self._delivery.until(
                    run,
                    lambda m: m.active_site == origin,
                    f"returning to {origin}",
                    abortable=False,
                )
                restored = True
            except StepFailed:
                restored = False
        for intent_id in list(run.intents):
            run = await self._store.remove_intent(run, intent_id)
        if restored:
            # The shift is gone once the target no longer shares priority 1 with the origin.
            with contextlib.suppress(StepFailed):
                await self._delivery.until(
                    run,
                    lambda m: all(
                        loc.priority != 1 for loc in m.locators if loc.site == run.to_site
                    ),
                    "withdrawing the shift",
                    abortable=False,
                )
        await self._delivery.push(run)  # providers follow the way back; served stays the target
        where = self._situation.mapping(run.service).active_site
        detail = f"back on {where}" if restored else f"could not return to {origin}; on {where}"
        run = run.end(self._clock.wall(), ok=restored, detail=detail)
        state = RunState.ROLLED_BACK if restored else RunState.FAILED
        return await self._store.save(run.finish(state, f"rolled back ({why}); {detail}"))
