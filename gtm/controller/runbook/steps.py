"""Each step of a run as I/O: what it writes, what it waits for, when it gives up.

A step takes the run, acts only by writing intents, waits for the pipeline to carry them
out, and returns the run with a one-line detail of what it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
from collections.abc import Awaitable, Callable

from gtm.controller.controller import Controller
from gtm.controller.runbook.delivery import POLL, Delivery
from gtm.controller.runbook.runs import RunStore
from gtm.controller.runbook.situation import Situation
from gtm.controller.runbook.stops import StepFailed, check_abort
from gtm.core.model import Intent, IntentKind, Mapping
from gtm.core.moves import describe
from gtm.core.runbook import Run, RunState, Step, preflight, ramp
from gtm.errors import NotFound
from gtm.registry.registry import Registry
from healthchecks.clock import Clock

ProbeNow = Callable[[str], Awaitable[tuple[bool, str]]]
"""Probe one locator right now: ``(ok, reason)``."""


class Steps:
    """Carries out one step of a run at a time (every step but the rollback).

    Args:
        registry: Standing intents a run replaces are removed here.
        controller: Locators and verdicts, for preflight.
        situation: The service's mapping, health and intents.
        store: Saves the run and the intents it owns.
        delivery: Waits for publication and providers.
        probe_now: A fresh probe of one locator, for preflight.
        clock: Monotonic for deadlines and waits, wall for what the run records.
    """

    def __init__(
        self,
        registry: Registry,
        controller: Controller,
        situation: Situation,
        store: RunStore,
        delivery: Delivery,
        probe_now: ProbeNow,
        clock: Clock,
    ) -> None:
        self._registry = registry
        self._controller = controller
        self._situation = situation
        self._store = store
        self._delivery = delivery
        self._probe_now = probe_now
        self._clock = clock
        self._steps: dict[Step, Callable[[Run], Awaitable[Run]]] = {
            Step.PREFLIGHT: self._preflight,
            Step.LOWER_TTL: self._lower_ttl,
            Step.DRAIN: self._drain,
            Step.SWITCH: self._switch,
            Step.VERIFY: self._verify,
            Step.HOLD: self._hold,
        }

    async def carry_out(self, step: Step, run: Run) -> Run:
        """Carry out ``step`` of ``run`` (already begun) and return the run with its detail.

        Raises:
            StepFailed: The step could not complete (the run was refused, if preflight).
            Aborted: An operator asked the run to stop.
        """
        return await self._steps[step](run)

    async def _preflight(self, run: Run) -> Run:
        refusal = self._situation.screen(run.service, run.to_site, run.options, run.intents)
        if refusal.refusal is not None:
            message = refusal.refusal.message
            await self._refuse(run, message, f"refused: {message}")
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
        await self._store.save(
            run.end(self._clock.wall(), ok=False, detail=why).finish(RunState.REFUSED, outcome)
        )
        raise StepFailed(why)

    async def _lower_ttl(self, run: Run) -> Run:
        longest = self._situation.mapping(run.service).ttl
        short = run.options.short_ttl
        run = await self._store.add_intent(run, Intent("", IntentKind.TTL, run.service, ttl=short))
        await self._delivery.until(run, lambda m: m.ttl <= short, "publishing short TTL")
        deadline = self._clock.monotonic() + longest
        while (left := deadline - self._clock.monotonic()) > 0:
            run = await self._store.save(
                self._store.fresh(run).note(
                    f"waiting {math.ceil(left)}s for caches of ttl {longest}s"
                )
            )
            check_abort(run)
            await asyncio.sleep(min(1.0, left))
        return run.note(f"ttl {short}s published; caches of ttl {longest}s expired")

    async def _drain(self, run: Run) -> Run:
        started = self._clock.monotonic()
        previous: str | None = None
        steps = ramp(run.options.drain)
        for number, (offset, share) in enumerate(steps, start=1):
            await asyncio.sleep(max(0.0, started + offset - self._clock.monotonic()))
            run = self._store.fresh(run)
            check_abort(run)
            self._check_target(run)
            shift = Intent("", IntentKind.SHIFT, run.service, run.to_site, share=share)
            run = await self._store.add_intent(run, shift)
            await self._delivery.until(run, self._shifted(run, share), f"shifting {share}%")
            if previous is not None:
                run = await self._store.remove_intent(run, previous)
            previous = run.intents[-1]
            bar = "#" * (share // 10) + "." * (10 - share // 10)
            run = await self._store.save(
                run.note(f"[{bar}] {share}% on {run.to_site} ({number}/{len(steps)})")
            )
        return run

    def _shifted(self, run: Run, share: int) -> Callable[[Mapping], bool]:
        """Whether a mapping carries ``share`` percent of traffic on the run's target."""
        want = {
            spec.id: round(spec.weight * share / 100)
            for spec in self._situation.plan(run.service).policy.locators
            if spec.site == run.to_site
        }
        return lambda m: all(
            loc.priority == 1 and loc.weight == want[loc.id] for loc in m.locators if loc.id in want
        )

    async def _switch(self, run: Run) -> Run:
        screening = self._situation.screen(run.service, run.to_site, run.options, run.intents)
        if screening.refusal is not None:
            raise StepFailed(screening.refusal.message)
        pin = Intent("", IntentKind.PIN, run.service, run.to_site, force=run.options.force)
        run = await self._store.add_intent(run, pin)
        # The run's pin is the latest, so it wins before the replaced intents are gone:
        # no decision in between sends traffic anywhere else.
        for replaced in screening.replaced:
            with contextlib.suppress(NotFound):
                await self._registry.remove_intent(replaced.id)
        replacing = "".join(f"; replaced {describe(i)}" for i in screening.replaced)
        mapping = await self._delivery.until(
            run, lambda m: m.active_site == run.to_site, f"switching to {run.to_site}"
        )
        run = dataclasses.replace(run, served={**run.served, "dns": self._clock.wall()})
        for intent_id in self._store.intent_ids(run, IntentKind.SHIFT):
            run = await self._store.remove_intent(run, intent_id)
        run, _problems = await self._delivery.push(run)  # verify waits for what is missing
        return run.note(f"{run.service} active on {run.to_site}, epoch {mapping.epoch}{replacing}")

    async def _verify(self, run: Run) -> Run:
        deadline = self._clock.monotonic() + run.options.verify_timeout
        while True:
            run = self._store.fresh(run)
            check_abort(run)
            run, problems = await self._delivery.push(run)
            problems += await self._delivery.routes(run)
            if not self._situation.site_up(run.service, run.to_site):
                problems.append(f"{run.to_site} is not healthy")
            mapping = self._situation.mapping(run.service)
            if mapping.active_site != run.to_site:
                problems.append(f"{run.service} is active on {mapping.active_site}")
            if not problems:
                return run.note(f"served by {', '.join(sorted(run.served))}")
            if self._clock.monotonic() > deadline:
                raise StepFailed(f"verify: {'; '.join(problems)}")
            run = await self._store.save(run.note(f"waiting: {'; '.join(problems)}"))
            await asyncio.sleep(POLL * 4)

    async def _hold(self, run: Run) -> Run:
        deadline = self._clock.monotonic() + run.options.hold
        while self._clock.monotonic() < deadline:
            run = self._store.fresh(run)
            check_abort(run)
            self._check_target(run)
            if self._situation.mapping(run.service).active_site != run.to_site:
                raise StepFailed(f"hold: {run.service} left {run.to_site}")
            await asyncio.sleep(POLL)
        return run.note(f"{run.to_site} stayed healthy for {run.options.hold:g}s")

    def _check_target(self, run: Run) -> None:
        if not self._situation.site_up(run.service, run.to_site):
            raise StepFailed(f"{run.to_site} went down")
