"""An instance's Consul session on a real cluster: made, kept, ended, lost when not passed."""

from __future__ import annotations

import asyncio

from consul_stores import fresh_prefix, store_on

from gtm.cluster.session import ClusterSession, SessionParams
from testbed.consul import ConsulCluster

DEADLINE = 30.0


async def wait_for(condition: object, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, f"not within {DEADLINE}s: {what}"
        await asyncio.sleep(0.05)


async def test_a_session_is_made_kept_and_ended(consul_cluster: ConsulCluster) -> None:
    store = store_on(consul_cluster, fresh_prefix())
    session = ClusterSession(store, "site-a", SessionParams(check_ttl=2, pass_interval=0.3))
    try:
        await session.start()
        first = session.id
        assert first is not None
        assert session.valid_until > asyncio.get_running_loop().time()
        await asyncio.sleep(3.0)  # past the check's TTL: kept alive by the passes
        assert session.id == first
        status, info = await store.call("GET", f"/v1/session/info/{first}")
        assert status == 200 and info[0]["Behavior"] == "release"
        assert session.check_id in info[0]["Checks"]
        await session.stop()
        assert session.id is None
        status, info = await store.call("GET", f"/v1/session/info/{first}")
        assert not info
    finally:
        await session.stop()
        await store.close()


async def test_a_session_not_passed_in_time_ends_and_a_new_one_is_made(
    consul_cluster: ConsulCluster,
) -> None:
    store = store_on(consul_cluster, fresh_prefix())
    params = SessionParams(check_ttl=1, pass_interval=0.2, lock_delay=0.5)
    session = ClusterSession(store, "site-b", params)
    try:
        await session.start()
        first = session.id
        assert first is not None

        async def gone() -> bool:
            _, info = await store.call("GET", f"/v1/session/info/{first}")
            return not info

        # The keeper stops passing (as a stopped process would): Consul ends the session.
        assert session._task is not None
        session._task.cancel()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE
        while not await gone():
            assert loop.time() < deadline, "the session outlived its check"
            await asyncio.sleep(0.1)
        # Kept again: the keeper sees it was late, and makes a new session.
        session._task = asyncio.create_task(session._keep())
        await wait_for(lambda: session.id not in {None, first}, "a new session")
    finally:
        await session.stop()
        await store.close()
