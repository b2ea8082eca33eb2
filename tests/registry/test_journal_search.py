"""Journal searches through the store: what they return, and that they cost what they return.

The cost checks count work rather than time: the SQLite virtual machine's instructions
for a search (the same in a small journal and a journal ten times its size), and the
documents the journal decodes (only those it returns).
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from registry_samples import event

import gtm.registry.journal as journal_module
from gtm.core.model import Event
from gtm.registry.documents import decode
from gtm.registry.journal import Journal
from gtm.registry.store import Entry, Record, RecordFilter, Store
from gtm.registry.stores import SqliteStore
from gtm.registry.stores.sqlite_journal import select_records

SERVICES = ("billing", "search", "ledger")
SITES = (("aws-use1", "gcp-euw1"), ("gcp-euw1", "dc-paris"), ("dc-paris",))
KINDS = ("move", "move", "provider", "drift", "run")


def nth(i: int) -> Record:
    """The ``i``-th record of a sample journal: services, sites and kinds in rotation."""
    return Record(
        value=b"{}",
        time=1_000.0 + i,
        kind=KINDS[i % len(KINDS)],
        service=SERVICES[i % len(SERVICES)],
        sites=SITES[i % len(SITES)],
    )


async def fill(store: Store, count: int) -> None:
    for i in range(count):
        await store.append(nth(i))


async def test_records_come_newest_first_by_time_then_number(store: Store) -> None:
    late = await store.append(Record(b"a", 20.0, "move", "billing"))
    early = await store.append(Record(b"b", 10.0, "move", "billing"))
    tie = await store.append(Record(b"c", 20.0, "move", "billing"))

    assert await store.records(RecordFilter()) == [tie, late, early]
    assert [r.seq for r in (late, early, tie)] == [1, 2, 3]


async def test_records_filter_by_every_field(store: Store) -> None:
    await fill(store, 30)

    for where in (
        RecordFilter(service="billing"),
        RecordFilter(kind="provider"),
        RecordFilter(site="gcp-euw1"),
        RecordFilter(site="dc-paris", service="search"),
        RecordFilter(site="aws-use1", kind="move"),
        RecordFilter(service="ledger", kind="drift"),
        RecordFilter(since=1_010.0, until=1_020.0),
        RecordFilter(service="billing", since=1_012.0, limit=3),
    ):
        expected = sorted(
            (
                r
                for r in (nth(i) for i in range(30))
                if (where.service is None or r.service == where.service)
                and (where.kind is None or r.kind == where.kind)
                and (where.site is None or where.site in r.sites)
                and (where.since is None or r.time >= where.since)
                and (where.until is None or r.time < where.until)
            ),
            key=lambda r: -r.time,
        )[: where.limit]
        found = await store.records(where)
        assert [(r.time, r.service, r.kind, r.sites) for r in found] == [
            (r.time, r.service, r.kind, r.sites) for r in expected
        ], where
        assert all(r.seq == int(r.time - 1_000.0) + 1 for r in found)


async def test_trim_keeps_the_newest_and_never_reuses_a_number(store: Store) -> None:
    await fill(store, 10)

    assert await store.trim(4) == 6
    assert await store.trim(4) == 0
    assert [r.seq for r in await store.records(RecordFilter())] == [10, 9, 8, 7]
    assert [r.seq for r in await store.records(RecordFilter(site="dc-paris"))] == [9, 8]
    assert (await store.append(nth(10))).seq == 11


async def test_a_search_with_no_limit_left_reads_nothing(store: Store) -> None:
    await fill(store, 3)

    assert await store.records(RecordFilter(limit=0)) == []


def vm_steps(path: Path, where: RecordFilter) -> tuple[int, int]:
    """The SQLite instructions a search takes on the file at ``path``, and its rows."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    conn = sqlite3.connect(path)
    try:
        conn.set_progress_handler(count, 1)
        query, params = select_records(where)
        rows = conn.execute(query, params).fetchall()
    finally:
        conn.close()
    return steps, len(rows)


SEARCHES = [
    RecordFilter(service="nosuch", limit=1000),
    RecordFilter(kind="nosuch", limit=1000),
    RecordFilter(site="nosuch", limit=1000),
    RecordFilter(service="billing", kind="nosuch", limit=1000),
    RecordFilter(site="dc-paris", service="nosuch", limit=1000),
    RecordFilter(site="aws-use1", kind="nosuch", limit=1000),
    RecordFilter(since=9e9, limit=1000),
    RecordFilter(until=0.0, limit=1000),
    RecordFilter(service="billing", since=9e9, limit=1000),
    RecordFilter(limit=5),
    RecordFilter(service="billing", limit=5),
    RecordFilter(kind="drift", limit=5),
    RecordFilter(site="gcp-euw1", limit=5),
    RecordFilter(service="ledger", kind="provider", limit=2),
    RecordFilter(since=1_001.0, limit=5),
]


@pytest.fixture(scope="module")
def journals(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two SQLite files, a journal of 60 sample records and one of 600."""
    folder = tmp_path_factory.mktemp("journals")
    paths = folder / "small.db", folder / "large.db"

    async def build() -> None:
        for path, count in zip(paths, (60, 600), strict=True):
            store = SqliteStore(path)
            await fill(store, count)
            await store.close()

    asyncio.run(build())
    return paths


@pytest.mark.parametrize("where", SEARCHES, ids=str)
def test_a_search_costs_the_same_in_a_journal_ten_times_larger(
    journals: tuple[Path, Path], where: RecordFilter
) -> None:
    small, large = (vm_steps(path, where) for path in journals)

    assert small == large


async def test_the_journal_decodes_only_what_it_returns(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal(store)
    for t in range(300):
        await journal.record(event(float(t), service="billing" if t % 2 else "search"))
    decoded: list[str] = []

    def counting(entry: Entry, parse: object) -> Event:
        decoded.append(entry.key)
        return decode(entry, parse)  # type: ignore[arg-type]

    monkeypatch.setattr(journal_module, "decode", counting)

    assert await journal.events(service="nosuch", limit=1000) == []
    assert decoded == []
    newest = await journal.events(service="billing", limit=5)
    assert [e.time for e in newest] == [291.0, 293.0, 295.0, 297.0, 299.0]
    assert len(decoded) == 5
