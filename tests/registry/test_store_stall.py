"""Another process holding the SQLite write lock delays gtm's writes, never its event loop.

The holder is a real second process with ``BEGIN IMMEDIATE`` open, as a ``sqlite3`` shell
in a transaction or a backup would be. The loop's responsiveness is measured by a ticker
task: it must keep ticking while the write waits, which an inline call would prevent.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest

from gtm.errors import StoreStalled, StoreUnavailable
from gtm.registry.store import Record
from gtm.registry.stores import MemoryStore, SqliteStore

HOLD = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
print("released", flush=True)
"""
"""A process that takes the database's write lock and holds it until told to let go."""

TICKS = 5
"""Ticks the loop must make while a write waits."""


@contextmanager
def write_lock(path: Path) -> Iterator[subprocess.Popen[str]]:
    """Hold ``path``'s write lock in another process until the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        yield holder
    finally:
        release(holder)


def release(holder: subprocess.Popen[str]) -> None:
    """Let the holder commit and exit (killed if it does not), waiting for it to end."""
    if holder.poll() is None:
        try:
            holder.communicate("\n", timeout=10)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()


class Ticker:
    """Counts how often the event loop got to run a task that sleeps between ticks."""

    def __init__(self) -> None:
        self.ticks = 0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(0.005)
            self.ticks += 1

    async def advance(self, ticks: int) -> None:
        """Return once the ticker has ticked ``ticks`` more times."""
        target = self.ticks + ticks
        while self.ticks < target:
            await asyncio.sleep(0.005)


@asynccontextmanager
async def ticking() -> AsyncIterator[Ticker]:
    ticker = Ticker()
    task = asyncio.create_task(ticker.run())
    try:
        yield ticker
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_write_waits_for_another_process_while_the_loop_keeps_running(
    db_path: Path,
) -> None:
    store = SqliteStore(db_path, exclusive=True, busy_timeout=60.0)
    try:
        async with ticking() as ticker:
            with write_lock(db_path) as holder:
                write = asyncio.create_task(store.cas("mappings/billing", b"v1", 0))
                await ticker.advance(TICKS)

                assert not write.done()
                assert store.busy_for() > 0.0
                # Reads queue behind the write in the store's thread, off the loop too.
                read = asyncio.create_task(store.get("mappings/billing"))
                await ticker.advance(TICKS)
                assert not read.done()
                release(holder)
                written = await write

            assert written is not None and written.value == b"v1"
            assert await read == written
            assert store.busy_for() == 0.0
    finally:
        await store.close()


async def test_a_write_that_waits_past_its_bound_reports_a_stalled_store(db_path: Path) -> None:
    store = SqliteStore(db_path, busy_timeout=0.2)
    try:
        async with ticking() as ticker:
            with write_lock(db_path):
                before = ticker.ticks
                with pytest.raises(StoreStalled) as stalled:
                    await store.cas("mappings/billing", b"v1", 0)
                assert ticker.ticks > before

        assert isinstance(stalled.value, StoreUnavailable)  # retryable, like any outage
        assert stalled.value.path == str(db_path)
        assert stalled.value.waited == 0.2
        assert str(db_path) in str(stalled.value) and "cas 'mappings/billing'" in str(stalled.value)
        # Nothing was written, and the store works once the lock is gone.
        assert await store.get("mappings/billing") is None
        assert await store.cas("mappings/billing", b"v1", 0) is not None
    finally:
        await store.close()


async def test_the_journal_waits_off_the_loop_too(db_path: Path) -> None:
    store = SqliteStore(db_path, busy_timeout=0.2)
    try:
        async with ticking() as ticker:
            with write_lock(db_path):
                before = ticker.ticks
                with pytest.raises(StoreStalled, match="append to the journal"):
                    await store.append(Record(b"{}", 1.0, "move"))
                assert ticker.ticks > before
    finally:
        await store.close()


async def test_watchers_keep_watching_while_a_write_waits(db_path: Path) -> None:
    store = SqliteStore(db_path, busy_timeout=60.0)
    try:
        await store.cas("mappings/billing", b"v1", 0)
        index, _ = await store.watch("mappings/", 0, 0)
        with write_lock(db_path) as holder:
            watch = asyncio.create_task(store.watch("mappings/", index, 30.0))
            write = asyncio.create_task(store.cas("mappings/search", b"v1", 0))
            await asyncio.sleep(0.05)
            assert not write.done() and not watch.done()
            release(holder)
            await write
        seen, entries = await watch
        assert seen > index
        assert [entry.key for entry in entries] == ["mappings/billing", "mappings/search"]
    finally:
        await store.close()


async def test_calls_after_close_are_unavailable(db_path: Path) -> None:
    store = SqliteStore(db_path)
    await store.close()

    with pytest.raises(StoreUnavailable, match="closed"):
        await store.cas("k", b"v", 0)
    assert store.busy_for() == 0.0


async def test_the_memory_store_is_never_busy() -> None:
    store = MemoryStore()
    await store.cas("k", b"v", 0)

    assert store.busy_for() == 0.0
