"""Fixtures for the DNS responder: a fake mapping source, a sample zone, a live server."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from gtm.core.model import NEVER, Locator, Mapping, State
from gtm.dns import DnsServer, MappingSource, ZoneAnswers
from gtm.dns.cache import DEFAULT_BUDGET

ZONE = "gtm.example.test."
START = 1_700_000_000.0
"""The fake clock's time, so the SOA serial is known."""


class FakeSource:
    """A mapping source held in a dict; ``publish`` notifies like the registry does."""

    def __init__(self, *mappings: Mapping) -> None:
        self.mappings = {m.service: m for m in mappings}
        self.gets = 0
        self._callbacks: list[Callable[[Mapping], None]] = []

    def get(self, service: str) -> Mapping | None:
        self.gets += 1
        return self.mappings.get(service)

    def subscribe(self, callback: Callable[[Mapping], None]) -> Callable[[], None]:
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback)

    @property
    def subscribers(self) -> int:
        return len(self._callbacks)

    def publish(self, mapping: Mapping) -> None:
        self.mappings[mapping.service] = mapping
        for callback in list(self._callbacks):
            callback(mapping)


def billing_mapping() -> Mapping:
    """Active in aws-use1 (IPv4 and IPv6), gcp-euw1 next, dc-paris down, one site never."""
    return Mapping(
        service="billing",
        version=7,
        epoch=3,
        ttl=30,
        active_site="aws-use1",
        locators=(
            Locator("billing@aws-use1/lb-1", "aws-use1", "192.0.2.10", 443, 1, 100, State.UP),
            Locator("billing@aws-use1/lb-2", "aws-use1", "2001:db8::10", 443, 1, 100, State.UP),
            Locator("billing@gcp-euw1/lb-1", "gcp-euw1", "198.51.100.20", 8443, 2, 50, State.UP),
            Locator("billing@dc-paris/lb-1", "dc-paris", "203.0.113.30", 443, 3, 100, State.DOWN),
            Locator("billing@lab/lb-1", "lab", "203.0.113.40", 443, NEVER, 100, State.UP),
        ),
    )


@pytest.fixture
def source() -> FakeSource:
    return FakeSource(billing_mapping())


@pytest.fixture
def billing() -> Mapping:
    return billing_mapping()


@pytest.fixture
def make_answers(source: FakeSource) -> Iterator[Callable[..., ZoneAnswers]]:
    """Build ZoneAnswers for the test zone (on ``source`` unless given another)."""
    made: list[ZoneAnswers] = []

    def make(on: MappingSource | None = None, cache_budget: int = DEFAULT_BUDGET) -> ZoneAnswers:
        zone = ZoneAnswers(
            ZONE,
            on or source,
            ns=("ns1", "ns2"),
            negative_ttl=5,
            clock=lambda: START,
            cache_budget=cache_budget,
        )
        made.append(zone)
        return zone

    yield make
    for zone in made:
        zone.close()


@pytest.fixture
def answers(make_answers: Callable[..., ZoneAnswers]) -> ZoneAnswers:
    return make_answers()


@dataclass
class RunningServer:
    """A DnsServer serving on 127.0.0.1 from its own thread's event loop."""

    host: str
    port: int
    source: FakeSource
    loop: asyncio.AbstractEventLoop

    def publish(self, mapping: Mapping) -> None:
        """Change a mapping from the server's loop, as the registry would, and wait."""

        async def publish() -> None:
            self.source.publish(mapping)

        asyncio.run_coroutine_threadsafe(publish(), self.loop).result(timeout=10)


@pytest.fixture
def dns_server(answers: ZoneAnswers, source: FakeSource) -> Iterator[RunningServer]:
    """A live server the tests query with blocking dnspython calls from the main thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="dns-test-server", daemon=True)
    thread.start()
    server = DnsServer(answers)
    try:
        asyncio.run_coroutine_threadsafe(server.start("127.0.0.1", 0), loop).result(timeout=10)
        yield RunningServer("127.0.0.1", server.port, source, loop)
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
