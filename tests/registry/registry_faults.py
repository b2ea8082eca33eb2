"""A store wrapper that fails, loses races or yields on demand.

Real stores rarely fail at the moment a test needs them to, and the memory store never
yields to the event loop; this wrapper makes both happen on purpose.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from gtm.errors import StoreUnavailable
from gtm.registry.store import Entry, Record, RecordFilter, Store, Write, Written


class FaultyStore:
    """Delegates to ``inner``, except where a test asked for a fault.

    Attributes:
        failing: Names of methods (``get``, ``list``, ``cas``, ``delete``, ``watch``,
            ``append``, ``records``, ``trim``, ``commit``) that raise StoreUnavailable; a
            commit also fails when it holds a write and ``cas`` fails, or a record and
            ``append`` fails.
        losing: Keys whose ``cas`` (alone or in a commit) reports a lost race without
            writing.
        yielding: Whether every call first yields to the event loop, so concurrent tasks
            interleave between a read and the write that depends on it.
    """

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.failing: set[str] = set()
        self.losing: set[str] = set()
        self.yielding = False

    async def get(self, key: str) -> Entry | None:
        await self._enter("get")
        return await self.inner.get(key)

    async def list(self, prefix: str) -> list[Entry]:
        await self._enter("list")
        return await self.inner.list(prefix)

    async def cas(self, key: str, value: bytes, index: int) -> Entry | None:
        await self._enter("cas")
        if key in self.losing:
            return None
        return await self.inner.cas(key, value, index)

    async def commit(self, writes: Sequence[Write]) -> list[Written]:
        await self._enter("commit")
        if any(write.key is not None for write in writes):
            await self._enter("cas")
        if any(write.records for write in writes):
            await self._enter("append")
        kept = [write for write in writes if write.key not in self.losing]
        done = iter(await self.inner.commit(kept))
        return [
            Written(None, (), False) if write.key in self.losing else next(done) for write in writes
        ]

    async def delete(self, key: str, index: int | None = None) -> bool:
        await self._enter("delete")
        return await self.inner.delete(key, index)

    async def watch(self, prefix: str, index: int, timeout: float) -> tuple[int, list[Entry]]:
        await self._enter("watch")
        return await self.inner.watch(prefix, index, timeout)

    async def append(self, record: Record) -> Record:
        await self._enter("append")
        return await self.inner.append(record)

    async def records(self, where: RecordFilter) -> list[Record]:
        await self._enter("records")
        return await self.inner.records(where)

    async def trim(self, keep: int) -> int:
        await self._enter("trim")
        return await self.inner.trim(keep)

    def busy_for(self) -> float:
        return self.inner.busy_for()

    async def close(self) -> None:
        await self.inner.close()

    async def _enter(self, method: str) -> None:
        if self.yielding:
            await asyncio.sleep(0)
        if method in self.failing:
            raise StoreUnavailable(f"faulty store: {method} made to fail")
