"""A gtm DNS responder serving zone transfers and sending NOTIFY, for the transfer tests."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import threading
from collections.abc import Coroutine
from typing import Any

import dns.tsig
import pytest
from dns_samples import ZONE, FakeSource, billing_mapping

from gtm.core.model import Locator, Mapping, State
from gtm.core.transfer import Network
from gtm.dns import DnsServer, ZoneAnswers
from gtm.dns.notify import Notifier
from gtm.dns.transfer import ZoneTransfers
from gtm.dns.versions import ZoneVersions
from gtm.logs import Throttle, throttle
from testbed.bind import ADDRESS, BindServer

UP = State.UP


@pytest.fixture(autouse=True)
def fresh_log_throttle() -> None:
    """A new throttle on the transfer and NOTIFY logs, so each test sees its own lines."""
    for name in ("gtm.dns.transfer", "gtm.dns.notify"):
        logger = logging.getLogger(name)
        for old in [f for f in logger.filters if isinstance(f, Throttle)]:
            logger.removeFilter(old)
        throttle(logger)


def host(index: int) -> int:
    """The last octet of service ``index``'s addresses."""
    return index % 250 + 1


def services(count: int) -> list[Mapping]:
    """``billing`` and ``count`` more services, each active in site-a at 192.0.2.x."""
    extra = [
        Mapping(
            service=f"svc-{i:03d}",
            version=1,
            epoch=1,
            ttl=30,
            active_site="site-a",
            locators=(
                Locator(f"svc-{i:03d}@site-a/lb", "site-a", f"192.0.2.{host(i)}", 80, 1, 100, UP),
                Locator(f"svc-{i:03d}@site-b/lb", "site-b", f"198.51.100.{host(i)}", 80, 2, 1, UP),
            ),
        )
        for i in range(count)
    ]
    return [billing_mapping(), *extra]


def moved(mapping: Mapping) -> Mapping:
    """``mapping`` with its first site down and the next one active."""
    first = mapping.locators[0].site
    locators = tuple(
        dataclasses.replace(loc, state=State.DOWN, priority=3)
        if loc.site == first
        else dataclasses.replace(loc, priority=1)
        if loc.priority == 2
        else loc
        for loc in mapping.locators
    )
    return dataclasses.replace(
        mapping,
        version=mapping.version + 1,
        epoch=mapping.epoch + 1,
        active_site=locators[-1].site if first != locators[-1].site else None,
        locators=locators,
    )


class Primary:
    """A gtm DNS responder serving transfers and sending NOTIFY, on its own thread's loop."""

    def __init__(
        self,
        mappings: list[Mapping],
        *,
        allow: list[Network],
        key: dns.tsig.Key | None,
        notify: list[tuple[str, int]],
        limit: int = 1000,
    ) -> None:
        self.source = FakeSource(*mappings)
        self.versions = ZoneVersions(ZONE, mappings, limit=limit)
        self.answers = ZoneAnswers(ZONE, self.source, keyring=key, versions=self.versions)
        transfers = ZoneTransfers(self.answers, self.versions, allow=allow, key=key)
        self.server = DnsServer(self.answers, transfers=transfers)
        self.notifier = Notifier(self.answers, self.source, notify, key=key)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="gtm-primary")

    def call(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    def start(self) -> None:
        self.thread.start()
        self.call(self.server.start(ADDRESS, 0))
        self.call(self.notifier.start())

    def stop(self) -> None:
        if self.thread.is_alive():
            self.call(self.notifier.close())
            self.call(self.server.close())
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join()
        self.answers.close()
        self.loop.close()

    @property
    def port(self) -> int:
        return self.server.port

    def publish(self, *mappings: Mapping) -> None:
        """Change mappings on the server's loop, in one turn, as the registry would."""

        async def publish() -> None:
            for mapping in mappings:
                self.source.publish(mapping)

        self.call(publish())


def bind_key(bind: BindServer) -> dns.tsig.Key:
    return dns.tsig.Key(bind.key_name, base64.b64decode(bind.key_secret), bind.algorithm)
