"""The embedded default store: one SQLite file, so a single gtm needs no external service.

Every call runs in one thread of the store's own, on a connection of its own, never on the
event loop: another process holding the database's write lock (a ``sqlite3`` shell in a
transaction, a backup, ``gtm plan`` on the same file) makes gtm's writes wait, but the
probes, the DNS responder and the API sharing the loop keep running. One thread, so calls
run one at a time in the order they were made, which keeps compare-and-set atomic within
the process; ``BEGIN IMMEDIATE`` keeps it atomic across processes. A write that waits
``busy_timeout`` seconds for another process's lock gives up with
:class:`gtm.errors.StoreStalled`, nothing written; :meth:`SqliteStore.busy_for` tells how
long the oldest call has been running, so the vantage can count itself stalled before then.

``watch`` reads the store's last index (one row) every ``watch_interval`` seconds while
someone watches, which is how writes from another process are seen; writes through this
object wake it at once.

The journal lives in tables of its own, indexed so that a filtered search reads only the
rows it returns (:mod:`.sqlite_journal`).

A running gtm opens its file ``exclusive``: it holds an advisory lock on ``<file>.lock``
that names its process (:mod:`.sqlite_claim`), so a second instance on the same file is
refused at once instead of both deciding for the same services. Readers such as
``gtm plan`` open the file without it; SQLite keeps their writes atomic.
"""

from __future__ import annotations

import asyncio
import builtins
import concurrent.futures
import contextlib
import itertools
import logging
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from gtm.errors import StoreStalled, StoreUnavailable
from gtm.registry.store import Entry, Record, RecordFilter, Write, Written, check_distinct
from gtm.registry.stores import sqlite_journal as journal
from gtm.registry.stores.sqlite_claim import claim, lock_path

log = logging.getLogger(__name__)

T = TypeVar("T")

SCHEMA_VERSION = 1
"""``PRAGMA user_version`` of a file with the current tables (0: none, or the journal as
``events/`` entries)."""

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS entries ("
    " key TEXT PRIMARY KEY, value BLOB NOT NULL, idx INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO meta (name, value) VALUES ('last_index', 0)",
)

BUSY_TIMEOUT = 5.0
"""Seconds a call waits for a lock another process holds before giving up as StoreStalled.

The wait happens in the store's thread, so it delays gtm's writes, not its serving."""

WATCH_INTERVAL = 0.05
"""Seconds between two reads of the last index while someone watches: how long another
process's write can go unseen, for the price of one primary-key read."""


