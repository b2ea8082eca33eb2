"""A lost site: every service decided in slices of the loop, written in few store commits,
each mapping with its own version and epoch, each move journaled."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from gtm.controller.controller import DECIDE_SLICE, Controller, ServicePlan
from gtm.core.health import HealthParams
from gtm.core.policy import LocatorSpec, ServicePolicy
from gtm.registry.registry import Registry
from gtm.registry.store import Write, Written
from gtm.registry.stores import SqliteStore

DEADLINE = 60.0
SITES = ("site-a", "site-b")
COUNT = 300


class CountingStore(SqliteStore):
    """Counts the mappings each commit carries."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.commits: list[int] = []

    async def commit(self, writes: Sequence[Write]) -> list[Written]:
        self.commits.append(sum(1 for write in writes if write.key is not None))
        return await super().commit(writes)


def plan(service: str) -> ServicePlan:
    locators = tuple(
        LocatorSpec(id=f"{service}@{site}/lb-1", site=site, address=f"127.0.{n}.1", port=80)
        for n, site in enumerate(SITES, start=1)
    )
    return ServicePlan(
        policy=ServicePolicy(service=service, sites=SITES, locators=locators),
        health=HealthParams(rise=1, fall=1),
    )


async def test_a_lost_site_is_decided_in_slices_and_written_in_few_commits(
    tmp_path: Path,
) -> None:
    store = CountingStore(tmp_path / "gtm.db")
    registry = await Registry.open(store, "gtm-a")
    services = [f"svc-{i:03d}" for i in range(COUNT)]
    controller = Controller({s: plan(s) for s in services}, registry, writer="gtm-a")
    # How many decisions each turn of the loop makes, seen from a callback of every turn.
    turns: list[int] = []
    decide = controller._decide

    async def counted(service: str) -> None:
        turns[-1] += 1
        await decide(service)

    controller._decide = counted  # type: ignore[method-assign]
    loop = asyncio.get_running_loop()

    def turn() -> None:
        turns.append(0)
        loop.call_soon(turn)

    turn()
    await controller.start()
    try:
        for service in services:
            for site in SITES:
                controller.observe(f"{service}@{site}/lb-1", True, "ok", 1.0)
        async with asyncio.timeout(DEADLINE):
            while any(registry.get(s) is None for s in services):
                await asyncio.sleep(0.01)
        store.commits.clear()
        turns.clear()
        turns.append(0)

        for service in services:  # site-a lost: every service at once
            controller.observe(f"{service}@site-a/lb-1", False, "refused", 2.0)
        async with asyncio.timeout(DEADLINE):
            while any(m.active_site != "site-b" for m in registry.mappings()):
                await asyncio.sleep(0.01)
            while len(await registry.events(kind="move", limit=1000)) < COUNT:
                await asyncio.sleep(0.01)
    finally:
        await controller.stop()
        await registry.close()

    assert max(turns) <= DECIDE_SLICE
    assert sum(store.commits) == COUNT
    assert len(store.commits) <= COUNT // 10
    assert {(m.version, m.epoch) for m in registry.mappings()} == {(2, 2)}
