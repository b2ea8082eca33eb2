"""A controller, its scheduler and scripted sites on the virtual-time loop.

Probes take a fixed slice of virtual time and pass or fail as each site is told, so a test
kills a site at an exact moment and reads an exact timeline back from the journal.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from virtual_time import VirtualClock

from gtm.controller.controller import Controller, ServicePlan
from gtm.controller.reconciler import Reconciler
from gtm.controller.runbook.runbooks import Runbooks
from gtm.controller.vantages import Vantages
from gtm.core.health import HealthParams
from gtm.core.policy import LocatorSpec, ServicePolicy
from gtm.registry.registry import Registry
from gtm.registry.store import Store
from gtm.registry.stores.memory import MemoryStore
from healthchecks.result import Result
from healthchecks.scheduler import Check, Scheduler

SERVICE = "app"
SITES = ("site-a", "site-b", "site-c")
PROBE = 0.01
"""Virtual seconds every probe takes."""


@dataclass
class ScriptedSite:
    """A site's workload: up or down as the test says; remembers when it was probed."""

    up: bool = True
    starts: list[float] = field(default_factory=list)

    async def probe(self, timeout: float) -> Result:
        self.starts.append(asyncio.get_running_loop().time())
        await asyncio.sleep(PROBE)
        return Result(self.up, PROBE, "scripted up" if self.up else "scripted down", 0.0, 0.0)


class NoSpread(random.Random):
    """First probes of every check at the start of its interval."""

    def random(self) -> float:
        return 0.0


@dataclass
class Bed:
    """Everything one test drives."""

    clock: VirtualClock
    registry: Registry
    controller: Controller
    scheduler: Scheduler
    runbooks: Runbooks
    sites: dict[str, ScriptedSite]
    verdicts: list[tuple[str, str, float]] = field(default_factory=list)


def plan(health: HealthParams) -> dict[str, ServicePlan]:
    """One service on the three sites, one locator each, preferred in the order of SITES."""
    locators = tuple(
        LocatorSpec(f"{SERVICE}@{site}", site, f"127.0.{n}.1", 8080)
        for n, site in enumerate(SITES, start=1)
    )
    policy = ServicePolicy(service=SERVICE, sites=SITES, locators=locators)
    return {SERVICE: ServicePlan(policy=policy, health=health)}


@asynccontextmanager
async def bed(
    health: HealthParams | None = None,
    *,
    interval: float = 1.0,
    clock: VirtualClock | None = None,
    store: Store | None = None,
    vantages: Vantages | None = None,
) -> AsyncIterator[Bed]:
    """Start registry, controller, runbooks and scheduler as ``Runtime`` wires them.

    ``store`` defaults to a fresh memory store; the registry closes it on the way out.
    ``vantages``, when given, makes the controller count other vantages' votes.
    """
    clock = clock if clock is not None else VirtualClock()
    registry = await Registry.open(store if store is not None else MemoryStore(), "test")
    controller = Controller(
        plan(health or HealthParams()), registry, clock=clock, writer="test", vantages=vantages
    )
    sites = {site: ScriptedSite() for site in SITES}

    def on_result(check: Check, result: Result) -> float | None:
        before = controller.health(check.key).verdict
        delay = controller.observe(check.key, result.ok, result.reason, result.started_at)
        after = controller.health(check.key).verdict
        if after is not before:
            test_bed.verdicts.append((check.key, after.value, clock.monotonic()))
        return delay

    scheduler = Scheduler(on_result, rng=NoSpread(), clock=clock)
    for site, scripted in sites.items():
        scheduler.add(Check(f"{SERVICE}@{site}", scripted, interval=interval, timeout=0.5))
    reconciler = Reconciler([], registry, services=(SERVICE,))

    async def probe_now(locator_id: str) -> tuple[bool, str]:
        result = await sites[locator_id.split("@")[1]].probe(0.5)
        return result.ok, result.reason

    runbooks = Runbooks(registry, controller, reconciler, probe_now, clock=clock)
    test_bed = Bed(clock, registry, controller, scheduler, runbooks, sites)
    await controller.start()
    await reconciler.start()
    await scheduler.start()
    await runbooks.start()
    try:
        yield test_bed
    finally:
        await runbooks.stop()
        await scheduler.stop()
        await controller.stop()
        await reconciler.stop()
        await registry.close()


async def sleep_until(moment: float) -> None:
    """Sleep until the loop's (virtual) time is ``moment``."""
    await asyncio.sleep(moment - asyncio.get_running_loop().time())
