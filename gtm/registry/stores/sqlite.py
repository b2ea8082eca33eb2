"""The embedded default store: one SQLite file, so a single gtm needs no external service.

Calls run inline on the event loop rather than in a thread. Reads are index lookups that
take microseconds, the registry serves its hot path from memory, and writes happen when a
mapping, an intent or the journal changes, which is rare; a thread hop per call would cost
more than it saves and would need its own serialisation to keep compare-and-set atomic.
``watch`` is the same: while a caller watches, it reads the store's last index (one row)
every ``watch_interval`` seconds, which is how writes from another process are seen;
writes through this object wake it at once.

A running gtm opens its file ``exclusive``: it holds an advisory lock on ``<file>.lock``
that names its process, so a second instance on the same file is refused at once instead
of both deciding for the same services. The lock is an ``flock``, which the system drops
when the process ends however it ends, so a crash never leaves the file claimed. Readers
such as ``gtm plan`` open the file without it; SQLite keeps their writes atomic.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import fcntl
import json
import os
import socket
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from gtm.errors import StoreInUse, StoreUnavailable
from gtm.registry.store import Entry

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    idx INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (name, value) VALUES ('last_index', 0);
"""

_LOCK_TIMEOUT = 1.0
"""Seconds to wait for a file another process holds locked.

One gtm owns its file; a lock held elsewhere means a misconfiguration, so failing fast as
StoreUnavailable beats stalling the event loop for SQLite's default five seconds.
"""


_HOLDER_READS = 5
"""Reads of a held lock file before its holder counts as unknown: the holder writes its
name just after taking the lock, so a reader can come in between."""

