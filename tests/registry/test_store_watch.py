"""``Store.watch``: every store kind answers a change, a delete and another writer's write."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gtm.errors import StoreUnavailable
from gtm.registry.store import Store
from gtm.registry.stores import SqliteStore

WAIT = 30.0
"""A deadline no passing run comes near: the tests wait on the change, never on time."""


async def test_a_store_past_the_index_answers_at_once_with_the_listing(store: Store) -> None:
    written = await store.cas("mappings/billing", b"v1", 0)
    await store.cas("intents/x", b"i", 0)
    assert written is not None

    index, entries = await store.watch("mappings/", 0, WAIT)

    assert entries == [written]
    assert index >= written.index


async def test_an_empty_store_waits_for_its_first_write(store: Store) -> None:
    # A store of its own starts at 0; a prefix on a shared cluster at the cluster's index.
    index, entries = await store.watch("mappings/", 0, 0)
    assert entries == []
    watching = asyncio.create_task(store.watch("mappings/", index, WAIT))
    await asyncio.sleep(0)
    assert not watching.done()

    written = await store.cas("mappings/a", b"a1", 0)

    assert written is not None
    assert await asyncio.wait_for(watching, WAIT) == (written.index, [written])
    assert index < written.index


async def test_a_write_wakes_a_watch_under_its_prefix(store: Store) -> None:
    await store.cas("mappings/a", b"a1", 0)
    index, _ = await store.watch("mappings/", 0, 0)
    watching = asyncio.create_task(store.watch("mappings/", index, WAIT))
    await asyncio.sleep(0)

    written = await store.cas("mappings/b", b"b1", 0)

    new_index, entries = await asyncio.wait_for(watching, WAIT)
    assert written is not None
    assert new_index >= written.index > index
    assert [entry.key for entry in entries] == ["mappings/a", "mappings/b"]
    assert [entry for entry in entries if entry.index > index] == [written]


async def test_a_delete_moves_the_index_and_leaves_the_listing(store: Store) -> None:
    await store.cas("intents/a", b"a", 0)
    index, entries = await store.watch("intents/", 0, 0)
    assert len(entries) == 1
    watching = asyncio.create_task(store.watch("intents/", index, WAIT))
    await asyncio.sleep(0)

    assert await store.delete("intents/a")

    new_index, entries = await asyncio.wait_for(watching, WAIT)
    assert new_index > index
    assert entries == []


async def test_a_watch_without_a_change_answers_at_the_timeout(store: Store) -> None:
    written = await store.cas("mappings/a", b"a1", 0)
    index, _ = await store.watch("mappings/", 0, 0)

    assert await store.watch("mappings/", index, 0.01) == (index, [written])


async def test_a_failed_condition_is_no_change(store: Store) -> None:
    await store.cas("k", b"v", 0)
    index, _ = await store.watch("", 0, 0)

    assert await store.cas("k", b"w", 0) is None
    assert not await store.delete("k", index + 100)
    assert (await store.watch("", index, 0))[0] == index


async def test_a_closed_store_releases_its_watchers(store: Store) -> None:
    await store.cas("k", b"v", 0)
    index, _ = await store.watch("", 0, 0)
    watching = asyncio.create_task(store.watch("", index, WAIT))
    await asyncio.sleep(0)

    await store.close()

    with pytest.raises(StoreUnavailable):
        await asyncio.wait_for(watching, WAIT)


async def test_sqlite_watch_sees_another_open_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "gtm.db"
    owner = SqliteStore(path, exclusive=True)
    other = SqliteStore(path)
    try:
        await owner.cas("intents/x", b"x", 0)
        index, _ = await owner.watch("mappings/", 0, 0)
        watching = asyncio.create_task(owner.watch("mappings/", index, WAIT))
        await asyncio.sleep(0)

        written = await other.cas("mappings/billing", b"v1", 0)

        new_index, entries = await asyncio.wait_for(watching, WAIT)
        assert entries == [written]
        assert new_index > index
    finally:
        await other.close()
        await owner.close()
