"""The small versioned key/value interface the registry keeps its documents in.

Keeping it to get, list, compare-and-set, delete and watch lets an in-process dict, an
embedded SQLite file and a Consul KV cluster all serve the same registry. The journal is
the one part that is not key/value: an append-only log the store can search by service,
kind, site and time, so that a filtered query costs what it returns rather than a scan of
every event. A burst of writes (every service of a lost site moving at once) goes in one
:meth:`Store.commit`: one transaction, not one per mapping and one per event.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored value with the index of the write that produced it.

    Attributes:
        key: Where the value is stored, e.g. ``mappings/billing``.
        value: The stored bytes (a JSON document for the registry).
        index: Modify index: positive, and larger than every index the store handed out
            before this write.
    """

    key: str
    value: bytes
    index: int


@dataclass(frozen=True, slots=True)
class Record:
    """One journal record: an opaque value and the fields it can be searched by.

    Attributes:
        value: The stored bytes (a JSON event for the registry); the store never reads them.
        time: Wall-clock time of the event, in seconds since the epoch.
        kind: What happened (``move``, ``run``, ``provider``, ``drift``).
        service: The service it happened to, or None for an event of no service.
        sites: The sites it concerns (the sites traffic moved from and to), without repeats.
        seq: The sequence number the store gave it on :meth:`Store.append` (0 before).
    """

    value: bytes
    time: float
    kind: str
    service: str | None = None
    sites: tuple[str, ...] = ()
    seq: int = 0


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """Which journal records a search returns; None matches anything.

    Attributes:
        service: Only records of this service.
        kind: Only records of this kind.
        site: Only records that name this site among their ``sites``.
        since: Only records whose ``time`` is at or after this.
        until: Only records whose ``time`` is before this.
        limit: At most this many records, the newest first: latest ``time``, then
            highest ``seq`` among records of the same time.
    """

    service: str | None = None
    kind: str | None = None
    site: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class Write:
    """One write of a :meth:`Store.commit`: a compare-and-set and the journal records that
    go with it.

    Attributes:
        key: Where to write, or None for records that go with no entry.
        value: What to write at ``key``.
        index: The condition, as for :meth:`Store.cas`: 0 to create ``key`` only if it is
            absent, otherwise the index it must still have.
        records: Journal records appended if, and only if, the write is applied.
    """

    key: str | None
    value: bytes = b""
    index: int = 0
    records: tuple[Record, ...] = ()


@dataclass(frozen=True, slots=True)
class Written:
    """What became of one :class:`Write` of a commit.

    Attributes:
        entry: The new entry; None when the write had no key or its condition failed.
        records: The write's records as stored, with their ``seq``; empty when the
            condition failed.
        applied: Whether the write (and its records) is in the store.
    """

    entry: Entry | None
    records: tuple[Record, ...]
    applied: bool


