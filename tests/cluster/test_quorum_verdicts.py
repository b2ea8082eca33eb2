"""Vantages' verdicts on a real Consul cluster: published in batches, held by the session,
gone when the instance's session ends, published again under a new session."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import consul.aio

from gtm.cluster.session import ClusterSession, SessionParams
from gtm.cluster.verdicts import VantageWatch, VerdictBoard, verdicts_client
from gtm.core.health import Verdict
from gtm.core.quorum import VantageReport
from gtm.registry.stores.consul import ConsulStore
from testbed.consul import ConsulCluster

DEADLINE = 30.0
PARAMS = SessionParams(check_ttl=1, pass_interval=0.2, lock_delay=0.5)


def fresh_prefix() -> str:
    return f"gtm-quorum/{uuid.uuid4().hex[:8]}/"


def store_on(cluster: ConsulCluster, prefix: str, server: int) -> ConsulStore:
    return ConsulStore(cluster.servers[server].http_address, prefix, token=cluster.token)


async def wait_for(condition: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while not condition():
        assert loop.time() < deadline, f"not within {DEADLINE}s: {what}"
        await asyncio.sleep(0.02)


@dataclass
class Instance:
    """One instance's session and verdict board, on its own Consul server."""

    store: ConsulStore
    session: ClusterSession
    board: VerdictBoard
    client: consul.aio.Consul


@asynccontextmanager
async def instances(
    cluster: ConsulCluster, prefix: str, *names: str
) -> AsyncIterator[list[Instance]]:
    made: list[Instance] = []
    try:
        for n, name in enumerate(names):
            store = store_on(cluster, prefix, server=n % len(cluster.servers))
            session = ClusterSession(store, name, PARAMS)
            address = cluster.servers[n % len(cluster.servers)].http_address
            client = verdicts_client(address, cluster.token, None)
            board = VerdictBoard(client, prefix, name, session, token=cluster.token)
            made.append(Instance(store, session, board, client))
            await session.start()
            await board.start()
        yield made
    finally:
        for instance in made:
            await instance.board.stop()
            await instance.client.close()
            await instance.session.stop()
            await instance.store.close()


@asynccontextmanager
async def watching(
    cluster: ConsulCluster, prefix: str
) -> AsyncIterator[list[dict[str, VantageReport]]]:
    seen: list[dict[str, VantageReport]] = []
    client = verdicts_client(cluster.servers[2].http_address, cluster.token, None)
    watch = VantageWatch(client, prefix, seen.append)
    try:
        await watch.start()
        yield seen
    finally:
        await watch.stop()
        await client.close()


def latest(seen: list[dict[str, VantageReport]]) -> dict[str, VantageReport]:
    return seen[-1] if seen else {}


async def test_a_site_s_locators_are_published_in_one_batch_and_read_by_every_instance(
    consul_cluster: ConsulCluster,
) -> None:
    prefix = fresh_prefix()
    locators = [f"svc-{n}@site-a/lb-{n}" for n in range(40)]
    async with (
        instances(consul_cluster, prefix, "gtm-a", "gtm-b") as (a, b),
        watching(consul_cluster, prefix) as seen,
    ):
        await wait_for(lambda: set(latest(seen)) == {"gtm-a", "gtm-b"}, "both vantages live")
        before = a.board.published
        for locator in locators:
            a.board.set_verdict(locator, Verdict.DOWN)
            b.board.set_verdict(locator, Verdict.UP)
        await wait_for(
            lambda: len(latest(seen).get("gtm-a", VantageReport("")).verdicts) == 40,
            "gtm-a's 40 verdicts",
        )
        # 40 changes in the same moment: one transaction (two, should a publication of
        # the vantage's own state have been under way), not forty.
        written = a.board.published - before
        assert 1 <= written <= 2, f"{written} transactions for 40 verdicts"
        a.board.set_vantage(True, ("event loop 0.500s late",))
        await wait_for(lambda: latest(seen)["gtm-a"].degraded, "gtm-a degraded")
        report = latest(seen)["gtm-a"]
        assert report.reasons == ("event loop 0.500s late",)
        assert set(report.verdicts.values()) == {Verdict.DOWN}
        await wait_for(
            lambda: (
                set(latest(seen)["gtm-b"].verdicts.values()) == {Verdict.UP}
                and len(latest(seen)["gtm-b"].verdicts) == 40
            ),
            "gtm-b's verdicts",
        )


async def test_a_dead_instance_s_votes_vanish_and_come_back_with_a_new_session(
    consul_cluster: ConsulCluster,
) -> None:
    prefix = fresh_prefix()
    locator = "billing@site-a/lb-1"
    async with (
        instances(consul_cluster, prefix, "gtm-a", "gtm-b") as (a, b),
        watching(consul_cluster, prefix) as seen,
    ):
        a.board.set_verdict(locator, Verdict.DOWN)
        b.board.set_verdict(locator, Verdict.UP)
        await wait_for(
            lambda: (
                latest(seen).get("gtm-a", VantageReport("")).verdicts == {locator: Verdict.DOWN}
                and "gtm-b" in latest(seen)
            ),
            "both vantages' verdicts",
        )
        first = a.session.id
        # gtm-a stops passing its check, as a dead or stopped process does.
        assert a.session._task is not None
        a.session._task.cancel()
        await wait_for(lambda: "gtm-a" not in latest(seen), "gtm-a's votes gone")
        assert "gtm-b" in latest(seen)
        # Kept again: a new session, and every verdict published again under it.
        a.session._task = asyncio.create_task(a.session._keep())
        await wait_for(lambda: a.session.id not in {None, first}, "a new session")
        await wait_for(
            lambda: (
                latest(seen).get("gtm-a", VantageReport("")).verdicts == {locator: Verdict.DOWN}
            ),
            "gtm-a's verdicts again",
        )
