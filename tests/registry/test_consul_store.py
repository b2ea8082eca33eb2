"""What only the Consul store does: hold its prefix for one running gtm, say where a failure
came from, and keep working when one server of three is lost.

The cluster is real (three Consul servers on loopback addresses); the test that kills a
server starts a cluster of its own, so the shared one stays whole for the other tests.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from consul_cluster import consul_store, fresh_prefix
from pydantic import TypeAdapter

from gtm.config.stores import STORES
from gtm.errors import StoreInUse, StoreUnavailable
from gtm.registry.store import Record, RecordFilter
from gtm.registry.stores import open_store
from gtm.registry.stores.consul import ConsulStore
from testbed.consul import ConsulCluster, find_consul
from testbed.ports import free_port

HOLDER = f"pid {os.getpid()} on host {socket.gethostname()}"

DEADLINE = 60.0
"""A deadline no passing run comes near: the tests wait on the cluster, never on time."""


@pytest.fixture
async def opened(consul_cluster: ConsulCluster) -> AsyncIterator[Callable[..., ConsulStore]]:
    """Open Consul stores on the shared cluster; every one is closed at the end."""
    stores: list[ConsulStore] = []

    def open_store(prefix: str, server: int = 0, *, exclusive: bool = False) -> ConsulStore:
        store = consul_store(consul_cluster, prefix, server, exclusive=exclusive)
        stores.append(store)
        return store

    yield open_store
    for store in stores:
        await store.close()


async def test_a_second_exclusive_store_on_a_prefix_is_refused_naming_the_holder(
    opened: Callable[..., ConsulStore],
) -> None:
    prefix = fresh_prefix()
    first = opened(prefix, 0, exclusive=True)
    await first.cas("mappings/billing", b"v1", 0)
    second = opened(prefix, 1, exclusive=True)

    with pytest.raises(StoreInUse) as caught:
        await second.get("mappings/billing")

    assert caught.value.holder == HOLDER
    assert str(caught.value) == (
        f"{second.location}: in use by another gtm ({HOLDER}); stop it or give this one a"
        " store.prefix of its own"
    )


async def test_the_lock_goes_with_close_and_leaves_other_prefixes_and_readers_alone(
    opened: Callable[..., ConsulStore],
) -> None:
    prefix = fresh_prefix()
    first = opened(prefix, exclusive=True)
    await first.cas("k", b"v", 0)
    elsewhere = opened(fresh_prefix(), exclusive=True)
    reader = opened(prefix, 2)

    assert await elsewhere.cas("k", b"w", 0) is not None
    assert (await reader.get("k")) == await first.get("k")
    await first.close()

    again = opened(prefix, 1, exclusive=True)
    entry = await again.get("k")
    assert entry is not None and entry.value == b"v"


async def test_the_lock_and_the_journal_stay_out_of_listings(
    opened: Callable[..., ConsulStore],
) -> None:
    store = opened(fresh_prefix(), exclusive=True)
    written = await store.cas("mappings/a", b"a", 0)
    await store.append(Record(b"{}", 1.0, "move", "billing", ("a",)))

    assert await store.list("") == [written]


async def test_an_unreachable_agent_is_unavailable_naming_the_store() -> None:
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    store = ConsulStore(address, "gtm/")
    try:
        with pytest.raises(StoreUnavailable, match=rf"^consul store {address}/gtm/: get failed"):
            await store.get("mappings/billing")
        assert store.busy_for() == 0.0
    finally:
        await store.close()


@pytest.fixture
def own_cluster(tmp_path: Path) -> ConsulCluster:
    """A three-server cluster for one test, which may kill its servers; stopped after."""
    if find_consul() is None:
        pytest.skip("consul not installed (make consul installs it, as root with apt)")
    return ConsulCluster(tmp_path / "consul")


async def test_the_store_keeps_working_when_the_leader_of_three_servers_dies(
    own_cluster: ConsulCluster,
) -> None:
    own_cluster.start()
    try:
        leader = await asyncio.to_thread(own_cluster.servers[0].leader)
        dead = next(s for s in own_cluster.servers if leader.startswith(s.address + ":"))
        through = next(s for s in own_cluster.servers if s is not dead)
        store = ConsulStore(through.http_address, "gtm/")
        try:
            before = await store.cas("mappings/billing", b"v1", 0)
            assert before is not None
            index, _ = await store.watch("mappings/", 0, 0)

            dead.kill()
            # While the two left elect a leader, a call may be refused; none is wrong.
            after = None
            async with asyncio.timeout(DEADLINE):
                while after is None:
                    try:
                        after = await store.cas("mappings/billing", b"v2", before.index)
                    except StoreUnavailable:
                        await asyncio.sleep(0.1)
                        continue
                    assert after is not None, "a refused write must not have been applied"

            assert await store.get("mappings/billing") == after
            assert await store.list("mappings/") == [after]
            seen, entries = await store.watch("mappings/", index, DEADLINE)
            assert seen >= after.index and entries == [after]
        finally:
            await store.close()
    finally:
        own_cluster.stop()


async def test_the_token_from_the_config_reaches_consul(
    consul_cluster: ConsulCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert consul_cluster.token is not None
    monkeypatch.setenv("GTM_TEST_CONSUL_TOKEN", consul_cluster.token)
    section = TypeAdapter(STORES.union()).validate_python(
        {
            "type": "consul",
            "address": consul_cluster.addresses[1],
            "prefix": fresh_prefix(),
            "token": "env:GTM_TEST_CONSUL_TOKEN",
            "datacenter": "dc1",
        }
    )
    store = open_store(section, exclusive=True)
    try:
        # The write is a transaction, the read a KV query: both carry the token.
        written = await store.cas("mappings/billing", b"v1", 0)
        assert written is not None
        assert await store.get("mappings/billing") == written
    finally:
        await store.close()


async def test_without_the_token_the_store_is_refused_not_empty(
    consul_cluster: ConsulCluster,
) -> None:
    store = ConsulStore(consul_cluster.addresses[0], fresh_prefix())
    try:
        with pytest.raises(StoreUnavailable, match="Permission denied"):
            await store.get("mappings/billing")
        with pytest.raises(StoreUnavailable, match="Permission denied"):
            await store.cas("mappings/billing", b"v1", 0)
    finally:
        await store.close()


async def test_a_record_gone_between_listing_and_reading_is_left_out(
    opened: Callable[..., ConsulStore],
) -> None:
    store = opened(fresh_prefix())
    first, gone, last = [
        await store.append(Record(b"{}", 1.0 + n, "move", "billing")) for n in range(3)
    ]
    # What a trim by another writer does between a search's key listing and its reads:
    # the record goes, its index keys stay listed a moment longer.
    assert await store.delete(f"journal/r/{gone.seq:020d}")

    assert await store.records(RecordFilter(service="billing")) == [last, first]
