"""The tick asks for a decision only on the services that have one due: an idle tick over
many services decides none, and an expiring intent is still decided when it expires."""

from __future__ import annotations

import asyncio

from virtual_time import EPOCH, RunVirtual, VirtualClock

from gtm.controller.controller import Controller, ServicePlan
from gtm.core.health import HealthParams
from gtm.core.model import Intent, IntentKind
from gtm.core.policy import LocatorSpec, PolicyKind, ServicePolicy
from gtm.registry.registry import Registry
from gtm.registry.stores.memory import MemoryStore

SITES = ("site-a", "site-b")
COUNT = 300
PINNED = "svc-000"
EXPIRES = 10.0
"""Virtual seconds after the start at which the pin on PINNED expires."""


def plan(service: str) -> ServicePlan:
    locators = tuple(
        LocatorSpec(id=f"{service}@{site}/lb-1", site=site, address=f"127.0.{n}.1", port=80)
        for n, site in enumerate(SITES, start=1)
    )
    return ServicePlan(
        # Priority returns to site-a as soon as nothing holds it elsewhere (no dwell).
        policy=ServicePolicy(
            service=service, sites=SITES, locators=locators, policy=PolicyKind.PRIORITY, dwell=0
        ),
        health=HealthParams(rise=1, fall=1),
    )


async def settle() -> None:
    """Let every woken decision task run (a few virtual milliseconds)."""
    await asyncio.sleep(0.05)


async def scenario() -> tuple[list[int], int, list[str], str | None, str | None]:
    clock = VirtualClock()
    registry = await Registry.open(MemoryStore(), "gtm-a")
    services = [f"svc-{i:03d}" for i in range(COUNT)]
    controller = Controller({s: plan(s) for s in services}, registry, clock=clock, writer="gtm-a")
    decided: list[str] = []
    decide = controller._decide

    async def counted(service: str) -> None:
        decided.append(service)
        await decide(service)

    controller._decide = counted  # type: ignore[method-assign]
    await controller.start()
    try:
        for service in services:
            for site in SITES:
                controller.observe(f"{service}@{site}/lb-1", True, "ok", clock.monotonic())
        await settle()
        first = len(decided)
        await registry.add_intent(
            Intent(
                "pin-b",
                IntentKind.PIN,
                service=PINNED,
                site="site-b",
                who="ops",
                created_at=EPOCH,
                expires_at=EPOCH + EXPIRES,
            )
        )
        await settle()
        pinned = registry.get(PINNED)
        idle: list[int] = []
        for second in range(1, int(EXPIRES)):  # one tick a second, as the runtime's
            await asyncio.sleep(second - clock.monotonic())
            decided.clear()
            controller.tick()
            await settle()
            idle.append(len(decided))
        await asyncio.sleep(EXPIRES - clock.monotonic())
        decided.clear()
        controller.tick()
        await settle()
        due = list(decided)
        unpinned = registry.get(PINNED)
    finally:
        await controller.stop()
        await registry.close()
    return (
        idle,
        first,
        due,
        pinned.active_site if pinned is not None else None,
        unpinned.active_site if unpinned is not None else None,
    )


def test_an_idle_tick_decides_nothing_and_an_expiring_pin_is_decided_on_time(
    run_virtual: RunVirtual,
) -> None:
    idle, first, due, pinned, unpinned = run_virtual(scenario())
    assert first == COUNT  # every service decided once its locators were known
    assert idle == [0] * (int(EXPIRES) - 1)
    assert pinned == "site-b"
    assert due == [PINNED]
    assert unpinned == "site-a"
