"""Test support for the API: an in-memory registry, sample mappings, a server handle.

Kept out of ``conftest.py`` under a name of its own, so test modules can import it without
colliding with the conftest modules of other test directories.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
from pydantic import SecretStr

from gtm.api.server import ApiServer
from gtm.api.tokens import Scope, Token
from gtm.core.model import Event, Intent, Locator, Mapping, State
from gtm.errors import NotFound

SERVICES = ("billing", "ledger", "search")
SITES = ("aws-use1", "dc-paris", "gcp-euw1")
TOKEN = "s3cret-token"
"""The secret of ``alice``, an admin, sent by :meth:`Api.writer` unless told otherwise."""
OPERATOR_TOKEN = "0perator-s3cret"
READER_TOKEN = "read3r-s3cret"
TOKENS = {
    "alice": Token("alice", Scope.ADMIN, SecretStr(TOKEN)),
    "ci-deployer": Token("ci-deployer", Scope.OPERATE, SecretStr(OPERATOR_TOKEN)),
    "dashboard": Token("dashboard", Scope.READ, SecretStr(READER_TOKEN)),
}
NOW = 1_700_000_000.0


class FakeRegistry:
    """The registry interface the API codes against, held in memory.

    ``wait`` blocks on a real asyncio event, so long polls wake when another task
    publishes, exactly as with the real registry.
    """

    def __init__(self) -> None:
        self._mappings: dict[str, Mapping] = {}
        self._intents: dict[str, Intent] = {}
        self._ids = itertools.count(1)
        self._changed = asyncio.Event()
        self.waiting = asyncio.Event()
        self.waits: list[tuple[str, int, float]] = []
        self.event_queries: list[tuple[str | None, float | None, int]] = []
        self.event_filters: list[tuple[float | None, float | None, str | None]] = []
        """``(since, until, kind)`` of each events query."""
        self.journal: list[Event] = []
        self.failures: dict[str, BaseException] = {}
        """Exceptions to raise from the named methods, to play a failing store."""

    def publish(self, mapping: Mapping) -> None:
        self._mappings[mapping.service] = mapping
        self._changed.set()
        self._changed = asyncio.Event()

    def _fail(self, method: str) -> None:
        if method in self.failures:
            raise self.failures[method]

    def get(self, service: str) -> Mapping | None:
        self._fail("get")
        return self._mappings.get(service)

    def mappings(self) -> list[Mapping]:
        self._fail("mappings")
        return [self._mappings[name] for name in sorted(self._mappings)]

    async def wait(self, service: str, index: int, timeout: float) -> Mapping | None:
        self.waits.append((service, index, timeout))
        self._fail("wait")
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            current = self._mappings.get(service)
            if current is not None and current.version > index:
                return current
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return current
            self.waiting.set()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return self._mappings.get(service)

    def intents(self) -> list[Intent]:
        return list(self._intents.values())

    async def add_intent(self, intent: Intent) -> Intent:
        self._fail("add_intent")
        stored = replace(intent, id=intent.id or f"i-{next(self._ids)}")
        self._intents[stored.id] = stored
        return stored

    async def remove_intent(self, intent_id: str) -> Intent:
        try:
            return self._intents.pop(intent_id)
        except KeyError:
            raise NotFound(f"registry: no intent {intent_id!r}") from None

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
        self.event_queries.append((service, since, limit))
        self.event_filters.append((since, until, kind))
        self._fail("events")
        return self.journal[:limit]


async def until_waiting(registry: FakeRegistry, poll: asyncio.Task[Any]) -> None:
    """Return once ``poll`` is blocked in ``registry.wait``; fail if it ended first."""
    waiting = asyncio.ensure_future(registry.waiting.wait())
    await asyncio.wait((waiting, poll), return_when=asyncio.FIRST_COMPLETED)
    if not waiting.done():
        waiting.cancel()
        raise AssertionError(f"the long poll ended before waiting: {poll.result()!r}")


def billing(version: int = 7, **changes: Any) -> Mapping:
    """A mapping of ``billing``: active in aws-use1, dc-paris next, gcp-euw1 down."""
    mapping = Mapping(
        service="billing",
        version=version,
        epoch=3,
        ttl=30,
        active_site="aws-use1",
        locators=(
            Locator("billing@aws-use1/lb-1", "aws-use1", "127.0.1.1", 8443, 1, 60, State.UP),
            Locator("billing@aws-use1/lb-2", "aws-use1", "127.0.1.2", 8443, 1, 40, State.UP),
            Locator("billing@dc-paris/lb-1", "dc-paris", "127.0.2.1", 8443, 2, 100, State.UP),
            Locator("billing@gcp-euw1/lb-1", "gcp-euw1", "127.0.3.1", 8443, 3, 100, State.DOWN),
        ),
        reason="aws-use1 is healthy and active",
        updated_at=NOW,
        written_by="gtm-1",
    )
    return replace(mapping, **changes)


def search() -> Mapping:
    """A mapping of ``search`` served from dc-paris."""
    return Mapping(
        service="search",
        version=2,
        epoch=1,
        ttl=10,
        active_site="dc-paris",
        locators=(Locator("search@dc-paris/a", "dc-paris", "127.0.2.9", 80, 1, 100, State.UP),),
        reason="dc-paris is healthy and active",
    )


@dataclass
class Api:
    """A running API server and what the tests need to talk to it."""

    url: str
    registry: FakeRegistry
    http: aiohttp.ClientSession
    server: ApiServer

    def writer(self, token: str = TOKEN) -> dict[str, str]:
        """Headers of a write request carrying ``token``."""
        return {"Authorization": f"Bearer {token}"}


ApiFactory = Callable[..., Awaitable[Api]]
"""Starts an API server with ``ApiDeps`` overrides (the ``start`` fixture)."""
