"""The ID/locator registry: the single source of truth for where each service is.

Mappings and intents are cached in memory so the DNS responder and the API answer without
touching the store. Every write reaches the store first, as a compare-and-set, and only
then the cache, the subscribers and the long polls, so nobody sees a change that is not
durable. Other writers' changes come in through the follower (:mod:`.follower`) and reach
the cache, the subscribers and the long polls the same way.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import logging
import secrets
from collections.abc import Callable, Sequence
from typing import TypeVar

from gtm.core.codec import (
    Document,
    intent_from_dict,
    intent_to_dict,
    mapping_from_dict,
    mapping_to_dict,
)
from gtm.core.leadership import stale_term
from gtm.core.model import Event, Intent, Mapping
from gtm.core.runbook import Run, run_from_dict, run_to_dict
from gtm.errors import ConflictError, NotFound, StoreUnavailable
from gtm.registry.commits import Commits
from gtm.registry.documents import decode, encode
from gtm.registry.follower import follow
from gtm.registry.journal import JOURNAL_LIMIT, Journal, as_record
from gtm.registry.retention import RUN_LIMIT, runs_to_prune
from gtm.registry.saving import Saves
from gtm.registry.store import Entry, Store, Write
from gtm.registry.subscribers import Subscribers
from gtm.registry.watch import Watchers

MAPPINGS = "mappings/"
"""Key prefix of mappings: ``mappings/<service>``."""

INTENTS = "intents/"
"""Key prefix of intents: ``intents/<id>``."""

T = TypeVar("T")

RUNS = "runs/"
"""Key prefix of planned-failover runs: ``runs/<id>``."""

log = logging.getLogger(__name__)

RUN_WATCH = "run:"
"""Watcher key prefix for long polls on a run (service names cannot contain a colon)."""


class Registry:
    """Mappings with versions and epochs, operators' intents, and the journal.

    Build one with :meth:`open`, which loads the store's mappings, intents and runs and
    follows the store from then on; a registry made with the constructor alone starts
    empty whatever the store holds, and follows nothing.

    The cache holds this registry's own writes at once and other writers' within one
    watch round of the store. Versions only grow: a stored entry older than the cached
    one is never applied over it. A write that loses a race to another writer fails with
    ConflictError after the registry has read the winner back, so the caller's next
    attempt decides on what is stored. Mappings are never deleted; runs only once
    finished and beyond the newest ``run_limit``; an intent another writer removed is
    removed from the cache too.

    Args:
        store: Where mappings, intents and events are kept; the registry closes it.
        instance_id: Name of this gtm instance, stamped into ``written_by`` of mappings
            that do not name their writer.
        journal_limit: How many of the newest events the journal keeps.
        run_limit: How many of the newest finished runs are kept (running ones always).
    """

    def __init__(
        self,
        store: Store,
        instance_id: str = "",
        *,
        journal_limit: int = JOURNAL_LIMIT,
        run_limit: int = RUN_LIMIT,
    ) -> None:
        self._store = store
        self._instance_id = instance_id
        self._run_limit = run_limit
        self._journal = Journal(store, journal_limit)
        self._commits = Commits(store)
        self._mappings: dict[str, Mapping] = {}
        self._indexes: dict[str, int] = {}
        self._intents: dict[str, Intent] = {}
        # Kept after an intent is removed, so an older listing cannot bring it back.
        self._intent_indexes: dict[str, int] = {}
        self._runs: dict[str, Run] = {}
        self._run_indexes: dict[str, int] = {}
        self._run_saves: Saves[Run] = Saves()
        self._mapping_subscribers: Subscribers[Mapping] = Subscribers("mapping")
        self._intent_subscribers: Subscribers[list[Intent]] = Subscribers("intents")
        self._event_subscribers: Subscribers[Event] = Subscribers("journal")
        self._run_subscribers: Subscribers[Run] = Subscribers("runs")
        self._watchers = Watchers()
        self._followers: list[asyncio.Task[None]] = []
        self._closed = False

    @classmethod
    async def open(
        cls,
        store: Store,
        instance_id: str = "",
        *,
        journal_limit: int = JOURNAL_LIMIT,
        run_limit: int = RUN_LIMIT,
        follow_store: bool = True,
    ) -> Registry:
        """A registry over ``store`` with every stored mapping, intent and run loaded.

        Args:
            store: Where everything is kept; the registry closes it.
            instance_id: See the class.
            journal_limit: See the class.
            run_limit: See the class.
            follow_store: Apply other writers' changes as they are stored, until
                :meth:`close`; without it the cache holds what was loaded plus this
                registry's own writes (enough for a one-shot command).

        Raises:
            StoreUnavailable: The store failed or holds an unreadable document.
        """
        registry = cls(store, instance_id, journal_limit=journal_limit, run_limit=run_limit)
        appliers = (
            (MAPPINGS, registry._apply_mappings),
            (INTENTS, registry._apply_intents),
            (RUNS, registry._apply_runs),
        )
        for prefix, apply in appliers:
            index, entries = await store.watch(prefix, 0, 0)
            apply(index, entries, strict=True)
            if follow_store:
                registry._followers.append(
                    asyncio.create_task(
                        follow(store, prefix, index, apply), name=f"registry-follow-{prefix}"
                    )
                )
        return registry

    @property
    def instance_id(self) -> str:
        """The name of this gtm instance, as given to the constructor."""
        return self._instance_id

    # -- mappings -------------------------------------------------------------------

    def get(self, service: str) -> Mapping | None:
        """The current mapping of ``service``, or None when it has none (from memory)."""
        return self._mappings.get(service)

    def mappings(self) -> list[Mapping]:
        """Every current mapping, sorted by service (from memory)."""
        return [self._mappings[service] for service in sorted(self._mappings)]

    async def put(self, mapping: Mapping, events: tuple[Event, ...] = ()) -> Mapping:
        """Store ``mapping`` as the next version of its service, with ``events``.

        The version must be exactly one more than the stored one (at least 1 for a new
        service) and the epoch must not be lower. The store write is a compare-and-set on
        the index this registry last saw, so a concurrent writer makes it fail. Once the
        write is durable the cache is updated, then subscribers are called, then long
        polls on the service are woken, then :meth:`on_event` subscribers hear of
        ``events`` as stored.

        Writes asked for together (a site lost: every service of it at once) go to the
        store in one commit (:mod:`.commits`); each keeps its own compare-and-set.

        Args:
            mapping: The new mapping; an empty ``written_by`` becomes this instance's id.
            events: Journal events written in the same transaction as the mapping, and
                only if it is written (the move it makes).

        Returns:
            The mapping as stored.

        Raises:
            ConflictError: The version or epoch does not follow the stored mapping, the
                writer's leader term is below the stored one's (a deposed leader), or
                another writer changed it first; the message names both versions.
            StoreUnavailable: The store failed; nothing changed.
        """
        service = mapping.service
        current = self._mappings.get(service)
        if not mapping.written_by and self._instance_id:
            mapping = dataclasses.replace(mapping, written_by=self._instance_id)
        _check_succession(mapping, current)
        written = await self._commits.write(
            Write(
                MAPPINGS + service,
                encode(mapping_to_dict(mapping)),
                self._indexes.get(service, 0),
                tuple(as_record(event) for event in events),
            )
        )
        entry = written.entry
        if entry is None:
            stored = "none" if current is None else str(current.version)
            found = await self._reread_mapping(service)
            now = (
                "none"
                if found is None
                else f"{found.version} by {found.written_by or 'an unnamed writer'}"
            )
            raise ConflictError(
                f"registry: {service} version {mapping.version} lost to a concurrent write"
                f" over stored version {stored}; the store now holds version {now}"
            )
        await self._journal.grew(len(written.records))
        if self._indexes.get(service, 0) < entry.index:
            # else following the store applied this write while it was on its way
            self._mappings[service] = mapping
            self._indexes[service] = entry.index
            self._mapping_subscribers.notify(mapping)
            self._watchers.wake(service)
        for event, record in zip(events, written.records, strict=True):
            self._event_subscribers.notify(dataclasses.replace(event, seq=record.seq))
        return mapping

    async def wait(self, service: str, index: int, timeout: float) -> Mapping | None:
        """Long poll: the mapping of ``service`` once its version passes ``index``.

        Returns at once when the version is already above ``index``. Otherwise waits for
        a write that takes it there; when ``timeout`` seconds pass first (or the registry
        closes), returns the current mapping anyway, or None for an unknown service.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            current = self._mappings.get(service)
            if self._closed or (current is not None and current.version > index):
                return current
            remaining = deadline - loop.time()
            if remaining <= 0 or not await self._watchers.wait(service, remaining):
                return self._mappings.get(service)

    def subscribe(self, callback: Callable[[Mapping], None]) -> Callable[[], None]:
        """Call ``callback`` with every mapping stored from now on, by anyone.

        Callbacks run synchronously inside ``put`` for this registry's writes, and in the
        follower for other writers' (or a lost race's read-back); one that raises is
        logged and skipped.

        Returns:
            A function that unsubscribes ``callback``.
        """
        return self._mapping_subscribers.add(callback)

    # -- intents --------------------------------------------------------------------

    def intents(self) -> list[Intent]:
        """Every standing intent, oldest first (from memory)."""
        return sorted(self._intents.values(), key=lambda intent: (intent.created_at, intent.id))

    async def add_intent(self, intent: Intent) -> Intent:
        """Store a new intent, with a random hex id when ``intent.id`` is empty.

        Returns:
            The intent as stored.

        Raises:
            ConflictError: An intent with that id already exists.
            StoreUnavailable: The store failed; nothing changed.
        """
        if not intent.id:
            intent = dataclasses.replace(intent, id=secrets.token_hex(4))
        entry = await self._store.cas(INTENTS + intent.id, encode(intent_to_dict(intent)), 0)
        if entry is None:
            found = await self._store.get(INTENTS + intent.id)
            if found is not None:
                self._apply_intents(found.index, [found], partial=True)
            raise ConflictError(f"registry: intent {intent.id} already exists")
        self._intents[intent.id] = intent
        self._intent_indexes[intent.id] = entry.index
        self._intent_subscribers.notify(self.intents())
        return intent

    async def remove_intent(self, intent_id: str) -> Intent:
        """Remove the intent ``intent_id`` and return it.

        Raises:
            NotFound: There is no such intent (or another writer removed it first).
            StoreUnavailable: The store failed; nothing changed.
        """
        intent = self._intents.get(intent_id)
        if intent is None:
            raise NotFound(f"registry: no intent {intent_id}")
        deleted = await self._store.delete(INTENTS + intent_id)
        # Another task may have removed it while the delete was in flight; the store has
        # the last word either way.
        if self._intents.pop(intent_id, None) is not None:
            self._intent_subscribers.notify(self.intents())
        if not deleted:
            raise NotFound(f"registry: intent {intent_id} was already removed")
        return intent

    def on_intents(self, callback: Callable[[list[Intent]], None]) -> Callable[[], None]:
        """Call ``callback`` with the full list of intents after every change.

        Returns:
            A function that unsubscribes ``callback``.
        """
        return self._intent_subscribers.add(callback)

    # -- runs -------------------------------------------------------------------------

    def runs(self) -> list[Run]:
        """Every stored planned-failover run, oldest first (from memory)."""
        return sorted(self._runs.values(), key=lambda run: (run.created_at, run.id))

    def run(self, run_id: str) -> Run | None:
        """The run ``run_id``, or None; one this registry is saving, as saved."""
        return self._run_saves.pending(run_id) or self._runs.get(run_id)

    async def save_run(self, run: Run) -> Run:
        """Store a run (created or changed), compare-and-set on its last index.

        This registry's saves of one run go to the store one at a time, in the order they
        were asked for, and :meth:`run` answers the newest while it is under way, so a
        task that changes a run while another saves it builds on that save.

        Once it is stored, the oldest finished runs beyond ``run_limit`` are deleted; a
        failure to delete them is logged, and retried on the next save.

        Raises:
            ConflictError: Another writer changed the run since this registry saw it.
            StoreUnavailable: The store failed; nothing changed.
        """
        async with self._run_saves.saving(run.id, run):
            index = self._run_indexes.get(run.id, 0)
            entry = await self._store.cas(RUNS + run.id, encode(run_to_dict(run)), index)
            if entry is None:
                found = await self._store.get(RUNS + run.id)
                if found is not None:
                    self._apply_runs(found.index, [found], partial=True)
                raise ConflictError(f"registry: run {run.id} was changed by another writer")
            self._runs[run.id] = run
            self._run_indexes[run.id] = entry.index
            self._watchers.wake(RUN_WATCH + run.id)
        self._run_subscribers.notify(run)
        await self._prune_runs()
        return run

    def on_run(self, callback: Callable[[Run], None]) -> Callable[[], None]:
        """Call ``callback`` with every run stored from now on (by this registry or another
        writer it follows), as stored.

        Callbacks run synchronously; one that raises is logged and skipped.

        Returns:
            A function that unsubscribes ``callback``.
        """
        return self._run_subscribers.add(callback)

    async def _prune_runs(self) -> None:
        finished = [(run.created_at, run.id) for run in self._runs.values() if run.state.finished]
        for run_id in runs_to_prune(finished, self._run_limit):
            try:
                await self._store.delete(RUNS + run_id, self._run_indexes.get(run_id))
            except StoreUnavailable as exc:
                log.warning(
                    "registry: pruning finished run %s failed: %s",
                    run_id,
                    exc,
                    extra={"run": run_id},
                )
                return
            # Its index stays known, so an older listing cannot bring the run back.
            self._runs.pop(run_id, None)

    async def wait_run(self, run_id: str, revision: int, timeout: float) -> Run | None:
        """Long poll: the run once its ``revision`` passes ``revision``, or at the timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            current = self._runs.get(run_id)
            if self._closed or current is None or current.revision > revision:
                return current
            remaining = deadline - loop.time()
            if remaining <= 0 or not await self._watchers.wait(RUN_WATCH + run_id, remaining):
                return self._runs.get(run_id)

    # -- journal --------------------------------------------------------------------

    async def record(self, event: Event) -> Event:
        """Append ``event`` to the journal with the next sequence number; see :class:`Journal`.

        Events recorded together (a verdict for each locator of a lost site) go to the
        store in one commit, with any mappings written at the same time. Once it is
        stored, subscribers (:meth:`on_event`) hear of it as stored.
        """
        [stored] = await self.record_all((event,))
        return stored

    async def record_all(self, events: Sequence[Event]) -> list[Event]:
        """Append ``events`` in order, in one write of one commit; see :meth:`record`.

        A provider's pass journals one event per service it changed: a site lost is a
        thousand, which one by one would be a thousand commits in a row.
        """
        written = await self._commits.write(
            Write(None, records=tuple(as_record(event) for event in events))
        )
        await self._journal.grew(len(written.records))
        stored = [
            dataclasses.replace(event, seq=record.seq)
            for event, record in zip(events, written.records, strict=True)
        ]
        for event in stored:
            self._event_subscribers.notify(event)
        return stored

    def on_event(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``callback`` with every event this registry records from now on, as stored.

        Callbacks run synchronously inside :meth:`record`; one that raises is logged and
        skipped.

        Returns:
            A function that unsubscribes ``callback``.
        """
        return self._event_subscribers.add(callback)

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
        """The newest ``limit`` journal events, oldest first; see :meth:`Journal.events`."""
        return await self._journal.events(service, since, limit, site=site, until=until, kind=kind)

    async def close(self) -> None:
        """Stop following, release long polls with the current mappings, close the store."""
        self._closed = True
        followers, self._followers = self._followers, []
        for task in followers:
            task.cancel()
        await asyncio.gather(*followers, return_exceptions=True)
        self._watchers.wake_all()
        await self._commits.close()
        await self._store.close()

    # -- following the store ----------------------------------------------------------

    async def _reread_mapping(self, service: str) -> Mapping | None:
        """Read ``service``'s mapping from the store into the cache, after a lost race."""
        entry = await self._store.get(MAPPINGS + service)
        if entry is not None:
            self._apply_mappings(entry.index, [entry], partial=True)
        return self._mappings.get(service)

    def _apply_mappings(
        self,
        index: int,
        entries: builtins.list[Entry],
        *,
        strict: bool = False,
        partial: bool = False,
    ) -> None:
        """Take the mappings in ``entries`` that are newer than the cache.

        ``strict`` (loading) raises on an unreadable document; following logs and skips it.
        Mappings are never deleted, so ``partial`` changes nothing here.
        """
        del index, partial
        for entry in entries:
            service = entry.key.removeprefix(MAPPINGS)
            if entry.index <= self._indexes.get(service, 0):
                continue
            mapping = self._decoded(entry, mapping_from_dict, strict)
            if mapping is None:
                continue
            current = self._mappings.get(service)
            if current is not None and mapping.version <= current.version:
                log.warning(
                    "registry: %s version %d in the store (index %d) is not above cached"
                    " version %d; kept the cached one",
                    service,
                    mapping.version,
                    entry.index,
                    current.version,
                    extra={"service": service},
                )
                continue
            self._mappings[service] = mapping
            self._indexes[service] = entry.index
            self._mapping_subscribers.notify(mapping)
            self._watchers.wake(service)

    def _apply_intents(
        self,
        index: int,
        entries: builtins.list[Entry],
        *,
        strict: bool = False,
        partial: bool = False,
    ) -> None:
        """Take new intents from ``entries`` and, unless ``partial``, drop those not listed.

        An intent is dropped only if the cache holds it from at or before ``index``: one
        this registry added after the listing was read is not in it, yet still stands.
        """
        changed = False
        listed: set[str] = set()
        for entry in entries:
            intent_id = entry.key.removeprefix(INTENTS)
            listed.add(intent_id)
            if entry.index <= self._intent_indexes.get(intent_id, 0):
                continue
            intent = self._decoded(entry, intent_from_dict, strict)
            if intent is None:
                continue
            self._intents[intent_id] = intent
            self._intent_indexes[intent_id] = entry.index
            changed = True
        if not partial:
            for intent_id in list(self._intents):
                if intent_id not in listed and self._intent_indexes.get(intent_id, 0) <= index:
                    del self._intents[intent_id]
                    changed = True
        if changed:
            self._intent_subscribers.notify(self.intents())

    def _apply_runs(
        self,
        index: int,
        entries: builtins.list[Entry],
        *,
        strict: bool = False,
        partial: bool = False,
    ) -> None:
        """Take the runs in ``entries`` that are newer than the cache (pruning drops them)."""
        del index, partial
        for entry in entries:
            run_id = entry.key.removeprefix(RUNS)
            if entry.index <= self._run_indexes.get(run_id, 0):
                continue
            run = self._decoded(entry, run_from_dict, strict)
            if run is None:
                continue
            current = self._runs.get(run_id)
            if current is not None and run.revision < current.revision:
                continue
            self._runs[run_id] = run
            self._run_indexes[run_id] = entry.index
            self._watchers.wake(RUN_WATCH + run_id)
            self._run_subscribers.notify(run)

    def _decoded(self, entry: Entry, parse: Callable[[Document], T], strict: bool) -> T | None:
        try:
            return decode(entry, parse)
        except StoreUnavailable:
            if strict:
                raise
            log.exception("registry: skipped an unreadable document from the store")
            return None


def _check_succession(mapping: Mapping, current: Mapping | None) -> None:
    """Refuse a mapping whose version or epoch does not follow ``current``."""
    service = mapping.service
    if current is None:
        if mapping.version < 1:
            raise ConflictError(
                f"registry: {service} version {mapping.version} cannot start a new service"
                " (stored version none, expected 1 or more)"
            )
        return
    expected = current.version + 1
    if mapping.version != expected:
        raise ConflictError(
            f"registry: {service} version {mapping.version} does not follow stored version"
            f" {current.version} (expected {expected})"
        )
    stale = stale_term(current.written_by, mapping.written_by)
    if stale is not None:
        raise ConflictError(f"registry: {service} version {mapping.version} refused: {stale}")
    if mapping.epoch < current.epoch:
        raise ConflictError(
            f"registry: {service} epoch {mapping.epoch} is below stored epoch {current.epoch}"
            f" (version {mapping.version} over stored version {current.version})"
        )