_HOLDER_PAUSE = 0.02
"""Seconds between those reads."""

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
    ) -> None:
        self._path = Path(path)
        self._watch_interval = watch_interval
        self._changed: asyncio.Event | None = None
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(
                f"sqlite store {self._path}: cannot create its directory: {exc}"
            ) from exc
        self._conn: sqlite3.Connection | None = None
        self._lock: int | None = _claim(self._path) if exclusive else None
        try:
            with self._translated("open"):
                conn = sqlite3.connect(self._path, timeout=_LOCK_TIMEOUT, isolation_level=None)
                try:
                    conn.execute("PRAGMA journal_mode=WAL")
                    # FULL, not NORMAL: in WAL mode NORMAL may lose the last commits on power
                    # loss, and a lost mapping write would let a version or epoch that was
                    # already published be handed out again. Writes are rare; one fsync
                    # each is cheap.
                    conn.execute("PRAGMA synchronous=FULL")
                    conn.executescript(_SCHEMA)
                except sqlite3.Error:
                    conn.close()
                    raise
        except BaseException:
            self._release()
            raise
        self._conn = conn

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    @property
    def lock_path(self) -> Path:
        """The file an exclusive open locks: the database file's name plus ``.lock``."""
        return _lock_path(self._path)

    @property
    def exclusive(self) -> bool:
        """Whether this open holds the file for its process (until closed)."""
        return self._lock is not None

    async def get(self, key: str) -> Entry | None:
        """The entry at ``key``, or None when there is none."""
        with self._translated(f"get {key!r}"):
            row = (
                self._connection()
                .execute("SELECT value, idx FROM entries WHERE key = ?", (key,))
                .fetchone()
            )
        return None if row is None else Entry(key, bytes(row[0]), int(row[1]))

    async def list(self, prefix: str) -> builtins.list[Entry]:
        """Every entry whose key starts with ``prefix``, sorted by key."""
        end = _prefix_end(prefix)
        query = "SELECT key, value, idx FROM entries WHERE key >= ?"
        params: tuple[str, ...] = (prefix,)
        if end is not None:
            query += " AND key < ?"
            params = (prefix, end)
        with self._translated(f"list {prefix!r}"):
            rows = self._connection().execute(query + " ORDER BY key", params).fetchall()
        return [Entry(str(key), bytes(value), int(idx)) for key, value, idx in rows]

    async def cas(self, key: str, value: bytes, index: int) -> Entry | None:
        """Write ``value`` at ``key`` if its index is still ``index`` (0: absent)."""
        with self._transaction(f"cas {key!r}") as conn:
            row = conn.execute("SELECT idx FROM entries WHERE key = ?", (key,)).fetchone()
            if (0 if row is None else int(row[0])) != index:
                return None
            conn.execute("UPDATE meta SET value = value + 1 WHERE name = 'last_index'")
            (new_index,) = conn.execute(
                "SELECT value FROM meta WHERE name = 'last_index'"
            ).fetchone()
            conn.execute(
                "INSERT INTO entries (key, value, idx) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value, idx = excluded.idx",
                (key, value, new_index),
            )
            entry = Entry(key, value, int(new_index))
        self._notify()
        return entry

    async def delete(self, key: str, index: int | None = None) -> bool:
        """Remove ``key``; with ``index``, only if the key still has that index."""
        with self._transaction(f"delete {key!r}") as conn:
            if index is None:
                cursor = conn.execute("DELETE FROM entries WHERE key = ?", (key,))
            else:
                cursor = conn.execute("DELETE FROM entries WHERE key = ? AND idx = ?", (key, index))
            deleted = cursor.rowcount > 0
            if deleted:
                # A delete takes an index too, so a watcher learns of it.
                conn.execute("UPDATE meta SET value = value + 1 WHERE name = 'last_index'")
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
        current = self._last_index()
        while current <= index:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            if self._changed is None:
                self._changed = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, self._watch_interval)):
                    await self._changed.wait()
            current = self._last_index()
        # The index first, then the listing: the listing is never older than the index.
        return current, await self.list(prefix)

    async def close(self) -> None:
        """Close the file and give up an exclusive claim; later calls raise StoreUnavailable.

        Safe to repeat.
        """
        conn, self._conn = self._conn, None
        self._notify()  # watchers wake, and find the store closed
        try:
            if conn is not None:
                with self._translated("close"):
                    conn.close()
        finally:
            self._release()

    def _release(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            # Emptied while still held, so a reader never takes this holder for the next.
            with contextlib.suppress(OSError):
                os.ftruncate(lock, 0)
            os.close(lock)  # closing the only descriptor drops the flock

    def _last_index(self) -> int:
        with self._translated("watch"):
            (value,) = (
                self._connection()
                .execute("SELECT value FROM meta WHERE name = 'last_index'")
                .fetchone()
            )
        return int(value)

    def _notify(self) -> None:
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreUnavailable(f"sqlite store {self._path}: closed")
        return self._conn

    @contextlib.contextmanager
    def _translated(self, action: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"sqlite store {self._path}: {action} failed: {exc}") from exc

    @contextlib.contextmanager
    def _transaction(self, action: str) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock before the read, so the compare and the set see
        # the same state even if another process opened the file.
        with self._translated(action):
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _claim(path: Path) -> int:
    """Lock ``path``'s lock file for this open and write the holder into it.

    Returns:
        The lock file's descriptor; closing it gives the claim up.

    Raises:
        StoreInUse: Another open holds the lock.
        StoreUnavailable: The lock file cannot be opened or written.
    """
    lock_path = _lock_path(path)
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreUnavailable(
            f"sqlite store {path}: cannot open its lock file {lock_path}: {exc.strerror or exc}"
        ) from exc
    try:
        try:
            # flock, not fcntl's record locks: those are per process, so a second open in
            # the same process would be let in, and a restart in one process (as tests
            # do) must see the same refusal another process would.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            raise StoreInUse(
                f"sqlite store {path} is in use by another gtm ({holder})",
                path=str(path),
                holder=holder,
            ) from None
        record = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
    except OSError as exc:
        os.close(fd)
        raise StoreUnavailable(
            f"sqlite store {path}: cannot lock {lock_path}: {exc.strerror or exc}"
        ) from exc
    except BaseException:
        os.close(fd)
        raise
    return fd


def _holder(fd: int) -> str:
    """Who holds the lock on ``fd``'s file, as its holder recorded: ``pid 1234 on host h``."""
    for attempt in range(_HOLDER_READS):
        if attempt:
            time.sleep(_HOLDER_PAUSE)
        try:
            record = json.loads(os.pread(fd, 4096, 0))
            pid, host = int(record["pid"]), str(record["host"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        return f"pid {pid} on host {host}"
    return "process unknown"


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
