"""Group commit: the writes asked for while the store is busy go to it together, as one.

When a whole site is lost, a thousand services move within one probe interval, and each
move is a mapping and a journal event. Written one by one, that is two thousand
transactions, each waiting for the disk (or a Consul round trip) behind the others.
Queued instead, every write asked for during one turn of the event loop, or while the
previous commit is on its way, goes in the next :meth:`gtm.registry.store.Store.commit`:
one transaction for the burst, whatever its size, while a single write still goes out on
the next turn of the loop. Each write keeps its own compare-and-set and its own outcome.

Outcomes are handed back ``OUTCOME_SLICE`` at a time, one slice per turn of the loop:
every writer resumes when its outcome is set (updates caches, calls subscribers, logs),
and a thousand of them resumed in one turn would hold the loop for all of them at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from gtm.errors import StoreUnavailable
from gtm.registry.store import Store, Write, Written
from gtm.slices import in_slices

log = logging.getLogger(__name__)

OUTCOME_SLICE = 50
"""Most writers of one commit resumed in one turn of the event loop."""


class Commits:
    """Writes to one store, committed in batches of whatever is waiting.

    Args:
        store: Where the writes go.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._waiting: list[tuple[Write, asyncio.Future[Written]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def write(self, write: Write) -> Written:
        """Queue ``write`` for the next commit and wait for its outcome.

        Raises:
            StoreUnavailable: The commit that carried it failed.
        """
        future: asyncio.Future[Written] = asyncio.get_running_loop().create_future()
        self._waiting.append((write, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="registry-commits")
        return await future

    async def close(self) -> None:
        """Stop committing; writes still waiting fail with StoreUnavailable."""
        flusher, self._flusher = self._flusher, None
        if flusher is not None:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
        self._fail(self._waiting, StoreUnavailable("registry: closed before the write"))
        self._waiting = []

    async def _flush(self) -> None:
        while self._waiting:
            batch = self._next_batch()
            try:
                outcomes = await self._store.commit([write for write, _ in batch])
            except BaseException as exc:
                failure = exc if isinstance(exc, Exception) else StoreUnavailable("cancelled")
                self._fail(batch, failure)
                if not isinstance(exc, Exception):
                    raise
                continue
            await self._hand_back(batch, outcomes)
            if len(batch) > 1:
                log.debug("registry: %d writes committed together", len(batch))

    @classmethod
    async def _hand_back(
        cls, batch: list[tuple[Write, asyncio.Future[Written]]], outcomes: list[Written]
    ) -> None:
        """Set each write's outcome, yielding a turn of the loop after every slice; if
        cancelled meanwhile, the rest are set at once (they are committed)."""
        pairs = list(zip(batch, outcomes, strict=True))
        try:
            async for part in in_slices(pairs, OUTCOME_SLICE):
                cls._settle(part)
        except BaseException:
            cls._settle(pairs)
            raise

    @staticmethod
    def _settle(pairs: Sequence[tuple[tuple[Write, asyncio.Future[Written]], Written]]) -> None:
        for (_, future), outcome in pairs:
            if not future.done():
                future.set_result(outcome)

    def _next_batch(self) -> list[tuple[Write, asyncio.Future[Written]]]:
        """The waiting writes, but at most one per key (a later one waits its turn)."""
        batch: list[tuple[Write, asyncio.Future[Written]]] = []
        later: list[tuple[Write, asyncio.Future[Written]]] = []
        keys: set[str] = set()
        for item in self._waiting:
            key = item[0].key
            if key is not None and key in keys:
                later.append(item)
                continue
            if key is not None:
                keys.add(key)
            batch.append(item)
        self._waiting = later
        return batch

    @staticmethod
    def _fail(batch: list[tuple[Write, asyncio.Future[Written]]], exc: Exception) -> None:
        for _, future in batch:
            if not future.done():
                future.set_exception(exc)
