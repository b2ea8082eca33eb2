"""Fencing on a real cluster: a deposed leader's writes are refused by Consul itself.

Two members of one cluster run in this process on one prefix, each with its own store.
The first leads and writes; it is then frozen (its session no longer passed, as a
stopped process's would be); the second takes over; the first, writing with the session
it still remembers, is refused by the transaction's session check, and its registry
refuses a mapping of a lower term than the stored one. A commit of many writes is fenced
the same way: its mapping writes are refused with their journal records, while records
that go with no mapping still go in.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from consul_stores import fresh_prefix, store_on

from gtm.cluster.leadership import LEADER
from gtm.cluster.member import ClusterMember
from gtm.cluster.session import SessionParams
from gtm.core.leadership import writer
from gtm.core.model import Mapping
from gtm.errors import ConflictError
from gtm.registry.registry import MAPPINGS, Registry
from gtm.registry.store import Record, RecordFilter, Write
from gtm.registry.stores.consul import ConsulStore
from testbed.consul import ConsulCluster

DEADLINE = 60.0
PARAMS = SessionParams(check_ttl=1.0, pass_interval=0.2, lock_delay=0.5)


async def until(condition: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while not condition():
        assert loop.time() < deadline, f"not within {DEADLINE}s: {what}"
        await asyncio.sleep(0.05)


def member(
    store: ConsulStore, name: str, fence: Callable[[], str | None] | None = None
) -> ClusterMember:
    made = ClusterMember(
        store, store.prefix, name, f"{name}:1", PARAMS, confirm_interval=0.2, margin=0.1
    )
    store.fence(MAPPINGS, LEADER, fence or made.fencing_session)
    return made


def mapping(version: int, by: str, site: str) -> Mapping:
    return Mapping("billing", version, 1, 5, site, (), written_by=by)


async def test_a_deposed_leader_cannot_write(consul_cluster: ConsulCluster) -> None:
    prefix = fresh_prefix()
    first_store, second_store = store_on(consul_cluster, prefix), store_on(consul_cluster, prefix)
    remembered: list[str | None] = [None]
    first = member(first_store, "site-a", lambda: remembered[0])
    second = member(second_store, "site-b")
    first_registry = await Registry.open(first_store, "site-a")
    second_registry = await Registry.open(second_store, "site-b")
    try:
        await first.start()
        await until(first.acting, "site-a leading")
        await second.start()
        first_term = first.leadership.term
        remembered[0] = first.session.id
        await first_registry.put(mapping(1, writer("site-a", first_term), "site-a"))

        # Frozen: nothing of site-a runs any more, so Consul ends its session.
        depose(first)
        await until(second.acting, "site-b leading")
        second_term = second.leadership.term
        assert second_term > first_term
        await until(lambda: first_registry.get("billing") is not None, "site-a following")

        # site-a wakes with the session it remembers: Consul refuses the write.
        with pytest.raises(ConflictError):
            await first_registry.put(mapping(2, writer("site-a", first_term), "site-c"))
        await until(lambda: second_registry.get("billing") is not None, "site-b following")
        await second_registry.put(mapping(2, writer("site-b", second_term), "site-b"))
        stored = await second_store.get(MAPPINGS + "billing")
        assert stored is not None and b"site-b term" in stored.value

        # And a mapping of the older term is refused before it is even sent.
        await until(lambda: first_registry.get("billing").version == 2, "site-a following")  # type: ignore[union-attr]
        with pytest.raises(ConflictError, match="deposed leader"):
            await first_registry.put(mapping(3, writer("site-a", first_term), "site-c"))
        stored = await second_store.get(MAPPINGS + "billing")
        assert stored is not None and b"site-b term" in stored.value
    finally:
        await second.stop()
        await first.stop()
        await first_registry.close()
        await second_registry.close()


def depose(made: ClusterMember) -> None:
    """Freeze ``made``: nothing of it runs any more, so Consul ends its session."""
    for task in [made.session._task, *made.leadership._tasks]:
        assert task is not None
        task.cancel()


async def test_a_deposed_leaders_commit_is_refused(consul_cluster: ConsulCluster) -> None:
    prefix = fresh_prefix()
    first_store, second_store = store_on(consul_cluster, prefix), store_on(consul_cluster, prefix)
    remembered: list[str | None] = [None]
    first = member(first_store, "site-a", lambda: remembered[0])
    second = member(second_store, "site-b")
    try:
        await first.start()
        await until(first.acting, "site-a leading")
        await second.start()
        remembered[0] = first.session.id
        moved = Record(b"moved while leading", time.time(), "move", "billing", ("site-a",))
        [led] = await first_store.commit([Write(MAPPINGS + "billing", b"v1", 0, (moved,))])
        assert led.applied and led.entry is not None

        depose(first)
        await until(second.acting, "site-b leading")

        # site-a wakes with the session it remembers and commits a burst: Consul refuses
        # every mapping write of it, and the move records that go with them.
        late = Record(b"moved once deposed", time.time(), "move", "billing", ("site-c",))
        verdict = Record(b"a verdict", time.time(), "health", "billing", ("site-a",))
        billing, orders, journal = await first_store.commit(
            [
                Write(MAPPINGS + "billing", b"v2 deposed", led.entry.index, (late,)),
                Write(MAPPINGS + "orders", b"v1 deposed", 0),
                Write(None, records=(verdict,)),
            ]
        )
        assert (billing.applied, billing.entry, billing.records) == (False, None, ())
        assert (orders.applied, orders.entry, orders.records) == (False, None, ())
        assert journal.applied and [r.value for r in journal.records] == [b"a verdict"]
        stored = await second_store.get(MAPPINGS + "billing")
        assert stored is not None and stored.value == b"v1"
        assert await second_store.get(MAPPINGS + "orders") is None
        journaled = await second_store.records(RecordFilter(service="billing"))
        assert sorted(r.value for r in journaled) == [b"a verdict", b"moved while leading"]

        # The new leader's commit, checked against its own session, goes in.
        [now] = await second_store.commit([Write(MAPPINGS + "billing", b"v2", stored.index)])
        assert now.applied
        stored = await first_store.get(MAPPINGS + "billing")
        assert stored is not None and stored.value == b"v2"
    finally:
        await second.stop()
        await first.stop()
        await first_store.close()
        await second_store.close()


async def test_a_member_that_does_not_act_sends_no_write(consul_cluster: ConsulCluster) -> None:
    prefix = fresh_prefix()
    store = store_on(consul_cluster, prefix)
    idle = member(store, "site-c")  # never started: no session, no lease
    registry = await Registry.open(store, "site-c")
    try:
        with pytest.raises(ConflictError):
            await registry.put(mapping(1, "site-c", "site-a"))
        assert await store.get(MAPPINGS + "billing") is None
        assert idle.acting_as() is None
    finally:
        await registry.close()
