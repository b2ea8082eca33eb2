"""Following a store whose index goes backwards (Consul after reaping tombstones, or a
cluster restored from a snapshot): the follower starts over and applies what it reads.

A real Consul cluster does not go backwards on demand, so a store wrapper shifts the
indexes the follower sees, which is the fault itself.
"""

from __future__ import annotations

import asyncio
import builtins

from gtm.registry.follower import follow
from gtm.registry.store import Entry
from gtm.registry.stores import MemoryStore


class RebuiltStore(MemoryStore):
    """A memory store whose answers are shifted by ``offset`` until it is set to 0."""

    offset = 1000
    asked: builtins.list[int]

    async def watch(
        self, prefix: str, index: int, timeout: float
    ) -> tuple[int, builtins.list[Entry]]:
        self.asked.append(index)
        current, entries = await super().watch(prefix, 0, 0)
        if index - self.offset > current:
            # Past anything this store handed out: answered at once with its own index
            # (as the Consul store answers an index that went backwards).
            return current + self.offset, entries
        seen, entries = await super().watch(prefix, max(0, index - self.offset), timeout)
        return seen + self.offset, entries


async def test_an_index_that_goes_back_is_reset_and_the_listing_applied() -> None:
    store = RebuiltStore()
    store.asked = []
    applied: list[tuple[int, list[str]]] = []
    await store.cas("mappings/billing", b"v1", 0)
    task = asyncio.create_task(
        follow(
            store,
            "mappings/",
            0,
            lambda i, es, partial=False: applied.append((i, [e.key for e in es])),
        )
    )
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not applied:
            assert loop.time() < deadline
            await asyncio.sleep(0.01)
        # The store is rebuilt: its indexes are far below the ones handed out before.
        store.offset = 0
        await store.cas("mappings/payments", b"v1", 0)
        while not any("mappings/payments" in keys for _, keys in applied):
            assert loop.time() < deadline, (store.asked, applied)
            await asyncio.sleep(0.01)
        assert 0 in store.asked[1:], "the follower did not start over from index 0"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