class SqliteStore:
    """A :class:`gtm.registry.store.Store` in one SQLite file (WAL mode).

    Args:
        path: The database file; missing parent directories are created.
        exclusive: Claim the file for this process until :meth:`close`, as a running gtm
            does; another exclusive open of the same file, in this process or another,
            is refused with StoreInUse. Non-exclusive opens never wait for the claim.
        watch_interval: Seconds between two reads of the last index during ``watch``.
        busy_timeout: Seconds a call waits for another process's lock before it fails
            with StoreStalled.

    Raises:
        StoreInUse: ``exclusive`` and another open holds the file; the message names the
            holder's process id and host.
        StoreUnavailable: The directory, the file or its lock file cannot be created or
            opened.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        exclusive: bool = False,
        watch_interval: float = WATCH_INTERVAL,
        busy_timeout: float = BUSY_TIMEOUT,
    ) -> None:
        self._path = Path(path)
        self._watch_interval = watch_interval
        self._busy_timeout = busy_timeout
        self._changed: asyncio.Event | None = None
        self._calls = itertools.count()
        self._running: dict[int, float] = {}
        self._running_lock = threading.Lock()
        self.on_write: Callable[[str, float], None] | None = None
        """Called on the event loop with each write's kind and seconds taken (metrics)."""
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(
                f"sqlite store {self._path}: cannot create its directory: {exc}"
            ) from exc
        self._conn: sqlite3.Connection | None = None
        self._lock: int | None = claim(self._path) if exclusive else None
        self._worker = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"sqlite-store {self._path.name}"
        )
        try:
            self._conn = self._worker.submit(self._connect).result()
        except BaseException:
            self._worker.shutdown(wait=False)
            self._release()
            raise

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    @property
    def lock_path(self) -> Path:
        """The file an exclusive open locks: the database file's name plus ``.lock``."""
        return lock_path(self._path)

    @property
    def exclusive(self) -> bool:
        """Whether this open holds the file for its process (until closed)."""
        return self._lock is not None

    async def get(self, key: str) -> Entry | None:
        """The entry at ``key``, or None when there is none."""

        def read(conn: sqlite3.Connection) -> Entry | None:
            row = conn.execute("SELECT value, idx FROM entries WHERE key = ?", (key,)).fetchone()
            return None if row is None else Entry(key, bytes(row[0]), int(row[1]))

        return await self._call(f"get {key!r}", read)

    async def list(self, prefix: str) -> builtins.list[Entry]:
        """Every entry whose key starts with ``prefix``, sorted by key."""
        return await self._call(f"list {prefix!r}", lambda conn: _listing(conn, prefix))

    async def cas(self, key: str, value: bytes, index: int) -> Entry | None:
        """Write ``value`` at ``key`` if its index is still ``index`` (0: absent)."""

        def write(conn: sqlite3.Connection) -> Entry | None:
            with _transaction(conn):
                row = conn.execute("SELECT idx FROM entries WHERE key = ?", (key,)).fetchone()
                if (0 if row is None else int(row[0])) != index:
                    return None
                new_index = _advance(conn)
                conn.execute(
                    "INSERT INTO entries (key, value, idx) VALUES (?, ?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value, idx = excluded.idx",
                    (key, value, new_index),
                )
            return Entry(key, value, new_index)

        entry = await self._call(f"cas {key!r}", write, writes="cas")
        if entry is not None:
            self._notify()
        return entry

    async def delete(self, key: str, index: int | None = None) -> bool:
        """Remove ``key``; with ``index``, only if the key still has that index."""

        def write(conn: sqlite3.Connection) -> bool:
            with _transaction(conn):
                if index is None:
                    cursor = conn.execute("DELETE FROM entries WHERE key = ?", (key,))
                else:
                    cursor = conn.execute(
                        "DELETE FROM entries WHERE key = ? AND idx = ?", (key, index)
                    )
                deleted = cursor.rowcount > 0
                if deleted:
                    _advance(conn)  # a delete takes an index too, so a watcher learns of it
            return deleted

        deleted = await self._call(f"delete {key!r}", write, writes="delete")
        if deleted:
            self._notify()
        return deleted

    async def watch(
        self, prefix: str, index: int, timeout: float
    ) -> tuple[int, builtins.list[Entry]]:
        """Wait until a write takes the store past ``index``, then list ``prefix``.

        Writes through this object answer at once; another process's writes are seen
        at the next read of the last index, ``watch_interval`` seconds apart.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        current = await self._call("watch", _last_index)
        while current <= index:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            if self._changed is None:
                self._changed = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, self._watch_interval)):
                    await self._changed.wait()
            current = await self._call("watch", _last_index)

        def snapshot(conn: sqlite3.Connection) -> tuple[int, builtins.list[Entry]]:
            # One read transaction: the index and the listing describe the same state.
            with _transaction(conn, "BEGIN"):
                return _last_index(conn), _listing(conn, prefix)

        return await self._call(f"watch {prefix!r}", snapshot)

    async def commit(self, writes: Sequence[Write]) -> builtins.list[Written]:
        """Apply each write whose condition holds, with its records, in one transaction:
        one fsync for the whole burst, in the store's thread."""
        check_distinct(writes)

        def write_all(conn: sqlite3.Connection) -> builtins.list[Written]:
            done: builtins.list[Written] = []
            with _transaction(conn):
                for write in writes:
                    entry: Entry | None = None
                    if write.key is not None:
                        row = conn.execute(
                            "SELECT idx FROM entries WHERE key = ?", (write.key,)
                        ).fetchone()
                        if (0 if row is None else int(row[0])) != write.index:
                            done.append(Written(None, (), False))
                            continue
                        entry = Entry(write.key, write.value, _advance(conn))
                        conn.execute(
                            "INSERT INTO entries (key, value, idx) VALUES (?, ?, ?) ON CONFLICT"
                            " (key) DO UPDATE SET value = excluded.value, idx = excluded.idx",
                            (entry.key, entry.value, entry.index),
                        )
                    records = tuple(journal.insert(conn, record) for record in write.records)
                    done.append(Written(entry, records, True))
            return done

        done = await self._call(f"commit {len(writes)} write(s)", write_all, writes="commit")
        if any(written.entry is not None for written in done):
            self._notify()
        return done

    async def append(self, record: Record) -> Record:
        """Add ``record`` to the journal with the next sequence number."""

        def write(conn: sqlite3.Connection) -> Record:
            with _transaction(conn):
                return journal.insert(conn, record)

        return await self._call("append to the journal", write, writes="append")

    async def records(self, where: RecordFilter) -> builtins.list[Record]:
        """The newest ``where.limit`` journal records matching ``where``, newest first."""
        return await self._call("search the journal", lambda conn: journal.search(conn, where))

    async def trim(self, keep: int) -> int:
        """Remove every journal record but the newest ``keep``; returns how many went."""

        def write(conn: sqlite3.Connection) -> int:
            with _transaction(conn):
                return journal.trim(conn, keep)

        return await self._call(f"trim the journal to {keep}", write, writes="trim")

    def busy_for(self) -> float:
        """Seconds the oldest call still in flight has been running; 0.0 when none is."""
        with self._running_lock:
            oldest = next(iter(self._running.values()), None)
        return 0.0 if oldest is None else max(0.0, time.monotonic() - oldest)

    async def close(self) -> None:
        """Close the file and give up an exclusive claim; later calls raise StoreUnavailable.

        Calls already running finish first. Safe to repeat.
        """
        conn, self._conn = self._conn, None
        self._notify()  # watchers wake, and find the store closed
        try:
            if conn is not None:
                with _translated(self._path, "close", self._busy_timeout):
                    await asyncio.wrap_future(self._worker.submit(conn.close))
        finally:
            self._worker.shutdown(wait=False)
            self._release()

    def _connect(self) -> sqlite3.Connection:
        """Open the file in the store's thread, and bring its tables up to date."""
        with _translated(self._path, "open", self._busy_timeout):
            conn = sqlite3.connect(self._path, timeout=self._busy_timeout, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                # FULL, not NORMAL: in WAL mode NORMAL may lose the last commits on power
                # loss, and a lost mapping write would let a version or epoch that was
                # already published be handed out again. Writes are rare; one fsync
                # each is cheap.
                conn.execute("PRAGMA synchronous=FULL")
                if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                    with _transaction(conn):
                        for statement in (*_SCHEMA, *journal.SCHEMA):
                            conn.execute(statement)
                        old = _listing(conn, journal.OLD_EVENTS)
                        journal.move_old_journal(conn, self._path, old)
                        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            except BaseException:
                conn.close()
                raise
        return conn

    async def _call(
        self, action: str, work: Callable[[sqlite3.Connection], T], *, writes: str = ""
    ) -> T:
        """Run ``work`` on the connection in the store's thread, translating its errors.

        A write (``writes`` names its kind) that succeeds is timed for ``on_write``.
        """
        if self._conn is None:
            raise StoreUnavailable(f"sqlite store {self._path}: closed")
        call = next(self._calls)
        with self._running_lock:
            self._running[call] = time.monotonic()
        try:
            future = self._worker.submit(self._run, action, work)
        except RuntimeError as exc:  # the worker was shut down by a close in between
            self._finished(call)
            raise StoreUnavailable(f"sqlite store {self._path}: closed") from exc
        future.add_done_callback(lambda _done: self._finished(call))
        started = time.monotonic()
        outcome = await asyncio.wrap_future(future)
        if writes and self.on_write is not None:
            self.on_write(writes, time.monotonic() - started)
        return outcome

    def _run(self, action: str, work: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        if conn is None:
            raise StoreUnavailable(f"sqlite store {self._path}: closed")
        with _translated(self._path, action, self._busy_timeout):
            return work(conn)

    def _finished(self, call: int) -> None:
        with self._running_lock:
            self._running.pop(call, None)

    def _release(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            # Emptied while still held, so a reader never takes this holder for the next.
            with contextlib.suppress(OSError):
                os.ftruncate(lock, 0)
            os.close(lock)  # closing the only descriptor drops the flock

    def _notify(self) -> None:
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set()


def _listing(conn: sqlite3.Connection, prefix: str) -> builtins.list[Entry]:
    end = _prefix_end(prefix)
    query = "SELECT key, value, idx FROM entries WHERE key >= ?"
    params: tuple[str, ...] = (prefix,)
    if end is not None:
        query += " AND key < ?"
        params = (prefix, end)
    rows = conn.execute(query + " ORDER BY key", params).fetchall()
    return [Entry(str(key), bytes(value), int(idx)) for key, value, idx in rows]


def _last_index(conn: sqlite3.Connection) -> int:
    (value,) = conn.execute("SELECT value FROM meta WHERE name = 'last_index'").fetchone()
    return int(value)


def _advance(conn: sqlite3.Connection) -> int:
    """Take the next index, inside a write transaction."""
    conn.execute("UPDATE meta SET value = value + 1 WHERE name = 'last_index'")
    return _last_index(conn)


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection, begin: str = "BEGIN IMMEDIATE") -> Iterator[None]:
    # IMMEDIATE takes the write lock before the read, so the compare and the set see the
    # same state even if another process opened the file.
    conn.execute(begin)
    try:
        yield
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextlib.contextmanager
def _translated(path: Path, action: str, busy_timeout: float) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY:
            raise StoreStalled(
                f"sqlite store {path}: {action} waited {busy_timeout:g}s for a lock another"
                " process holds on the file and gave up, nothing written; end that"
                " process's transaction (a sqlite3 shell, a backup)",
                path=str(path),
                waited=busy_timeout,
            ) from exc
        raise StoreUnavailable(f"sqlite store {path}: {action} failed: {exc}") from exc


def _prefix_end(prefix: str) -> str | None:
    """The smallest key above every key that starts with ``prefix`` (None: no bound).

    SQLite compares TEXT as UTF-8 bytes, which orders like code points, so the range
    ``[prefix, end)`` is exactly the keys with that prefix and can use the primary key.
    """
    head = prefix
    while head:
        last = ord(head[-1])
        head = head[:-1]
        if last < sys.maxunicode:
            following = last + 1
            if 0xD800 <= following <= 0xDFFF:
                following = 0xE000  # surrogates cannot appear in UTF-8 keys
            return head + chr(following)
    return None
