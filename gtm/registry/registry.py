"""The ID/locator registry: the single source of truth for where each service is.

Mappings and intents are cached in memory so the DNS responder and the API answer without
touching the store. Every write reaches the store first, as a compare-and-set, and only
then the cache, the subscribers and the long polls, so nobody sees a change that is not
durable.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import Callable

from gtm.core.codec import (
    Document,
    intent_from_dict,
    intent_to_dict,
    mapping_from_dict,
    mapping_to_dict,
)
from gtm.core.model import Event, Intent, Mapping
from gtm.errors import ConflictError, NotFound
from gtm.registry.documents import decode, encode
from gtm.registry.journal import JOURNAL_LIMIT, Journal
from gtm.registry.store import Store
from gtm.registry.subscribers import Subscribers
from gtm.registry.watch import Watchers

MAPPINGS = "mappings/"
"""Key prefix of mappings: ``mappings/<service>``."""

INTENTS = "intents/"
"""Key prefix of intents: ``intents/<id>``."""

RUNS = "runs/"
"""Key prefix of planned-failover runs: ``runs/<id>``."""

RUN_WATCH = "run:"
"""Watcher key prefix for long polls on a run (service names cannot contain a colon)."""


class Registry:
    """Mappings with versions and epochs, operators' intents, and the journal.

    Build one with :meth:`open`, which loads the store's mappings and intents; a registry
    made with the constructor alone starts empty whatever the store holds.

    The cache reflects this registry's own writes. Another writer on the same store makes
    this registry's next ``put`` of that service fail with ConflictError rather than
    overwrite it.

    Args:
        store: Where mappings, intents and events are kept; the registry closes it.
        instance_id: Name of this gtm instance, stamped into ``written_by`` of mappings
            that do not name their writer.
        journal_limit: How many of the newest events the journal keeps.
    """

    def __init__(
        self, store: Store, instance_id: str = "", *, journal_limit: int = JOURNAL_LIMIT
    ) -> None:
        self._store = store
        self._instance_id = instance_id
        self._journal = Journal(store, journal_limit)
        self._mappings: dict[str, Mapping] = {}
        self._indexes: dict[str, int] = {}
        self._intents: dict[str, Intent] = {}
        self._runs: dict[str, Document] = {}
        self._run_indexes: dict[str, int] = {}
        self._mapping_subscribers: Subscribers[Mapping] = Subscribers("mapping")
        self._intent_subscribers: Subscribers[list[Intent]] = Subscribers("intents")
        self._watchers = Watchers()
        self._closed = False

    @classmethod
    async def open(
        cls, store: Store, instance_id: str = "", *, journal_limit: int = JOURNAL_LIMIT
    ) -> Registry:
        """A registry over ``store`` with every stored mapping and intent loaded.

        Raises:
            StoreUnavailable: The store failed or holds an unreadable document.
        """
        registry = cls(store, instance_id, journal_limit=journal_limit)
        for entry in await store.list(MAPPINGS):
            mapping = decode(entry, mapping_from_dict)
            registry._mappings[mapping.service] = mapping
            registry._indexes[mapping.service] = entry.index
        for entry in await store.list(INTENTS):
            intent = decode(entry, intent_from_dict)
            registry._intents[intent.id] = intent
        for entry in await store.list(RUNS):
            run = decode(entry, dict)
            registry._runs[str(run["id"])] = run
            registry._run_indexes[str(run["id"])] = entry.index
        return registry

    # -- mappings -------------------------------------------------------------------

    def get(self, service: str) -> Mapping | None:
        """The current mapping of ``service``, or None when it has none (from memory)."""
        return self._mappings.get(service)

    def mappings(self) -> list[Mapping]:
        """Every current mapping, sorted by service (from memory)."""
        return [self._mappings[service] for service in sorted(self._mappings)]

    async def put(self, mapping: Mapping) -> Mapping:
        """Store ``mapping`` as the next version of its service.

        The version must be exactly one more than the stored one (at least 1 for a new
        service) and the epoch must not be lower. The store write is a compare-and-set on
        the index this registry last saw, so a concurrent writer makes it fail. Once the
        write is durable the cache is updated, then subscribers are called, then long
        polls on the service are woken.

        Args:
            mapping: The new mapping; an empty ``written_by`` becomes this instance's id.

        Returns:
            The mapping as stored.

        Raises:
            ConflictError: The version or epoch does not follow the stored mapping, or
                another writer changed it first; the message names both versions.
            StoreUnavailable: The store failed; nothing changed.
        """
        service = mapping.service
        current = self._mappings.get(service)
        _check_succession(mapping, current)
        if not mapping.written_by and self._instance_id:
            mapping = dataclasses.replace(mapping, written_by=self._instance_id)
        entry = await self._store.cas(
            MAPPINGS + service, encode(mapping_to_dict(mapping)), self._indexes.get(service, 0)
        )
        if entry is None:
            stored = "none" if current is None else str(current.version)
            raise ConflictError(
                f"registry: {service} version {mapping.version} lost to a concurrent write"
                f" over stored version {stored}"
            )
        self._mappings[service] = mapping
        self._indexes[service] = entry.index
        self._mapping_subscribers.notify(mapping)
        self._watchers.wake(service)
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
        """Call ``callback`` with every mapping stored from now on.

        Callbacks run synchronously inside ``put``; one that raises is logged and skipped.

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
            raise ConflictError(f"registry: intent {intent.id} already exists")
        self._intents[intent.id] = intent
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

    def runs(self) -> list[Document]:
        """Every stored planned-failover run document, oldest first (from memory)."""
        return sorted(self._runs.values(), key=lambda run: (run["created_at"], run["id"]))

    def run(self, run_id: str) -> Document | None:
        """The run document ``run_id``, or None."""
        return self._runs.get(run_id)

    async def save_run(self, run: Document) -> Document:
        """Store a run document (created or changed), compare-and-set on its last index.

        Raises:
            ConflictError: Another writer changed the run since this registry saw it.
            StoreUnavailable: The store failed; nothing changed.
        """
        run_id = str(run["id"])
        entry = await self._store.cas(RUNS + run_id, encode(run), self._run_indexes.get(run_id, 0))
        if entry is None:
            raise ConflictError(f"registry: run {run_id} was changed by another writer")
        self._runs[run_id] = run
        self._run_indexes[run_id] = entry.index
        self._watchers.wake(RUN_WATCH + run_id)
        return run

    async def wait_run(self, run_id: str, revision: int, timeout: float) -> Document | None:
        """Long poll: the run once its ``revision`` passes ``revision``, or at the timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            current = self._runs.get(run_id)
            if self._closed or current is None or int(current["revision"]) > revision:
                return current
            remaining = deadline - loop.time()
            if remaining <= 0 or not await self._watchers.wait(RUN_WATCH + run_id, remaining):
                return self._runs.get(run_id)

    # -- journal --------------------------------------------------------------------

    async def record(self, event: Event) -> Event:
        """Append ``event`` to the journal with the next sequence number; see :class:`Journal`."""
        return await self._journal.record(event)

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
        """Release long polls with the current mappings, then close the store."""
        self._closed = True
        self._watchers.wake_all()
        await self._store.close()


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
    if mapping.epoch < current.epoch:
        raise ConflictError(
            f"registry: {service} epoch {mapping.epoch} is below stored epoch {current.epoch}"
            f" (version {mapping.version} over stored version {current.version})"
        )
