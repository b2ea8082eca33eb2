"""Long polls: answer at once when the client is behind, wake on a write, else time out."""

from __future__ import annotations

import asyncio

from registry_samples import mapping

from gtm.registry.registry import Registry
from gtm.registry.watch import Watchers

HANG_GUARD = 5.0
"""Seconds after which a test that should have been woken fails instead of hanging."""


async def test_a_client_behind_the_current_version_gets_it_at_once(registry: Registry) -> None:
    stored = await registry.put(mapping(version=1))
    await registry.put(mapping(version=2))

    waiter = asyncio.create_task(registry.wait("billing", 1, timeout=60))
    await asyncio.sleep(0)

    assert waiter.done()
    assert waiter.result() == registry.get("billing")
    assert waiter.result() != stored


async def test_a_put_by_another_task_wakes_the_waiter(registry: Registry) -> None:
    await registry.put(mapping(version=1))
    waiter = asyncio.create_task(registry.wait("billing", 1, timeout=60))
    await asyncio.sleep(0)
    assert not waiter.done()

    async def fail_over() -> None:
        await registry.put(mapping(version=2, epoch=2, site="gcp-euw1"))

    await asyncio.create_task(fail_over())

    woken = await asyncio.wait_for(waiter, HANG_GUARD)
    assert woken is not None
    assert (woken.version, woken.active_site) == (2, "gcp-euw1")


async def test_a_service_that_appears_wakes_its_waiters(registry: Registry) -> None:
    waiter = asyncio.create_task(registry.wait("billing", 0, timeout=60))
    await asyncio.sleep(0)

    stored = await registry.put(mapping(version=1))

    assert await asyncio.wait_for(waiter, HANG_GUARD) == stored


async def test_every_waiter_on_a_service_is_woken_by_one_put(registry: Registry) -> None:
    await registry.put(mapping(version=1))
    waiters = [asyncio.create_task(registry.wait("billing", 1, timeout=60)) for _ in range(200)]
    await asyncio.sleep(0)

    stored = await registry.put(mapping(version=2))

    results = await asyncio.wait_for(asyncio.gather(*waiters), HANG_GUARD)
    assert results == [stored] * 200


async def test_a_put_of_another_service_does_not_answer_the_poll(registry: Registry) -> None:
    current = await registry.put(mapping(version=1))

    waiter = asyncio.create_task(registry.wait("billing", 1, timeout=0.05))
    await asyncio.sleep(0)
    await registry.put(mapping(version=1, service="search"))

    assert await waiter == current


async def test_without_a_change_the_current_mapping_comes_back_on_timeout(
    registry: Registry,
) -> None:
    current = await registry.put(mapping(version=3))

    assert await registry.wait("billing", 3, timeout=0.05) == current


async def test_an_unknown_service_times_out_with_none(registry: Registry) -> None:
    assert await registry.wait("nothing", 0, timeout=0.05) is None


async def test_a_change_below_the_clients_index_keeps_it_waiting(registry: Registry) -> None:
    await registry.put(mapping(version=1))
    # The client claims version 2 already (say, from another instance): version 2 here
    # is no news to it, so the poll runs to its timeout and then reports what there is.
    waiter = asyncio.create_task(registry.wait("billing", 2, timeout=0.05))
    await asyncio.sleep(0)

    second = await registry.put(mapping(version=2))
    await asyncio.sleep(0)
    assert not waiter.done()

    assert await waiter == second


async def test_close_releases_waiters_with_the_current_mapping(registry: Registry) -> None:
    current = await registry.put(mapping(version=1))
    waiter = asyncio.create_task(registry.wait("billing", 1, timeout=60))
    await asyncio.sleep(0)

    await registry.close()

    assert await asyncio.wait_for(waiter, HANG_GUARD) == current


async def test_a_wake_with_nobody_waiting_does_not_wake_a_later_waiter() -> None:
    watchers = Watchers()
    watchers.wake("billing")

    assert await watchers.wait("billing", 0.05) is False


async def test_watchers_of_other_keys_stay_asleep() -> None:
    watchers = Watchers()
    billing = asyncio.create_task(watchers.wait("billing", 60))
    search = asyncio.create_task(watchers.wait("search", 0.05))
    await asyncio.sleep(0)

    watchers.wake("billing")

    assert await asyncio.wait_for(billing, HANG_GUARD) is True
    assert await search is False
