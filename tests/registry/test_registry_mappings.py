"""Mappings: compare-and-set writes, version and epoch rules, the cache, subscribers."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest
from registry_faults import FaultyStore
from registry_samples import mapping

from gtm.core.model import Mapping
from gtm.errors import ConflictError, StoreUnavailable
from gtm.registry.registry import Registry
from gtm.registry.stores import MemoryStore, SqliteStore


async def test_an_empty_registry_knows_no_service(registry: Registry) -> None:
    assert registry.get("billing") is None
    assert registry.mappings() == []


async def test_put_publishes_the_mapping(registry: Registry) -> None:
    stored = await registry.put(mapping(version=1))

    assert registry.get("billing") == stored
    assert stored.version == 1


async def test_mappings_are_sorted_by_service(registry: Registry) -> None:
    for service in ("search", "auth", "billing"):
        await registry.put(mapping(service=service))

    assert [m.service for m in registry.mappings()] == ["auth", "billing", "search"]


async def test_a_new_service_may_start_at_any_positive_version(registry: Registry) -> None:
    await registry.put(mapping(version=42))

    assert registry.get("billing") == dataclasses.replace(
        mapping(version=42), written_by="gtm-test"
    )


async def test_a_new_service_cannot_start_at_version_zero(registry: Registry) -> None:
    with pytest.raises(ConflictError, match=r"billing version 0 .*stored version none"):
        await registry.put(mapping(version=0))

    assert registry.get("billing") is None


async def test_each_version_must_follow_the_stored_one(registry: Registry) -> None:
    await registry.put(mapping(version=1))
    await registry.put(mapping(version=2))

    with pytest.raises(ConflictError, match=r"billing version 4 .*stored version 2"):
        await registry.put(mapping(version=4))
    with pytest.raises(ConflictError, match=r"billing version 2 .*stored version 2"):
        await registry.put(mapping(version=2, site="gcp-euw1"))

    current = registry.get("billing")
    assert current is not None
    assert (current.version, current.active_site) == (2, "aws-use1")


async def test_the_epoch_may_stay_or_grow_but_never_go_down(registry: Registry) -> None:
    await registry.put(mapping(version=1, epoch=3))
    await registry.put(mapping(version=2, epoch=3))
    await registry.put(mapping(version=3, epoch=5, site="gcp-euw1"))

    with pytest.raises(ConflictError, match=r"epoch 4 is below stored epoch 5.*version 4"):
        await registry.put(mapping(version=4, epoch=4))

    current = registry.get("billing")
    assert current is not None
    assert (current.version, current.epoch) == (3, 5)


async def test_put_names_the_writer_unless_the_mapping_does(registry: Registry) -> None:
    unnamed = await registry.put(mapping(version=1))
    named = await registry.put(dataclasses.replace(mapping(version=2), written_by="gtm-b/7"))

    assert unnamed.written_by == "gtm-test"
    assert named.written_by == "gtm-b/7"


async def test_a_concurrent_writer_on_the_same_store_gets_a_conflict_and_the_winner() -> None:
    store = MemoryStore()
    first = await Registry.open(store, "gtm-a", follow_store=False)
    second = await Registry.open(store, "gtm-b", follow_store=False)
    await first.put(mapping(version=1))

    # ``second`` has not seen version 1, so its own version 1 passes the version rule
    # and must be stopped by the store's compare-and-set.
    with pytest.raises(
        ConflictError,
        match=r"billing version 1 lost .*stored version none; the store now holds version 1"
        r" by gtm-a",
    ):
        await second.put(mapping(version=1, site="gcp-euw1"))

    # The winner was read back, so the next attempt builds on it.
    assert second.get("billing") == first.get("billing")
    following = await second.put(mapping(version=2, site="gcp-euw1"))
    reread = await Registry.open(store, follow_store=False)
    assert reread.get("billing") == following
    await first.close()


async def test_a_failed_store_write_leaves_the_cache_and_subscribers_alone(
    registry: Registry, faulty: FaultyStore
) -> None:
    before = await registry.put(mapping(version=1))
    seen: list[Mapping] = []
    registry.subscribe(seen.append)
    faulty.failing.add("cas")

    with pytest.raises(StoreUnavailable):
        await registry.put(mapping(version=2, site="gcp-euw1"))

    assert registry.get("billing") == before
    assert seen == []
    faulty.failing.clear()
    assert (await registry.put(mapping(version=2, site="gcp-euw1"))).version == 2


async def test_subscribers_hear_every_stored_mapping_until_they_leave(registry: Registry) -> None:
    first: list[Mapping] = []
    second: list[Mapping] = []
    leave_first = registry.subscribe(first.append)
    registry.subscribe(second.append)

    one = await registry.put(mapping(version=1))
    leave_first()
    leave_first()
    two = await registry.put(mapping(version=2))

    assert first == [one]
    assert second == [one, two]


async def test_subscribers_see_the_cache_already_updated(registry: Registry) -> None:
    cached: list[Mapping | None] = []
    registry.subscribe(lambda m: cached.append(registry.get(m.service)))

    stored = await registry.put(mapping(version=1))

    assert cached == [stored]


async def test_a_failing_subscriber_is_logged_and_skipped(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_: Mapping) -> None:
        raise RuntimeError("subscriber bug")

    after: list[Mapping] = []
    registry.subscribe(broken)
    registry.subscribe(after.append)

    with caplog.at_level(logging.ERROR):
        stored = await registry.put(mapping(version=1))

    assert after == [stored]
    assert registry.get("billing") == stored
    assert "subscriber bug" in caplog.text


async def test_versions_and_epochs_keep_growing_across_a_restart(db_path: Path) -> None:
    registry = await Registry.open(SqliteStore(db_path), "gtm-a")
    await registry.put(mapping(version=1, epoch=1))
    await registry.put(mapping(version=2, epoch=2, site="gcp-euw1"))
    await registry.close()

    registry = await Registry.open(SqliteStore(db_path), "gtm-a")
    restored = registry.get("billing")
    assert restored is not None
    assert (restored.version, restored.epoch, restored.active_site) == (2, 2, "gcp-euw1")
    assert restored == dataclasses.replace(
        mapping(version=2, epoch=2, site="gcp-euw1"), written_by="gtm-a"
    )
    with pytest.raises(ConflictError):
        await registry.put(mapping(version=2, epoch=2))
    with pytest.raises(ConflictError):
        await registry.put(mapping(version=3, epoch=1))
    await registry.put(mapping(version=3, epoch=3, site="dc-paris"))
    await registry.close()

    registry = await Registry.open(SqliteStore(db_path))
    try:
        latest = registry.get("billing")
        assert latest is not None
        assert (latest.version, latest.epoch) == (3, 3)
    finally:
        await registry.close()


async def test_an_unreadable_mapping_is_reported_with_its_key() -> None:
    store = MemoryStore()
    await store.cas("mappings/billing", b'{"service": "billing"}', 0)

    with pytest.raises(StoreUnavailable, match="mappings/billing"):
        await Registry.open(store)
