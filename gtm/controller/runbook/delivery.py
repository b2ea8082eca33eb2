"""Getting a run's mapping out: published by the registry, held by every provider.

A run waits on what the pipeline does (the controller publishing, the reconciler pushing)
rather than doing it itself, so a planned move takes the same path as a failure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from gtm.controller.reconciler import Reconciler
from gtm.controller.runbook.runs import RunStore
from gtm.controller.runbook.situation import Situation
from gtm.controller.runbook.stops import StepFailed, check_abort
from gtm.core.model import Mapping
from gtm.core.runbook import Run
from gtm.errors import GtmError
from gtm.registry.registry import Registry
from healthchecks.clock import Clock

POLL = 0.05
"""Seconds between looks at the registry or health while a step waits."""


class Delivery:
    """Waits for publication, pushes to providers and checks load balancers' routes.

    Args:
        registry: Where mappings are published.
        situation: The service's mapping.
        store: The run's abort flag, as stored.
        reconciler: The providers.
        clock: Monotonic for deadlines, wall for when a provider was seen serving.
    """

    def __init__(
        self,
        registry: Registry,
        situation: Situation,
        store: RunStore,
        reconciler: Reconciler,
        clock: Clock,
    ) -> None:
        self._registry = registry
        self._situation = situation
        self._store = store
        self._reconciler = reconciler
        self._clock = clock

    async def until(
        self, run: Run, ready: Callable[[Mapping], bool], doing: str, *, abortable: bool = True
    ) -> Mapping:
        """The service's mapping once ``ready`` holds for it.

        Raises:
            StepFailed: Not published within the run's ``verify_timeout``; ``doing`` says
                what was awaited.
            Aborted: ``abortable`` and an operator asked the run to stop.
        """
        deadline = self._clock.monotonic() + run.options.verify_timeout
        while True:
            mapping = self._situation.mapping(run.service)
            if ready(mapping):
                return mapping
            if abortable:
                check_abort(self._store.fresh(run))
            if self._clock.monotonic() > deadline:
                raise StepFailed(f"{doing}: not published after {run.options.verify_timeout:g}s")
            await self._registry.wait(run.service, mapping.version, POLL * 4)

    async def push(self, run: Run) -> tuple[Run, list[str]]:
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
        version = self._situation.mapping(run.service).version
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

    async def routes(self, run: Run) -> list[str]:
        """Send a request through each load balancer that can report which server took it.

        Providers offer this with an ``async reaches(mapping) -> str | None`` method
        (HAProxy with ``frontends`` configured); None means the active site answered.
        """
        mapping = self._situation.mapping(run.service)
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
