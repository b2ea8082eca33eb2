"""A long listing is applied a slice per turn of the loop, then whole, so following the
store never holds the loop for one long turn and deletions still see every key."""

from __future__ import annotations

import asyncio

from gtm.registry.follower import FOLLOW_SLICE, follow
from gtm.registry.store import Entry, Write
from gtm.registry.stores import MemoryStore


async def test_a_long_listing_is_applied_in_slices_then_whole() -> None:
    store = MemoryStore()
    count = 2 * FOLLOW_SLICE + 7
    calls: list[tuple[int, bool]] = []
    applied = asyncio.Event()

    def apply(index: int, entries: list[Entry], *, partial: bool = False) -> None:
        calls.append((len(entries), partial))
        if not partial:
            applied.set()

    task = asyncio.create_task(follow(store, "mappings/", 0, apply))
    try:
        await asyncio.sleep(0)
        await store.commit([Write(f"mappings/svc{n:05d}", b"{}", 0) for n in range(count)])
        await asyncio.wait_for(applied.wait(), 5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert calls == [(FOLLOW_SLICE, True), (FOLLOW_SLICE, True), (count, False)]


async def test_a_short_listing_is_applied_whole_at_once() -> None:
    store = MemoryStore()
    calls: list[tuple[int, bool]] = []
    applied = asyncio.Event()

    def apply(index: int, entries: list[Entry], *, partial: bool = False) -> None:
        calls.append((len(entries), partial))
        applied.set()

    task = asyncio.create_task(follow(store, "mappings/", 0, apply))
    try:
        await store.cas("mappings/billing", b"{}", 0)
        await asyncio.wait_for(applied.wait(), 5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert calls == [(1, False)]
