"""The registry's journal: what happened to which service and when, kept in the store.

The store numbers the events and searches them by service, kind, site and time through
its own indexes (:meth:`gtm.registry.store.Store.records`), so a filtered query reads and
decodes only the events it returns, however full the journal is. The journal is trimmed
to its newest entries in occasional batches rather than on every write.
"""

from __future__ import annotations

import dataclasses
import logging

from gtm.core.codec import event_from_dict, event_to_dict
from gtm.core.model import Event
from gtm.errors import StoreUnavailable
from gtm.registry.documents import decode, encode
from gtm.registry.store import Entry, Record, RecordFilter, Store

log = logging.getLogger(__name__)

JOURNAL_LIMIT = 10_000
"""How many of the newest events the journal keeps by default."""


class Journal:
    """Append-only event log with a size cap.

    Between trims the journal may hold up to 1% more than ``limit`` events; ``events``
    answers from whatever is stored.

    Args:
        store: Where the events live.
        limit: How many of the newest events to keep (at least 1).
    """

    def __init__(self, store: Store, limit: int = JOURNAL_LIMIT) -> None:
        if limit < 1:
            raise ValueError(f"journal: limit must be at least 1, got {limit}")
        self._store = store
        self._limit = limit
        # Trim once per 1% of growth: one store call per hundred events, not one each.
        self._trim_every = max(1, limit // 100)
        self._untrimmed = 0

    async def record(self, event: Event) -> Event:
        """Append ``event`` with the next sequence number and return it as stored.

        Any ``seq`` the caller set is replaced.

        Raises:
            StoreUnavailable: The store failed.
        """
        stored = await self._store.append(as_record(event))
        await self.grew(1)
        return dataclasses.replace(event, seq=stored.seq)

    async def grew(self, count: int) -> None:
        """Note ``count`` events written (by :meth:`record` or a store commit); trims the
        journal once per 1% of growth."""
        self._untrimmed += count
        if self._untrimmed >= self._trim_every:
            self._untrimmed = 0
            await self._trim()

    async def events(
        self,
        service: str | None = None,
        since: float | None = None,
        limit: int = 100,
        *,
        site: str | None = None,
        until: float | None = None,
        kind: str | None = None,
    ) -> list[Event]:
        """The newest ``limit`` matching events, oldest first.

        Args:
            service: Only events of this service (None: every event, including those of
                no service).
            since: Only events whose ``time`` is at or after this wall-clock time.
            limit: At most this many events; the newest win.
            site: Only events that moved traffic from or to this site.
            until: Only events whose ``time`` is before this wall-clock time.
            kind: Only events of this kind (``move``, ``run``, ``provider``, ``drift``).

        Raises:
            StoreUnavailable: The store failed or holds an unreadable event.
        """
        where = RecordFilter(
            service=service, kind=kind, site=site, since=since, until=until, limit=limit
        )
        found = [_event(record) for record in await self._store.records(where)]
        found.reverse()
        return found

    async def _trim(self) -> None:
        # The event is already durable: a failed trim must not make the caller think the
        # record failed (and write it twice). The next trim catches up.
        try:
            await self._store.trim(self._limit)
        except StoreUnavailable as exc:
            log.warning("journal: trimming to %d events failed: %s", self._limit, exc)


def as_record(event: Event) -> Record:
    """The journal record that stores ``event``, searchable by its service, kind and sites
    (any ``seq`` the caller set is dropped: the store numbers it)."""
    sites = tuple(site for site in (event.from_site, event.to_site) if site)
    return Record(
        encode(event_to_dict(dataclasses.replace(event, seq=0))),
        event.time,
        event.kind,
        event.service,
        sites,
    )


def _event(record: Record) -> Event:
    """The event a journal record holds, numbered as the store numbered it."""
    entry = Entry(f"journal/{record.seq}", record.value, record.seq)
    return dataclasses.replace(decode(entry, event_from_dict), seq=record.seq)
