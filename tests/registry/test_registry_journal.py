"""The journal: sequence numbers that only grow, filters, trimming, durability."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path

import pytest
from registry_faults import FaultyStore
from registry_samples import event

from gtm.errors import StoreUnavailable
from gtm.registry.journal import Journal
from gtm.registry.registry import Registry
from gtm.registry.store import RecordFilter, Store
from gtm.registry.stores import MemoryStore, SqliteStore

EVERYTHING = RecordFilter(limit=1_000_000)


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


async def test_concurrent_records_never_share_a_number(store: Store) -> None:
    journal = Journal(store)

    recorded = await asyncio.gather(*(journal.record(event(float(t))) for t in range(30)))

    assert sorted(e.seq for e in recorded) == list(range(1, 31))
    assert len(await journal.events(limit=100)) == 30


async def test_the_journal_keeps_only_the_newest_events(store: Store) -> None:
    journal = Journal(store, limit=5)

    for t in range(1, 21):
        await journal.record(event(float(t)))

    kept = await journal.events(limit=100)
    assert [e.seq for e in kept] == [16, 17, 18, 19, 20]
    assert len(await store.records(EVERYTHING)) == 5


async def test_trimming_runs_once_per_percent_of_growth(store: Store) -> None:
    journal = Journal(store, limit=200)

    for t in range(1, 204):
        await journal.record(event(float(t)))

    # Trimmed at 202 (every 2 records) down to 200; 203 waits for the next round.
    stored = await store.records(EVERYTHING)
    assert len(stored) == 201
    assert stored[-1].seq == 3


async def test_a_failed_trim_does_not_fail_the_record(
    faulty: FaultyStore, caplog: pytest.LogCaptureFixture
) -> None:
    journal = Journal(faulty, limit=1)
    await journal.record(event(1.0))
    faulty.failing.add("trim")

    with caplog.at_level(logging.WARNING):
        second = await journal.record(event(2.0))

    assert second.seq == 2
    assert "trimming" in caplog.text
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


async def test_an_unreadable_event_is_reported_with_its_number(store: Store) -> None:
    journal = Journal(store)
    await journal.record(event(1.0))
    await store.append(dataclasses.replace((await store.records(EVERYTHING))[0], value=b"{"))

    with pytest.raises(StoreUnavailable, match="journal/2"):
        await journal.events()
