"""Read a load balancer's own figures (HAProxy's sessions or queue) for bursting services.

A service under ``burst: {metric: sessions}`` or ``{metric: queue}`` is not judged by its
probes' latency but by what its HAProxy counts per server; this reads the counts every
probe interval through the provider's runtime API and hands them to the controller,
which steps the service's burst cycle. A count that cannot be read is no count: the
controller's timers stop until it can be read again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from gtm.controller.controller import Controller
from gtm.controller.tasks import cancel_all
from gtm.errors import GtmError
from gtm.providers.haproxy import Haproxy
from gtm.registry.registry import Registry
from healthchecks.clock import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LoadSource:
    """Where one service's load is read: the provider, the metric and how often."""

    service: str
    provider: Haproxy
    metric: str
    """``sessions`` or ``queue``."""
    interval: float


class LoadReaders:
    """One task per service whose burst metric a load balancer reports.

    Args:
        sources: What to read for each such service.
        registry: Where the services' mappings (their locators' server names) are read.
        controller: Where the figures go.
        clock: The time the figures are stamped with.
    """

    def __init__(
        self,
        sources: list[LoadSource],
        registry: Registry,
        controller: Controller,
        clock: Clock,
    ) -> None:
        self._sources = sources
        self._registry = registry
        self._controller = controller
        self._clock = clock
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start reading."""
        for source in self._sources:
            self._tasks.append(
                asyncio.create_task(self._read(source), name=f"load-{source.service}")
            )

    async def stop(self) -> None:
        """Stop reading; safe to call twice."""
        await cancel_all(self._tasks, "load readers")
        self._tasks.clear()

    async def _read(self, source: LoadSource) -> None:
        failing = False
        while True:
            await asyncio.sleep(source.interval)
            mapping = self._registry.get(source.service)
            if mapping is None:
                continue
            try:
                figures = await source.provider.load_figures(mapping, source.metric)
            except GtmError as exc:
                if not failing:
                    log.warning("%s: %s not read: %s", source.service, source.metric, exc)
                failing, figures = True, {}
            else:
                if failing:
                    log.warning("%s: %s read again", source.service, source.metric)
                failing = False
            at = self._clock.monotonic()
            for locator in mapping.locators:
                self._controller.observe_load(locator.id, figures.get(locator.id), at)
