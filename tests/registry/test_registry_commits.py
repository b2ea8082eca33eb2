"""Group commit: writes asked for together reach the store as one commit, each judged on
its own, each seen by subscribers, event subscribers (as stored) and the journal."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest
from registry_faults import FaultyStore
from registry_samples import event, mapping

from gtm.core.model import Event, Mapping
from gtm.errors import ConflictError
from gtm.registry.registry import Registry
from gtm.registry.store import Write, Written
from gtm.registry.stores import SqliteStore


class CountingStore(FaultyStore):
    """Counts the commits and how many writes each carried."""

    def __init__(self, inner: SqliteStore) -> None:
        super().__init__(inner)
        self.commits: list[int] = []

    async def commit(self, writes: Sequence[Write]) -> list[Written]:
        self.commits.append(len(writes))
        return await super().commit(writes)


async def test_a_burst_of_moves_and_their_events_goes_in_one_commit(tmp_path: Path) -> None:
    store = CountingStore(SqliteStore(tmp_path / "gtm.db"))
    registry = await Registry.open(store, "gtm-a")
    heard: list[Mapping] = []
    registry.subscribe(heard.append)
    told: list[Event] = []
    registry.on_event(told.append)
    services = [f"svc-{i:03d}" for i in range(200)]
    try:
        await asyncio.gather(*(registry.put(mapping(service=s)) for s in services))
        store.commits.clear()
        assert told == []

        moved = await asyncio.gather(
            *(
                registry.put(mapping(2, 2, "gcp-euw1", s), (event(10.0, service=s),))
                for s in services
            ),
            registry.record(event(9.0, service=None, kind="health")),
        )

        assert store.commits == [201]
        assert [m.version for m in moved[:-1]] == [2] * 200
        assert sorted(m.service for m in heard if m.version == 2) == services
        moves = await registry.events(kind="move", limit=1000)
        assert sorted(e.service or "" for e in moves) == services
        assert len({e.seq for e in moves}) == 200
        # Every event of the commit is told as stored, sequence number included.
        [verdict] = await registry.events(kind="health")
        assert sorted(told, key=lambda e: e.seq) == sorted([*moves, verdict], key=lambda e: e.seq)
        assert moved[-1] == verdict
    finally:
        await registry.close()
    reopened = await Registry.open(SqliteStore(tmp_path / "gtm.db"))
    try:
        assert {m.active_site for m in reopened.mappings()} == {"gcp-euw1"}
    finally:
        await reopened.close()


async def test_a_lost_race_in_a_burst_fails_that_write_alone_with_its_event(
    tmp_path: Path,
) -> None:
    store = CountingStore(SqliteStore(tmp_path / "gtm.db"))
    registry = await Registry.open(store, "gtm-a")
    told: list[Event] = []
    registry.on_event(told.append)
    try:
        await asyncio.gather(registry.put(mapping()), registry.put(mapping(service="search")))
        store.losing.add("mappings/billing")

        outcomes = await asyncio.gather(
            registry.put(mapping(2, 2, "gcp-euw1"), (event(5.0),)),
            registry.put(mapping(2, 2, "gcp-euw1", "search"), (event(5.0, service="search"),)),
            return_exceptions=True,
        )

        assert isinstance(outcomes[0], ConflictError)
        assert isinstance(outcomes[1], Mapping) and outcomes[1].version == 2
        assert [e.service for e in await registry.events(kind="move")] == ["search"]
        assert told == await registry.events(kind="move")
        billing = registry.get("billing")
        assert billing is not None and billing.version == 1
    finally:
        await registry.close()


async def test_writes_asked_for_while_a_commit_is_on_its_way_go_in_the_next(
    tmp_path: Path,
) -> None:
    store = CountingStore(SqliteStore(tmp_path / "gtm.db"))
    store.yielding = True
    registry = await Registry.open(store)
    try:
        first = asyncio.ensure_future(registry.put(mapping(service="a")))
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # the first commit is under way
        rest = [registry.put(mapping(service=s)) for s in ("b", "c", "d")]

        await asyncio.gather(first, *rest)

        assert store.commits == [1, 3]
    finally:
        await registry.close()


@pytest.mark.parametrize("failing", ["commit", "cas"])
async def test_a_failed_commit_fails_every_write_it_carried(tmp_path: Path, failing: str) -> None:
    store = CountingStore(SqliteStore(tmp_path / "gtm.db"))
    registry = await Registry.open(store)
    try:
        store.failing.add(failing)
        outcomes = await asyncio.gather(
            *(registry.put(mapping(service=s)) for s in ("a", "b")), return_exceptions=True
        )
        store.failing.clear()

        assert all(isinstance(o, Exception) and "made to fail" in str(o) for o in outcomes)
        assert registry.mappings() == []
        assert (await registry.put(mapping(service="a"))).service == "a"
    finally:
        await registry.close()
