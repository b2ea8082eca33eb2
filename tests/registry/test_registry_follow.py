"""Two registries on one store: each follows the other's writes, and a lost race reads back.

The stores are real: one memory store shared by both, two SQLite opens of one file (the
first exclusive, as a running gtm holds it), and three Consul stores on one prefix, each
through a different server of a three-server cluster. Each test waits on a subscription or a
long poll with a deadline no passing run comes near, never on a sleep.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from consul_cluster import consul_store, fresh_prefix
from registry_samples import intent, mapping

from gtm.core.codec import mapping_to_dict
from gtm.core.model import Intent, Mapping
from gtm.core.runbook import Run, RunKind, RunState
from gtm.errors import ConflictError
from gtm.registry.documents import encode
from gtm.registry.registry import MAPPINGS, Registry
from gtm.registry.store import Store
from gtm.registry.stores import MemoryStore, SqliteStore

DEADLINE = 30.0

Pair = tuple[Registry, Registry, Store]


@pytest.fixture(params=["memory", "sqlite", "consul"])
async def pair(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Pair]:
    """Registries ``gtm-a`` and ``gtm-b`` on one store, and a third open of that store."""
    if request.param == "memory":
        shared = MemoryStore()
        stores: tuple[Store, Store, Store] = (shared, _Unclosed(shared), _Unclosed(shared))
    elif request.param == "sqlite":
        path = tmp_path / "gtm.db"
        stores = (SqliteStore(path, exclusive=True), SqliteStore(path), SqliteStore(path))
    else:
        cluster, prefix = request.getfixturevalue("consul_cluster"), fresh_prefix()
        stores = (
            consul_store(cluster, prefix, 0, exclusive=True),
            consul_store(cluster, prefix, 1),
            consul_store(cluster, prefix, 2),
        )
    opened: list[Registry] = []
    try:
        opened.append(await Registry.open(stores[0], "gtm-a"))
        opened.append(await Registry.open(stores[1], "gtm-b"))
        yield opened[0], opened[1], stores[2]
    finally:
        for registry in reversed(opened):
            await registry.close()
        await stores[2].close()
        await stores[0].close()


class _Unclosed:
    """A second handle on a shared memory store, whose close leaves the store open."""

    def __init__(self, inner: MemoryStore) -> None:
        self._inner = inner
        self.get, self.list, self.cas = inner.get, inner.list, inner.cas
        self.delete, self.watch, self.commit = inner.delete, inner.watch, inner.commit

    async def close(self) -> None:
        return None


async def next_mapping(registry: Registry, service: str = "billing") -> asyncio.Queue[Mapping]:
    seen: asyncio.Queue[Mapping] = asyncio.Queue()
    registry.subscribe(lambda m: seen.put_nowait(m) if m.service == service else None)
    return seen


async def test_each_registry_sees_the_others_mapping_writes(pair: Pair) -> None:
    a, b, _ = pair
    heard_by_b = await next_mapping(b)
    heard_by_a = await next_mapping(a)

    first = await a.put(mapping(version=1))
    assert await asyncio.wait_for(heard_by_b.get(), DEADLINE) == first
    assert b.get("billing") == first

    second = await b.put(mapping(version=2, epoch=2, site="gcp-euw1"))
    assert second.written_by == "gtm-b"
    # ``a`` hears its own write first, then ``b``'s.
    assert await asyncio.wait_for(heard_by_a.get(), DEADLINE) == first
    assert await asyncio.wait_for(heard_by_a.get(), DEADLINE) == second
    assert a.get("billing") == second


async def test_a_long_poll_wakes_for_another_writers_mapping(pair: Pair) -> None:
    a, b, _ = pair
    await a.put(mapping(version=1))
    polling = asyncio.create_task(b.wait("billing", 1, DEADLINE))
    await asyncio.sleep(0)

    stored = await a.put(mapping(version=2))

    assert await asyncio.wait_for(polling, DEADLINE) == stored


async def test_intents_added_and_removed_elsewhere_are_followed(pair: Pair) -> None:
    a, b, _ = pair
    heard: asyncio.Queue[list[Intent]] = asyncio.Queue()
    b.on_intents(heard.put_nowait)

    added = await a.add_intent(intent("drain-1"))
    assert await asyncio.wait_for(heard.get(), DEADLINE) == [added]

    await a.remove_intent("drain-1")
    assert await asyncio.wait_for(heard.get(), DEADLINE) == []
    assert b.intents() == []


async def test_runs_saved_elsewhere_wake_a_run_long_poll(pair: Pair) -> None:
    a, b, _ = pair
    run = Run("r1", RunKind.FAILOVER, "billing", "a", "b", "patch", "alice", 1.0, revision=1)
    await a.save_run(run)
    # A long poll on a run it does not know returns at once, so look until it is known.
    async with asyncio.timeout(DEADLINE):
        while b.run("r1") is None:
            await asyncio.sleep(0.005)
    polling = asyncio.create_task(b.wait_run("r1", 1, DEADLINE))
    await asyncio.sleep(0)

    await a.save_run(dataclasses.replace(run, revision=2, state=RunState.DONE))

    changed = await asyncio.wait_for(polling, DEADLINE)
    assert changed is not None and changed.revision == 2
    assert b.runs() == [changed]


async def test_an_older_mapping_is_never_applied_over_a_newer_one(pair: Pair) -> None:
    a, b, other = pair
    heard = await next_mapping(b)
    await a.put(mapping(version=1))
    newer = await a.put(mapping(version=2))
    while (await asyncio.wait_for(heard.get(), DEADLINE)) != newer:
        pass

    # A writer that ignores the version rule stores version 1 again over version 2.
    entry = await other.get(MAPPINGS + "billing")
    assert entry is not None
    stale = dataclasses.replace(mapping(version=1), written_by="rogue")
    assert await other.cas(entry.key, encode(mapping_to_dict(stale)), entry.index)
    # The next good write shows ``b`` has followed past the rogue one without taking it.
    search = await next_mapping(b, "search")
    await other.cas("mappings/search", encode(mapping_to_dict(mapping(service="search"))), 0)
    await asyncio.wait_for(search.get(), DEADLINE)

    assert b.get("billing") == newer


async def test_a_lost_race_reads_the_winner_back(pair: Pair) -> None:
    a, b, _ = pair
    heard = await next_mapping(b)
    await a.put(mapping(version=1))
    await asyncio.wait_for(heard.get(), DEADLINE)
    # Both decide on version 1 and write at once: the store lets exactly one win (which
    # one is up to the store; a network store may answer either first).
    results = await asyncio.gather(
        a.put(mapping(version=2, epoch=2, site="gcp-euw1")),
        b.put(mapping(version=2, site="aws-use1")),
        return_exceptions=True,
    )

    won = next(result for result in results if isinstance(result, Mapping))
    lost = next(result for result in results if not isinstance(result, Mapping))
    assert isinstance(lost, ConflictError)
    assert f"now holds version 2 by {won.written_by}" in str(lost)
    loser = b if won.written_by == "gtm-a" else a
    assert loser.get("billing") == won
