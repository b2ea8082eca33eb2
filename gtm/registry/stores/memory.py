"""A store that lives in the process, for tests, demos and single-shot runs.

Every method but ``watch`` runs to completion without yielding to the event loop, which is
what makes its compare-and-set atomic without a lock. Registries sharing one memory store
see each other's writes through ``watch``, woken by the write itself. The journal keeps,
per service, kind and site, the sequence numbers of its records, so a search looks only at
the records of the smallest of those that applies.
"""

from __future__ import annotations

import asyncio
import bisect
import builtins
import heapq
import itertools
from collections.abc import Iterable, Sequence
from typing import TypeVar

from gtm.errors import StoreUnavailable
from gtm.registry.store import Entry, Record, RecordFilter, Write, Written, check_distinct

_K = TypeVar("_K")


class MemoryStore:
    """A :class:`gtm.registry.store.Store` backed by a dict; forgotten when the process ends."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}
        self._last_index = 0
        self._closed = False
        self._changed: asyncio.Event | None = None
        self._records: dict[int, Record] = {}
        self._last_seq = 0
        # Sequence numbers in ascending order, per value of each searchable field.
        self._by_service: dict[str | None, list[int]] = {}
        self._by_kind: dict[str, list[int]] = {}
        self._by_site: dict[str, list[int]] = {}

    async def get(self, key: str) -> Entry | None:
        """The entry at ``key``, or None when there is none."""
        self._check_open()
        return self._entries.get(key)

    async def list(self, prefix: str) -> builtins.list[Entry]:
        """Every entry whose key starts with ``prefix``, sorted by key."""
        self._check_open()
        # Only the keys under the prefix are sorted: the registry lists intents and runs
        # after every commit, and ten thousand mappings need not be sorted for them.
        return [
            self._entries[key] for key in sorted(k for k in self._entries if k.startswith(prefix))
        ]

    async def cas(self, key: str, value: bytes, index: int) -> Entry | None:
        """Write ``value`` at ``key`` if its index is still ``index`` (0: absent)."""
        self._check_open()
        current = self._entries.get(key)
        current_index = 0 if current is None else current.index
        if current_index != index:
            return None
        self._last_index += 1
        entry = Entry(key, value, self._last_index)
        self._entries[key] = entry
        self._notify()
        return entry

    async def delete(self, key: str, index: int | None = None) -> bool:
        """Remove ``key``; with ``index``, only if the key still has that index."""
        self._check_open()
        current = self._entries.get(key)
        if current is None or (index is not None and current.index != index):
            return False
        del self._entries[key]
        self._last_index += 1  # a delete has an index too, so watchers see it
        self._notify()
        return True

    async def watch(
        self, prefix: str, index: int, timeout: float
    ) -> tuple[int, builtins.list[Entry]]:
        """Wait until a write takes the store past ``index``, then list ``prefix``."""
        self._check_open()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._last_index <= index and not self._closed:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            if self._changed is None:
                self._changed = asyncio.Event()
            try:
                async with asyncio.timeout(remaining):
                    await self._changed.wait()
            except TimeoutError:
                break
        return self._last_index, await self.list(prefix)

    async def commit(self, writes: Sequence[Write]) -> builtins.list[Written]:
        """Apply each write whose condition holds, with its records, without yielding."""
        self._check_open()
        check_distinct(writes)
        done: builtins.list[Written] = []
        for write in writes:
            entry: Entry | None = None
            if write.key is not None:
                current = self._entries.get(write.key)
                if (0 if current is None else current.index) != write.index:
                    done.append(Written(None, (), False))
                    continue
                self._last_index += 1
                entry = self._entries[write.key] = Entry(write.key, write.value, self._last_index)
            records = tuple(self._append(record) for record in write.records)
            done.append(Written(entry, records, True))
        self._notify()
        return done

    async def append(self, record: Record) -> Record:
        """Add ``record`` to the journal with the next sequence number."""
        self._check_open()
        return self._append(record)

    def _append(self, record: Record) -> Record:
        self._last_seq += 1
        stored = Record(
            record.value,
            record.time,
            record.kind,
            record.service,
            tuple(dict.fromkeys(record.sites)),
            self._last_seq,
        )
        self._records[stored.seq] = stored
        self._by_service.setdefault(stored.service, []).append(stored.seq)
        self._by_kind.setdefault(stored.kind, []).append(stored.seq)
        for site in stored.sites:
            self._by_site.setdefault(site, []).append(stored.seq)
        return stored

    async def records(self, where: RecordFilter) -> builtins.list[Record]:
        """The newest ``where.limit`` journal records matching ``where``, newest first."""
        self._check_open()
        if where.limit <= 0:
            return []
        matches = (
            record
            for record in (self._records[seq] for seq in self._candidates(where))
            if _matches(record, where)
        )
        return heapq.nlargest(where.limit, matches, key=lambda record: (record.time, record.seq))

    async def trim(self, keep: int) -> int:
        """Remove every journal record but the newest ``keep``; returns how many went."""
        self._check_open()
        # Keys are in insertion order, which is sequence order.
        doomed = list(itertools.islice(self._records, max(0, len(self._records) - max(keep, 0))))
        if not doomed:
            return 0
        for seq in doomed:
            del self._records[seq]
        first_kept = doomed[-1] + 1
        _cut(self._by_service, first_kept)
        _cut(self._by_kind, first_kept)
        _cut(self._by_site, first_kept)
        return len(doomed)

    def busy_for(self) -> float:
        """Always 0.0: every call but ``watch`` completes before it returns to the loop."""
        return 0.0

    async def close(self) -> None:
        """Drop every entry and release watchers; later calls raise StoreUnavailable."""
        self._closed = True
        self._entries.clear()
        self._records.clear()
        self._notify()

    def _candidates(self, where: RecordFilter) -> Iterable[int]:
        """The sequence numbers a search must look at: those of the smallest index that
        applies, or the whole journal when none does."""
        lists: builtins.list[builtins.list[int]] = []
        if where.service is not None:
            lists.append(self._by_service.get(where.service, []))
        if where.kind is not None:
            lists.append(self._by_kind.get(where.kind, []))
        if where.site is not None:
            lists.append(self._by_site.get(where.site, []))
        if not lists:
            return self._records
        return min(lists, key=len)

    def _notify(self) -> None:
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("memory store: closed")


def _matches(record: Record, where: RecordFilter) -> bool:
    return (
        (where.service is None or record.service == where.service)
        and (where.kind is None or record.kind == where.kind)
        and (where.site is None or where.site in record.sites)
        and (where.since is None or record.time >= where.since)
        and (where.until is None or record.time < where.until)
    )


def _cut(index: dict[_K, list[int]], first_kept: int) -> None:
    """Drop the sequence numbers below ``first_kept`` from every list of ``index``."""
    for key in list(index):
        seqs = index[key]
        del seqs[: bisect.bisect_left(seqs, first_kept)]
        if not seqs:
            del index[key]
