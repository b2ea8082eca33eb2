"""The journal: sequence numbers that only grow, filters, pruning, durability."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path

import pytest
from registry_faults import FaultyStore
from registry_samples import event

from gtm.errors import ConflictError, StoreUnavailable
from gtm.registry.journal import EVENTS, SEQUENCE, Journal
from gtm.registry.registry import Registry
from gtm.registry.stores import MemoryStore, SqliteStore


async def test_record_assigns_growing_sequence_numbers(registry: Registry) -> None:
    recorded = [await registry.record(event(time=float(t))) for t in range(3)]

    assert [e.seq for e in recorded] == [1, 2, 3]
    assert await registry.events() == recorded


async def test_a_callers_seq_is_replaced(registry: Registry) -> None:
    stored = await registry.record(dataclasses.replace(event(1.0), seq=99))

    assert stored.seq == 1


async def test_events_filter_by_service(registry: Registry) -> None:
    await registry.record(event(1.0, service="billing"))
    search = await registry.record(event(2.0, service="search"))
    await registry.record(event(3.0, service=None, kind="startup"))

    assert await registry.events(service="search") == [search]


async def test_events_filter_by_time_inclusively(registry: Registry) -> None:
    for t in (10.0, 20.0, 30.0):
        await registry.record(event(t))

    assert [e.time for e in await registry.events(since=20.0)] == [20.0, 30.0]


async def test_limit_keeps_the_newest_in_oldest_first_order(registry: Registry) -> None:
    for t in range(10):
        await registry.record(event(float(t), service="billing" if t % 2 else "search"))

    newest = await registry.events(service="billing", limit=3)

    assert [e.time for e in newest] == [5.0, 7.0, 9.0]
    assert await registry.events(limit=0) == []


async def test_concurrent_records_never_share_a_number(faulty: FaultyStore) -> None:
    # Yielding between reading the counter and writing it makes the writers race, so
    # most of them lose a compare-and-set and must retry.
    faulty.yielding = True
    journal = Journal(faulty)

    recorded = await asyncio.gather(*(journal.record(event(float(t))) for t in range(30)))

    assert sorted(e.seq for e in recorded) == list(range(1, 31))
    assert len(await journal.events(limit=100)) == 30


async def test_a_counter_that_always_loses_is_a_conflict(faulty: FaultyStore) -> None:
    faulty.losing.add(SEQUENCE)

    with pytest.raises(ConflictError, match=SEQUENCE):
        await Journal(faulty).record(event(1.0))

    assert await faulty.list(EVENTS) == []


async def test_the_journal_keeps_only_the_newest_events(faulty: FaultyStore) -> None:
    journal = Journal(faulty, limit=5)

    for t in range(1, 21):
        await journal.record(event(float(t)))

    kept = await journal.events(limit=100)
    assert [e.seq for e in kept] == [16, 17, 18, 19, 20]
    assert len(await faulty.list(EVENTS)) == 5


async def test_pruning_runs_once_per_percent_of_growth(faulty: FaultyStore) -> None:
    journal = Journal(faulty, limit=200)

    for t in range(1, 204):
        await journal.record(event(float(t)))

    # Pruned at 202 (every 2 records) down to 200; 203 waits for the next round.
    stored = await faulty.list(EVENTS)
    assert len(stored) == 201
    assert stored[0].key == f"{EVENTS}{3:012d}"


async def test_a_failed_prune_does_not_fail_the_record(
    faulty: FaultyStore, caplog: pytest.LogCaptureFixture
) -> None:
    journal = Journal(faulty, limit=1)
    await journal.record(event(1.0))
    faulty.failing.add("delete")

    with caplog.at_level(logging.WARNING):
        second = await journal.record(event(2.0))

    assert second.seq == 2
    assert "pruning" in caplog.text
    faulty.failing.clear()
    third = await journal.record(event(3.0))
    assert await journal.events() == [third]


def test_a_journal_must_keep_something() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Journal(MemoryStore(), limit=0)


async def test_sequence_numbers_are_not_reused_after_pruning_or_restart(db_path: Path) -> None:
    registry = await Registry.open(SqliteStore(db_path), journal_limit=2)
    for t in range(1, 5):
        await registry.record(event(float(t)))
    await registry.close()

    registry = await Registry.open(SqliteStore(db_path), journal_limit=2)
    try:
        assert [e.seq for e in await registry.events()] == [3, 4]
        after = await registry.record(event(5.0))
        assert after.seq == 5
        assert [e.seq for e in await registry.events()] == [4, 5]
    finally:
        await registry.close()


async def test_events_survive_a_restart_intact(db_path: Path) -> None:
    registry = await Registry.open(SqliteStore(db_path))
    recorded = await registry.record(event(1_700_000_000.5))
    await registry.close()

    registry = await Registry.open(SqliteStore(db_path))
    try:
        assert await registry.events() == [recorded]
    finally:
        await registry.close()


async def test_a_damaged_counter_is_reported_with_its_key() -> None:
    store = MemoryStore()
    await store.cas(SEQUENCE, b"not a number", 0)

    with pytest.raises(StoreUnavailable, match=SEQUENCE):
        await Journal(store).record(event(1.0))
