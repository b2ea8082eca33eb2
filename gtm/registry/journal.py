"""The registry's journal: what happened to which service and when, kept in the store.

Events get a sequence number from a counter key advanced by compare-and-set, so several
writers sharing one store never hand out the same number, and the journal is pruned to
its newest entries in occasional batches rather than on every write.
"""

from __future__ import annotations

import dataclasses
import logging

from gtm.core.codec import event_from_dict, event_to_dict
from gtm.core.model import Event
from gtm.errors import ConflictError, StoreUnavailable
from gtm.registry.documents import decode, encode
from gtm.registry.store import Entry, Store

log = logging.getLogger(__name__)

EVENTS = "events/"
"""Key prefix of journal entries: ``events/<seq:012d>``, so key order is seq order."""

SEQUENCE = "counters/events"
"""Key of the last sequence number handed out (decimal ASCII)."""

JOURNAL_LIMIT = 10_000
"""How many of the newest events the journal keeps by default."""

SEQUENCE_ATTEMPTS = 100
"""Compare-and-set attempts on the counter before a write gives up as a conflict."""


class Journal:
    """Append-only event log with a size cap.

    Between prunes the journal may hold up to 1% more than ``limit`` events; ``events``
    answers from whatever is stored.

    Args:
        store: Where entries and the counter live.
        limit: How many of the newest events to keep (at least 1).
    """

    def __init__(self, store: Store, limit: int = JOURNAL_LIMIT) -> None:
        if limit < 1:
            raise ValueError(f"journal: limit must be at least 1, got {limit}")
        self._store = store
        self._limit = limit
        # Pruning lists the whole journal, so do it once per 1% of growth: the cost per
        # event stays one list row and at most one delete.
        self._prune_every = max(1, limit // 100)
        self._unpruned = 0

    async def record(self, event: Event) -> Event:
        """Append ``event`` with the next sequence number and return it as stored.

        Any ``seq`` the caller set is replaced.

        Raises:
            ConflictError: Other writers kept winning the race for the counter.
            StoreUnavailable: The store failed.
        """
        stored = dataclasses.replace(event, seq=await self._next_seq())
        key = f"{EVENTS}{stored.seq:012d}"
        if await self._store.cas(key, encode(event_to_dict(stored)), 0) is None:
            raise ConflictError(f"journal: {key} already exists; the counter {SEQUENCE} is behind")
        self._unpruned += 1
        if self._unpruned >= self._prune_every:
            self._unpruned = 0
            await self._prune()
        return stored

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
        found: list[Event] = []
        for entry in reversed(await self._store.list(EVENTS)):
            if len(found) >= limit:
                break
            event = decode(entry, event_from_dict)
            if service is not None and event.service != service:
                continue
            if since is not None and event.time < since:
                continue
            if until is not None and event.time >= until:
                continue
            if site is not None and site not in (event.from_site, event.to_site):
                continue
            if kind is not None and event.kind != kind:
                continue
            found.append(event)
        found.reverse()
        return found

    async def _next_seq(self) -> int:
        for _attempt in range(SEQUENCE_ATTEMPTS):
            current = await self._store.get(SEQUENCE)
            last, index = (0, 0) if current is None else (_counter(current), current.index)
            if await self._store.cas(SEQUENCE, str(last + 1).encode(), index) is not None:
                return last + 1
        raise ConflictError(
            f"journal: lost the race for {SEQUENCE} {SEQUENCE_ATTEMPTS} times in a row"
        )

    async def _prune(self) -> None:
        # The event is already durable: a failed prune must not make the caller think the
        # record failed (and write it twice). The next prune catches up.
        try:
            entries = await self._store.list(EVENTS)
            for entry in entries[: max(0, len(entries) - self._limit)]:
                await self._store.delete(entry.key, entry.index)
        except StoreUnavailable as exc:
            log.warning("journal: pruning to %d events failed: %s", self._limit, exc)


def _counter(entry: Entry) -> int:
    try:
        return int(entry.value)
    except ValueError as exc:
        raise StoreUnavailable(
            f"journal: {entry.key} holds {entry.value[:32]!r}, not a sequence number"
        ) from exc
