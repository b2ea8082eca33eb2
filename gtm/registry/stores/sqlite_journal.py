"""The SQLite store's journal: a table of events searchable by service, kind, site and time.

Every search is one walk of an index whose leading columns are its equalities, then time
and sequence (:func:`select_records`), so it reads the rows it returns and stops at its
limit. A file written by an earlier version, which kept the journal as ``events/``
entries of the key/value table, has them moved here when first opened: the one time the
store reads the values it keeps. The functions here run in the store's thread, inside the
transaction the store opened.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from pathlib import Path

from gtm.registry.store import Entry, Record, RecordFilter

log = logging.getLogger(__name__)

SCHEMA = (
    # AUTOINCREMENT: a sequence number is never handed out again, even once trimmed.
    "CREATE TABLE IF NOT EXISTS journal ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, kind TEXT NOT NULL,"
    " service TEXT, sites TEXT NOT NULL, value BLOB NOT NULL)",
    # (equalities, time, seq): a search with those equalities reads its rows newest first
    # straight from the index, within its time bounds, and stops at its limit.
    "CREATE INDEX IF NOT EXISTS journal_by_time ON journal (time, seq)",
    "CREATE INDEX IF NOT EXISTS journal_by_service ON journal (service, time, seq)",
    "CREATE INDEX IF NOT EXISTS journal_by_kind ON journal (kind, time, seq)",
    "CREATE INDEX IF NOT EXISTS journal_by_service_kind ON journal (service, kind, time, seq)",
    # One row per site an event names, with the fields a site search also filters on.
    "CREATE TABLE IF NOT EXISTS journal_sites ("
    " site TEXT NOT NULL, seq INTEGER NOT NULL, time REAL NOT NULL, kind TEXT NOT NULL,"
    " service TEXT, PRIMARY KEY (site, seq)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS journal_sites_by_time ON journal_sites (site, time, seq)",
    "CREATE INDEX IF NOT EXISTS journal_sites_by_service"
    " ON journal_sites (site, service, time, seq)",
    "CREATE INDEX IF NOT EXISTS journal_sites_by_kind ON journal_sites (site, kind, time, seq)",
    "CREATE INDEX IF NOT EXISTS journal_sites_by_seq ON journal_sites (seq)",
)
"""The journal's tables and indexes (each statement safe to run again)."""

OLD_EVENTS = "events/"
"""Where earlier versions kept journal records, as ``events/<seq:012d>`` entries."""

_OLD_COUNTER = "counters/events"
"""The entry that held earlier versions' last journal sequence number."""

_COLUMNS = "j.seq, j.time, j.kind, j.service, j.sites, j.value"


def insert(conn: sqlite3.Connection, record: Record) -> Record:
    """Add ``record`` with the next sequence number, in a write transaction."""
    sites = tuple(dict.fromkeys(record.sites))
    cursor = conn.execute(
        "INSERT INTO journal (time, kind, service, sites, value) VALUES (?, ?, ?, ?, ?)",
        (record.time, record.kind, record.service, json.dumps(sites), record.value),
    )
    seq = int(cursor.lastrowid or 0)
    conn.executemany(
        "INSERT INTO journal_sites (site, seq, time, kind, service) VALUES (?, ?, ?, ?, ?)",
        [(site, seq, record.time, record.kind, record.service) for site in sites],
    )
    return Record(record.value, record.time, record.kind, record.service, sites, seq)


def search(conn: sqlite3.Connection, where: RecordFilter) -> list[Record]:
    """The newest ``where.limit`` records matching ``where``, newest first."""
    if where.limit <= 0:
        return []
    query, params = select_records(where)
    return [
        Record(
            bytes(value),
            float(when),
            str(kind),
            None if service is None else str(service),
            tuple(json.loads(sites)),
            int(seq),
        )
        for seq, when, kind, service, sites, value in conn.execute(query, params)
    ]


def trim(conn: sqlite3.Connection, keep: int) -> int:
    """Remove every record but the newest ``keep``, in a write transaction; how many went."""
    row = conn.execute(
        "SELECT seq FROM journal ORDER BY seq DESC LIMIT 1 OFFSET ?", (max(keep, 0),)
    ).fetchone()
    if row is None:
        return 0
    conn.execute("DELETE FROM journal_sites WHERE seq <= ?", (row[0],))
    return int(conn.execute("DELETE FROM journal WHERE seq <= ?", (row[0],)).rowcount)


def select_records(where: RecordFilter) -> tuple[str, list[object]]:
    """The query that answers a journal search, and its parameters.

    Every search walks one index whose leading columns are its equalities (service, kind,
    or both; for a site, the site's rows with their service or kind) followed by time and
    sequence, newest first: the time bounds are a range of that index, the other filter
    is checked on the rows walked, and the walk stops at the limit. A search for a
    service, kind or site the journal does not hold reads no row at all.
    """
    conditions: list[str] = []
    params: list[object] = []
    if where.site is not None:
        # CROSS JOIN makes SQLite walk the site's rows first, then fetch each event.
        table = "s"
        source = "journal_sites AS s CROSS JOIN journal AS j ON j.seq = s.seq"
        conditions.append("s.site = ?")
        params.append(where.site)
    else:
        table, source = "j", "journal AS j"
    for column, value, test in (
        ("service", where.service, "="),
        ("kind", where.kind, "="),
        ("time", where.since, ">="),
        ("time", where.until, "<"),
    ):
        if value is not None:
            conditions.append(f"{table}.{column} {test} ?")
            params.append(value)
    query = f"SELECT {_COLUMNS} FROM {source}"
    if conditions:
        query += " WHERE " + " AND ".join(conditions)
    params.append(where.limit)
    return query + f" ORDER BY {table}.time DESC, {table}.seq DESC LIMIT ?", params


def move_old_journal(conn: sqlite3.Connection, path: Path, old: list[Entry]) -> None:
    """Move ``old``, the ``events/`` entries of an earlier version, into the journal table,
    numbers kept, and delete them and their counter from the key/value table."""
    rows = old
    counter = conn.execute("SELECT value FROM entries WHERE key = ?", (_OLD_COUNTER,)).fetchone()
    moved = 0
    for entry in rows:
        try:
            seq = int(entry.key.removeprefix(OLD_EVENTS))
            doc = json.loads(entry.value)
            service = doc.get("service")
            sites = [str(s) for s in dict.fromkeys((doc.get("from_site"), doc.get("to_site"))) if s]
            row = (seq, float(doc["time"]), str(doc["kind"]), service and str(service))
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("sqlite store %s: dropped unreadable journal entry %s", path, entry.key)
            continue
        conn.execute(
            "INSERT INTO journal (seq, time, kind, service, sites, value)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (*row, json.dumps(sites), entry.value),
        )
        conn.executemany(
            "INSERT INTO journal_sites (site, seq, time, kind, service) VALUES (?, ?, ?, ?, ?)",
            [(site, *row) for site in sites],
        )
        moved += 1
    if counter is not None:
        with contextlib.suppress(ValueError, TypeError):
            _keep_numbers_above(conn, int(bytes(counter[0])))
    conn.executemany(
        "DELETE FROM entries WHERE key = ?",
        [(key,) for key in [e.key for e in rows] + [_OLD_COUNTER]],
    )
    if rows:
        log.info("sqlite store %s: moved %d journal events into the journal table", path, moved)


def _keep_numbers_above(conn: sqlite3.Connection, last: int) -> None:
    """Make the journal's next sequence number larger than ``last``."""
    updated = conn.execute(
        "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'journal'", (last,)
    ).rowcount
    if not updated:
        conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('journal', ?)", (last,))
