"""A locator going down has its whole site probed at once, at most once per SWEEP_EVERY."""

from __future__ import annotations

import asyncio

from virtual_time import RunVirtual, VirtualClock

from gtm.controller.controller import Controller, ServicePlan
from gtm.core.health import HealthParams, Verdict
from gtm.core.policy import LocatorSpec, ServicePolicy
from gtm.core.sweep import SWEEP_EVERY
from gtm.registry.registry import Registry
from gtm.registry.stores.memory import MemoryStore

SERVICES = ("billing", "checkout")
SITES = ("site-a", "site-b")


def plans() -> dict[str, ServicePlan]:
    return {
        name: ServicePlan(
            policy=ServicePolicy(
                name,
                SITES,
                tuple(
                    LocatorSpec(f"{name}@{site}", site, f"127.0.{n}.1", 80)
                    for n, site in enumerate(SITES, 1)
                ),
            ),
            health=HealthParams(rise=1, fall=2),
        )
        for name in SERVICES
    }


def test_only_a_new_down_sweeps_its_site_and_not_twice_within_the_period(
    run_virtual: RunVirtual,
) -> None:
    swept: list[tuple[str, float]] = []

    async def scenario() -> None:
        clock = VirtualClock()
        registry = await Registry.open(MemoryStore(), "test")
        loop = asyncio.get_running_loop()
        controller = Controller(
            plans(),
            registry,
            clock=clock,
            writer="test",
            sweep=lambda site: swept.append((site, loop.time())),
        )
        await controller.start()

        def probe(locator: str, ok: bool) -> None:
            controller.observe(locator, ok, "scripted", loop.time())

        try:
            for name in SERVICES:
                for site in SITES:
                    probe(f"{name}@{site}", True)
            await asyncio.sleep(1.0)
            probe("billing@site-a", False)
            assert swept == []  # one failure is no verdict yet
            probe("billing@site-a", False)
            assert controller.health("billing@site-a").verdict is Verdict.DOWN
            await asyncio.sleep(SWEEP_EVERY / 2)
            probe("checkout@site-a", False)
            probe("checkout@site-a", False)  # down too, but the site was just swept
            probe("checkout@site-b", False)
            probe("checkout@site-b", False)  # another site: swept
            await asyncio.sleep(SWEEP_EVERY)
            probe("billing@site-a", True)  # up again: no sweep
            probe("billing@site-a", False)
            probe("billing@site-a", False)  # down again, a period later: swept
        finally:
            await controller.stop()

    run_virtual(scenario())

    start = swept[0][1] if swept else 0.0
    assert [(site, round(at - start, 3)) for site, at in swept] == [
        ("site-a", 0.0),
        ("site-b", SWEEP_EVERY / 2),
        ("site-a", SWEEP_EVERY * 1.5),
    ]
