"""The reconciler's orchestration: passes, safety, drift, and one provider never blocking another.

The providers here are small in-memory systems, because the faults under test (a system
that refuses, or goes away, at a chosen moment) cannot be produced on demand by the real
servers; the real servers are exercised in tests/providers and tests/e2e.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from gtm.controller.reconciler import Reconciler, serves
from gtm.core.changes import Change, ChangeKind, Owned
from gtm.core.model import Action, Locator, Mapping, State
from gtm.errors import Rejected, Unavailable
from gtm.providers.base import Capabilities
from gtm.registry.registry import Registry
from gtm.registry.stores.memory import MemoryStore


@dataclass(frozen=True)
class Record:
    """An address record of a service, as a tiny DNS-like system holds it."""

    rdtype: str
    address: str

    def describe(self) -> str:
        return f"{self.rdtype} {self.address}"


@dataclass
class Table:
    """An external system that holds records; can be told to fail."""

    name: str
    kind: str = "table"
    services: frozenset[str] = frozenset()
    capabilities: Capabilities = field(default_factory=lambda: Capabilities(max_batch=10))
    held: dict[str, Owned[Record]] = field(default_factory=dict)
    fail: BaseException | None = None
    applies: int = 0

    def desired(self, mappings: Sequence[Mapping]) -> dict[str, Owned[Record]]:
        return {
            f"{m.service} A": Owned(m.service, Record("A", loc.address))
            for m in mappings
            for loc in m.best()[:1]
        }

    async def observe(self) -> dict[str, Owned[Record]]:
        if self.fail is not None:
            raise self.fail
        return dict(self.held)

    async def apply(self, changes: Sequence[Change[Record]]) -> None:
        if self.fail is not None:
            raise self.fail
        self.applies += 1
        for change in changes:
            if change.after is None:
                del self.held[change.key]
            else:
                self.held[change.key] = Owned(change.service, change.after)

    async def close(self) -> None:
        return None


def mapping(service: str, address: str, version: int = 1, action: Action = Action.NONE) -> Mapping:
    loc = Locator(f"{service}@a/x", "a", address, 80, 1, 100, State.UP)
    return Mapping(service, version, 1, 5, "a", (loc,) if address else (), action=action)


@pytest.fixture
async def registry() -> Registry:
    return await Registry.open(MemoryStore(), "test")


async def test_first_pass_creates_and_journals_with_timeline(registry: Registry) -> None:
    await registry.put(mapping("billing", "127.0.1.1"))
    table = Table("dns")
    reconciler = Reconciler([table], registry)
    result = await reconciler.run_pass("dns")
    assert [c.kind for c in result.changes] == [ChangeKind.CREATE]
    assert table.held["billing A"].item == Record("A", "127.0.1.1")
    assert result.remaining == []
    [event] = await registry.events(service="billing")
    assert event.kind == "provider" and event.actor == "dns"
    assert {"applied", "verified", "decided"} <= set(event.timeline)
    assert reconciler.status()[0]["last_error"] is None


async def test_hand_edit_is_drift_repaired_on_resync(registry: Registry) -> None:
    await registry.put(mapping("billing", "127.0.1.1"))
    table = Table("dns")
    reconciler = Reconciler([table], registry)
    await reconciler.run_pass("dns")
    table.held["billing A"] = Owned("billing", Record("A", "10.9.9.9"))
    result = await reconciler.run_pass("dns", resync=True)
    assert [c.kind for c in result.changes] == [ChangeKind.UPDATE]
    assert table.held["billing A"].item.address == "127.0.1.1"
    events = await registry.events(service="billing")
    assert events[-1].kind == "drift"
    assert "10.9.9.9" in events[-1].reason
    assert reconciler.status()[0]["drift_repaired"] == 1


async def test_safety_refuses_emptying_a_service_unless_closed_or_forced(
    registry: Registry,
) -> None:
    table = Table("dns")
    table.held["gone A"] = Owned("gone", Record("A", "127.0.1.1"))
    await registry.put(mapping("billing", "127.0.2.1"))
    reconciler = Reconciler([table], registry)
    result = await reconciler.run_pass("dns")
    assert [r.service for r in result.refused] == ["gone"]
    assert (
        "refusing to remove all 1 serving item(s) of gone, leaving 0" in result.refused[0].message
    )
    assert "gone A" in table.held  # refused, kept
    assert "billing A" in table.held  # the other service still applied
    assert "refusing" in str(reconciler.status()[0]["last_error"])
    await reconciler.run_pass("dns", force=True)
    assert "gone A" not in table.held


async def test_closed_service_may_be_emptied(registry: Registry) -> None:
    table = Table("dns")
    table.held["billing A"] = Owned("billing", Record("A", "127.0.1.1"))
    await registry.put(mapping("billing", "", action=Action.NXDOMAIN))
    result = await Reconciler([table], registry).run_pass("dns")
    assert result.refused == []
    assert table.held == {}


async def test_unavailable_provider_retries_and_never_blocks_the_others(
    registry: Registry,
) -> None:
    down = Table("lb", fail=Unavailable("lb: socket gone"))
    dns = Table("dns")
    reconciler = Reconciler([down, dns], registry, resync_interval=60, retry_max=0.05)
    await reconciler.start()
    try:
        await registry.put(mapping("billing", "127.0.1.1"))
        for _ in range(200):
            if "billing A" in dns.held:
                break
            await asyncio.sleep(0.01)
        assert "billing A" in dns.held
        status = {s["name"]: s for s in reconciler.status()}
        assert status["lb"]["last_error"] == "lb: socket gone"
        down.fail = None  # the system comes back: the retry loop converges
        for _ in range(200):
            if "billing A" in down.held:
                break
            await asyncio.sleep(0.01)
        assert "billing A" in down.held
    finally:
        await reconciler.stop()


async def test_permanent_error_is_reported_and_not_retried_in_a_loop(registry: Registry) -> None:
    bad = Table("r53", fail=Rejected("r53: NoSuchHostedZone Z1"))
    reconciler = Reconciler([bad], registry, resync_interval=60, retry_max=0.01)
    await reconciler.start()
    try:
        await registry.put(mapping("billing", "127.0.1.1"))
        await asyncio.sleep(0.2)
        status = reconciler.status()[0]
        assert status["last_error"] == "r53: NoSuchHostedZone Z1"
        assert status["passes"] == 0  # it never got as far as a pass
        assert status["last_success"] is None
    finally:
        await reconciler.stop()


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (Record("A", "127.0.0.1"), True),
        (Record("TXT", "version=1"), False),
    ],
)
def test_serving_items(item: Record, expected: bool) -> None:
    assert serves(item) is expected