class Store(Protocol):
    """A versioned key/value store whose every write is a compare-and-set.

    Implementations must:

    - make ``cas`` and ``delete`` atomic: the condition is checked and the write applied
      as one step, so of two writers holding the same index exactly one wins;
    - give every successful write an index larger than any index handed out before, and
      never hand out an index again, even after the key is deleted or the store reopened;
    - for persistent stores, have the write durable by the time ``cas`` or ``delete``
      returns, so a version the registry published cannot come back after a crash;
    - return ``list`` results sorted by key (code point order);
    - give a delete an index too (larger than any before), so ``watch`` sees it;
    - raise :class:`gtm.errors.StoreUnavailable` when the backend fails or after
      ``close``, with the store's location in the message, and its subclass
      :class:`gtm.errors.StoreStalled` when a call gave up waiting for the backend
      (nothing of it was applied);
    - keep the event loop free: a call that waits on a disk, a lock or the network
      waits off the loop (a thread, or non-blocking I/O), so serving never stalls
      behind the store.

    Implementations must not report a failed condition as an error (``cas`` returns None
    and ``delete`` returns False), interpret the stored bytes, or retry a write on their
    own: the caller decides what a lost race means.
    """

    async def get(self, key: str) -> Entry | None:
        """The entry at ``key``, or None when there is none."""
        ...

    async def list(self, prefix: str) -> builtins.list[Entry]:
        """Every entry whose key starts with ``prefix``, sorted by key."""
        ...

    async def cas(self, key: str, value: bytes, index: int) -> Entry | None:
        """Write ``value`` at ``key`` if the key is still as the caller last saw it.

        Args:
            key: Where to write.
            value: What to write.
            index: 0 to create the key only if it is absent; otherwise the index the key
                must still have for the write to replace it.

        Returns:
            The new entry, or None when the condition failed and nothing was written.
        """
        ...

    async def delete(self, key: str, index: int | None = None) -> bool:
        """Remove ``key``; with ``index``, only if the key still has that index.

        Returns:
            True when an entry was removed, False when there was none or its index differed.
        """
        ...

    async def watch(
        self, prefix: str, index: int, timeout: float
    ) -> tuple[int, builtins.list[Entry]]:
        """Block until the store changes after ``index``, then list ``prefix``.

        This is a Consul blocking query on a KV prefix (``?recurse&index=N&wait=Ds``,
        answered with ``X-Consul-Index``): the answer is the *whole* listing, not a list
        of changes, so a deleted key shows as one that is no longer listed and no
        tombstones need keeping. Callers find what changed by comparing the listing
        with what they hold; an entry whose index is above the ``index`` they passed
        was written since.

        Args:
            prefix: The keys to list (``mappings/``).
            index: The index of the caller's last answer (0 before the first); the call
                answers at once when the store is already past it.
            timeout: Seconds to wait for a change before answering anyway; 0 reads the
                listing and its index without waiting.

        Returns:
            The store's index as of the listing, to pass to the next call, and every
            entry under ``prefix`` sorted by key. The call may return before
            ``timeout`` although nothing under ``prefix`` changed (a write elsewhere
            in the store, as Consul may): callers must not assume a change.
        """
        ...

    async def commit(self, writes: Sequence[Write]) -> builtins.list[Written]:
        """Apply many compare-and-sets and their journal records in as few transactions
        as the backend allows (one for SQLite; Consul's of at most 64 operations).

        Each write is judged on its own, exactly as :meth:`cas` judges it: one whose
        condition fails is left out with its records, and the others still go in.
        Writes to the same key within one commit are not allowed. Each applied write
        gets an index larger than any handed out before the commit, never smaller than
        that of the write before it (writes carried by one transaction may share one,
        as Consul gives a transaction a single index), and each record its own sequence
        number, so a watcher sees every entry that changed and the journal holds every
        event. Durability is as for :meth:`cas` by the time it returns.

        Args:
            writes: The writes, in order.

        Returns:
            One :class:`Written` per write, in the same order.

        Raises:
            ValueError: Two writes name the same key.
            StoreUnavailable: The backend failed; for SQLite nothing was applied, for
                Consul the transactions already applied stay (each write with its
                records is in one transaction, never split).
        """
        ...

    async def append(self, record: Record) -> Record:
        """Add ``record`` to the journal with the next sequence number.

        The number is larger than every one handed out before, and never handed out
        again, even after :meth:`trim` or a reopen; writers sharing the store never get
        the same one. The ``seq`` of ``record`` is ignored.

        Returns:
            The record as stored, with its ``seq``.
        """
        ...

    async def records(self, where: RecordFilter) -> builtins.list[Record]:
        """The newest ``where.limit`` journal records that match ``where``, newest first.

        Newest is by ``time``, then by ``seq``: the order events happened in, even when
        writers with slightly different clocks numbered them in another.

        Implementations must answer from an index or a scan that stops at ``limit``:
        a filter on a service, kind or site must not read the records of others, so a
        search costs what it returns, not the size of the journal.
        """
        ...

    async def trim(self, keep: int) -> int:
        """Remove every journal record but the newest ``keep``; returns how many went."""
        ...

    def busy_for(self) -> float:
        """Seconds the oldest call still in flight has been running; 0.0 when none is.

        How a vantage learns its own store is stalled (another process holding a lock,
        a slow disk, an unreachable cluster) before any call gives up. Must not block.
        """
        ...

    async def close(self) -> None:
        """Release the backend; later calls raise :class:`gtm.errors.StoreUnavailable`."""
        ...


def check_distinct(writes: Sequence[Write]) -> None:
    """Refuse a commit in which two writes name the same key (see :meth:`Store.commit`).

    Raises:
        ValueError: Naming the key.
    """
    seen: set[str] = set()
    for write in writes:
        if write.key is None:
            continue
        if write.key in seen:
            raise ValueError(f"store commit: {write.key!r} is written twice in one commit")
        seen.add(write.key)
