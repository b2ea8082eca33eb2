"""Intents: stored with an id, listed oldest first, removable, announced, durable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from registry_faults import FaultyStore
from registry_samples import intent

from gtm.core.model import Intent
from gtm.errors import ConflictError, NotFound, StoreUnavailable
from gtm.registry.registry import Registry
from gtm.registry.stores import MemoryStore, SqliteStore


async def test_an_intent_without_an_id_gets_a_short_hex_one(registry: Registry) -> None:
    stored = await registry.add_intent(intent())

    assert re.fullmatch(r"[0-9a-f]{8}", stored.id)
    assert registry.intents() == [stored]


async def test_generated_ids_differ(registry: Registry) -> None:
    ids = {(await registry.add_intent(intent())).id for _ in range(20)}

    assert len(ids) == 20


async def test_intents_are_listed_oldest_first(registry: Registry) -> None:
    await registry.add_intent(intent("late", created_at=300.0))
    await registry.add_intent(intent("early", created_at=100.0))
    await registry.add_intent(intent("middle", created_at=200.0))

    assert [i.id for i in registry.intents()] == ["early", "middle", "late"]


async def test_an_id_already_taken_is_a_conflict(registry: Registry) -> None:
    first = await registry.add_intent(intent("drain-1", site="gcp-euw1"))

    with pytest.raises(ConflictError, match="drain-1"):
        await registry.add_intent(intent("drain-1", site="dc-paris"))

    assert registry.intents() == [first]


async def test_remove_returns_the_intent_and_forgets_it(registry: Registry) -> None:
    stored = await registry.add_intent(intent("drain-1"))

    assert await registry.remove_intent("drain-1") == stored
    assert registry.intents() == []
    with pytest.raises(NotFound, match="drain-1"):
        await registry.remove_intent("drain-1")


async def test_an_intent_removed_by_another_writer_is_not_found() -> None:
    store = MemoryStore()
    first = await Registry.open(store)
    await first.add_intent(intent("drain-1"))
    second = await Registry.open(store)
    await second.remove_intent("drain-1")

    with pytest.raises(NotFound, match="already removed"):
        await first.remove_intent("drain-1")

    assert first.intents() == []


async def test_callbacks_hear_the_full_list_after_each_change(registry: Registry) -> None:
    heard: list[list[Intent]] = []
    leave = registry.on_intents(heard.append)

    one = await registry.add_intent(intent("one", created_at=1.0))
    two = await registry.add_intent(intent("two", created_at=2.0))
    await registry.remove_intent("one")
    leave()
    await registry.remove_intent("two")

    assert heard == [[one], [one, two], [two]]


async def test_a_failed_store_write_changes_nothing(
    registry: Registry, faulty: FaultyStore
) -> None:
    stored = await registry.add_intent(intent("drain-1"))
    heard: list[list[Intent]] = []
    registry.on_intents(heard.append)
    faulty.failing.update({"cas", "delete"})

    with pytest.raises(StoreUnavailable):
        await registry.add_intent(intent("drain-2"))
    with pytest.raises(StoreUnavailable):
        await registry.remove_intent("drain-1")

    assert registry.intents() == [stored]
    assert heard == []


async def test_intents_survive_a_restart(db_path: Path) -> None:
    registry = await Registry.open(SqliteStore(db_path))
    kept = await registry.add_intent(intent(created_at=1.0))
    await registry.add_intent(intent("gone", created_at=2.0))
    await registry.remove_intent("gone")
    await registry.close()

    reopened = await Registry.open(SqliteStore(db_path))
    try:
        assert reopened.intents() == [kept]
    finally:
        await reopened.close()
