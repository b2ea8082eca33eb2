"""The embedded default store: one SQLite file, so a single gtm needs no external service.

Calls run inline on the event loop rather than in a thread. Reads are index lookups that
take microseconds, the registry serves its hot path from memory, and writes happen when a
mapping, an intent or the journal changes, which is rare; a thread hop per call would cost
more than it saves and would need its own serialisation to keep compare-and-set atomic.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

from gtm.errors import StoreUnavailable
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


class SqliteStore:
    """A :class:`gtm.registry.store.Store` in one SQLite file (WAL mode).

    Args:
        path: The database file; missing parent directories are created.

    Raises:
        StoreUnavailable: The directory or the file cannot be created or opened.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(
                f"sqlite store {self._path}: cannot create its directory: {exc}"
            ) from exc
        self._conn: sqlite3.Connection | None = None
        with self._translated("open"):
            conn = sqlite3.connect(self._path, timeout=_LOCK_TIMEOUT, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                # FULL, not NORMAL: in WAL mode NORMAL may lose the last commits on power
                # loss, and a lost mapping write would let a version or epoch that was
                # already published be handed out again. Writes are rare; one fsync each
                # is cheap.
                conn.execute("PRAGMA synchronous=FULL")
                conn.executescript(_SCHEMA)
            except sqlite3.Error:
                conn.close()
                raise
        self._conn = conn

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

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
            return Entry(key, value, int(new_index))

    async def delete(self, key: str, index: int | None = None) -> bool:
        """Remove ``key``; with ``index``, only if the key still has that index."""
        with self._translated(f"delete {key!r}"):
            conn = self._connection()
            if index is None:
                cursor = conn.execute("DELETE FROM entries WHERE key = ?", (key,))
            else:
                cursor = conn.execute("DELETE FROM entries WHERE key = ? AND idx = ?", (key, index))
        return cursor.rowcount > 0

    async def close(self) -> None:
        """Close the file; later calls raise StoreUnavailable. Safe to repeat."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with self._translated("close"):
                conn.close()

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
