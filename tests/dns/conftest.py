"""Fixtures for the DNS responder: a fake mapping source, a sample zone, a live server."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from dns_samples import START, ZONE, FakeSource, billing_mapping

from gtm.core.model import Mapping
from gtm.dns import DnsServer, MappingSource, ZoneAnswers
from gtm.dns.cache import DEFAULT_BUDGET


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
