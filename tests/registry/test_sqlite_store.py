"""What only the SQLite store promises: it survives a restart, and says where it failed."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest
from registry_samples import event

from gtm.core.codec import event_to_dict
from gtm.core.model import Event
from gtm.errors import StoreUnavailable
from gtm.registry.documents import encode
from gtm.registry.registry import Registry
from gtm.registry.stores import SqliteStore


async def test_entries_survive_a_reopen(db_path: Path) -> None:
    store = SqliteStore(db_path)
    written = await store.cas("mappings/billing", b"\x00binary\xff", 0)
    await store.close()

    reopened = SqliteStore(db_path)
    try:
        assert await reopened.get("mappings/billing") == written
    finally:
        await reopened.close()


async def test_indexes_keep_growing_after_deletes_and_reopens(db_path: Path) -> None:
    store = SqliteStore(db_path)
    await store.cas("a", b"x", 0)
    newest = await store.cas("b", b"x", 0)
    assert newest is not None
    # Deleting the entry with the highest index must not let that index come back.
    await store.delete("b")
    await store.close()

    reopened = SqliteStore(db_path)
    try:
        after = await reopened.cas("b", b"y", 0)
        assert after is not None
        assert after.index > newest.index
    finally:
        await reopened.close()


async def test_parent_directories_are_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "gtm.db"

    store = SqliteStore(path)
    await store.close()

    assert path.is_file()


async def test_the_file_is_in_wal_mode(db_path: Path) -> None:
    store = SqliteStore(db_path)
    await store.close()

    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_a_directory_that_cannot_be_created_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    path = blocker / "gtm.db"

    with pytest.raises(StoreUnavailable, match=str(path)):
        SqliteStore(path)


async def test_a_file_that_is_not_a_database_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "gtm.db"
    path.write_bytes(b"this is not an SQLite database, not even close" * 100)

    with pytest.raises(StoreUnavailable, match=str(path)) as raised:
        SqliteStore(path)
    assert isinstance(raised.value.__cause__, sqlite3.Error)


async def test_close_is_safe_to_repeat(db_path: Path) -> None:
    store = SqliteStore(db_path)
    await store.close()
    await store.close()

    with pytest.raises(StoreUnavailable, match="closed"):
        await store.get("k")


def old_file(path: Path, events: list[Event], counter: int) -> None:
    """A store file as earlier versions wrote it: the journal as ``events/`` entries."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.executescript(
            "CREATE TABLE entries (key TEXT PRIMARY KEY, value BLOB NOT NULL, idx INTEGER);"
            "CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
        )
        rows = [
            (f"events/{e.seq:012d}", encode(event_to_dict(e)), i + 1) for i, e in enumerate(events)
        ]
        rows.append(("counters/events", str(counter).encode(), len(rows) + 1))
        rows.append(("intents/x", b"kept as it is", len(rows) + 1))
        conn.executemany("INSERT INTO entries VALUES (?, ?, ?)", rows)
        conn.execute("INSERT INTO meta VALUES ('last_index', ?)", (len(rows),))


async def test_a_journal_kept_by_an_earlier_version_is_moved_with_its_numbers(
    db_path: Path,
) -> None:
    kept = [
        dataclasses.replace(event(10.0 + seq, service=service), seq=seq)
        for seq, service in ((7, "billing"), (8, "search"), (9, "billing"))
    ]
    old_file(db_path, kept, counter=12)

    registry = Registry(SqliteStore(db_path))
    try:
        assert await registry.events() == kept
        assert await registry.events(service="billing", site="gcp-euw1") == [kept[0], kept[2]]
        assert (await registry.record(event(30.0))).seq == 13
    finally:
        await registry.close()
    with sqlite3.connect(db_path) as conn:
        keys = [key for (key,) in conn.execute("SELECT key FROM entries ORDER BY key")]
    assert keys == ["intents/x"]
