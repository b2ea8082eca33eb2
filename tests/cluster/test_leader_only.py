"""Only the leader decides and touches the providers; the others keep their verdicts.

The controller and the reconciler are asked, at every decision and every pass, whether
this instance acts for the cluster; here that answer is switched by the test, as the
leader lock would switch it (the lock itself is tested on a real cluster elsewhere). The
provider is a small in-memory system, as in tests/controller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from gtm.controller.controller import Controller, ServicePlan
from gtm.controller.reconciler import Reconciler
from gtm.core.changes import Change, Owned
from gtm.core.health import HealthParams
from gtm.core.leadership import term_of, writer
from gtm.core.model import Mapping
from gtm.core.policy import LocatorSpec, ServicePolicy
from gtm.errors import Unavailable
from gtm.providers.base import Capabilities
from gtm.registry.registry import Registry
from gtm.registry.stores import MemoryStore


@dataclass(frozen=True)
class Record:
    """An address record, as a tiny DNS-like system holds it."""

    rdtype: str
    address: str

    def describe(self) -> str:
        return f"{self.rdtype} {self.address}"


@dataclass
class Table:
    """An external system that holds the best locator's address of each service."""

    name: str
    kind: str = "table"
    services: frozenset[str] = frozenset()
    capabilities: Capabilities = field(default_factory=lambda: Capabilities(max_batch=10))
    held: dict[str, Owned[Record]] = field(default_factory=dict)
    applies: int = 0

    def desired(self, mappings: Sequence[Mapping]) -> dict[str, Owned[Record]]:
        return {
            f"{m.service} A": Owned(m.service, Record("A", loc.address))
            for m in mappings
            for loc in m.best()[:1]
        }

    async def observe(self) -> dict[str, Owned[Record]]:
        return dict(self.held)

    async def apply(self, changes: Sequence[Change[Record]]) -> None:
        self.applies += 1
        for change in changes:
            if change.after is None:
                del self.held[change.key]
            else:
                self.held[change.key] = Owned(change.service, change.after)

    async def close(self) -> None:
        return None


SITES = ("site-a", "site-b")
DEADLINE = 30.0


def plan() -> ServicePlan:
    locators = tuple(
        LocatorSpec(id=f"billing@{site}/lb-1", site=site, address=f"127.0.{n}.1", port=8080)
        for n, site in enumerate(SITES, start=1)
    )
    return ServicePlan(
        policy=ServicePolicy(service="billing", sites=SITES, locators=locators),
        health=HealthParams(rise=1, fall=1),
    )


async def test_a_follower_decides_nothing_until_it_leads() -> None:
    registry = await Registry.open(MemoryStore(), "site-b")
    leading: list[str | None] = [None]
    controller = Controller(
        {"billing": plan()}, registry, writer="site-b", acting_as=lambda: leading[0]
    )
    await controller.start()
    try:
        for site in SITES:
            controller.observe(f"billing@{site}/lb-1", True, "ok", 1.0)
        controller.refresh()
        await asyncio.sleep(0.2)
        assert registry.get("billing") is None  # known verdicts, yet no decision
        leading[0] = writer("site-b", 4)
        controller.refresh()
        async with asyncio.timeout(DEADLINE):
            while registry.get("billing") is None:
                await asyncio.sleep(0.01)
        published = registry.get("billing")
        assert published is not None and term_of(published.written_by) == 4
        assert published.written_by.startswith("site-b")
    finally:
        await controller.stop()
        await registry.close()


async def test_the_providers_follow_only_while_this_instance_leads() -> None:
    registry = await Registry.open(MemoryStore(), "site-b")
    controller = Controller({"billing": plan()}, registry, writer="site-b")
    await controller.start()
    for site in SITES:
        controller.observe(f"billing@{site}/lb-1", True, "ok", 1.0)
    acting = [False]
    table = Table("dns")
    reconciler = Reconciler([table], registry, acting=lambda: acting[0], resync_interval=60)
    await reconciler.start()
    try:
        async with asyncio.timeout(DEADLINE):
            while registry.get("billing") is None:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        assert table.applies == 0 and not table.held
        with pytest.raises(Unavailable, match="no longer leads"):
            await reconciler.run_pass("dns")
        acting[0] = True
        reconciler.resume()
        async with asyncio.timeout(DEADLINE):
            while not table.held:
                await asyncio.sleep(0.01)
        assert table.held["billing A"].item.address == "127.0.1.1"
    finally:
        await reconciler.stop()
        await controller.stop()
        await registry.close()
