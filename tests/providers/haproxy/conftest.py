"""Fixtures for the HAProxy provider: three simulated sites and a real HAProxy before them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import aiohttp
import pytest
from haproxy_harness import SERVICE, SITES, Place, StartHaproxy, Traffic

from gtm.core.model import Locator, Mapping, State
from gtm.demo.sites import SimulatedSite, SiteFleet
from testbed.haproxy import HaproxyServer, find_haproxy
from testbed.ports import free_port


@pytest.fixture(scope="session")
def haproxy_binary() -> str:
    """The haproxy executable, or a skip that says what is missing."""
    found = find_haproxy()
    if found is None:
        pytest.skip("haproxy is not installed (Debian package haproxy; `make system`)")
    return found


@pytest.fixture
def fleet() -> Iterator[SiteFleet]:
    """One simulated site per address, each a real process; stopped whatever happens."""
    sites = SiteFleet(
        {
            name: SimulatedSite(name, address, {SERVICE: free_port(address)})
            for name, address in SITES.items()
        }
    )
    try:
        sites.start()
        yield sites
    finally:
        sites.stop()


@pytest.fixture
def place(fleet: SiteFleet) -> Place:
    """Build ``billing``'s mapping over the fleet: ``place({"site-a": 1, "site-b": 2})``.

    Sites left out get priority 255 and weight 0 (drained); ``weights`` and ``states``
    override a site's weight (default 100) and state (default up).
    """

    def build(
        priorities: dict[str, int],
        *,
        weights: dict[str, int] | None = None,
        states: dict[str, State] | None = None,
    ) -> Mapping:
        locators = []
        for name, site in fleet.sites.items():
            priority = priorities.get(name, 255)
            default = 100 if name in priorities else 0
            locators.append(
                Locator(
                    id=f"{SERVICE}@{name}/lb-1",
                    site=name,
                    address=site.address,
                    port=site.ports[SERVICE],
                    priority=priority,
                    weight=(weights or {}).get(name, default),
                    state=(states or {}).get(name, State.UP),
                )
            )
        active = min(priorities, key=lambda s: priorities[s]) if priorities else None
        return Mapping(SERVICE, 1, 1, 30, active, tuple(locators))

    return build


@pytest.fixture
def start_haproxy(tmp_path: Path, haproxy_binary: str) -> Iterator[StartHaproxy]:
    """Start HAProxy processes with given backends; every one is stopped at the end."""
    started: list[HaproxyServer] = []

    def start(
        backends: dict[str, list[tuple[str, str, int]]],
        stats_socket: Literal["unix", "tcp"] = "unix",
    ) -> HaproxyServer:
        server = HaproxyServer(
            tmp_path / f"haproxy-{len(started)}",
            backends,
            stats_socket=stats_socket,
            executable=haproxy_binary,
        )
        started.append(server)
        server.start()
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def traffic() -> Traffic:
    """Which site answered each of 12 requests through the frontend, in order."""

    async def send(server: HaproxyServer, requests: int = 12) -> list[str]:
        url = f"http://127.0.0.1:{server.frontend_port(SERVICE)}/"
        # A new connection per request, so nothing but HAProxy's weights picks the site.
        connector = aiohttp.TCPConnector(force_close=True)
        timeout = aiohttp.ClientTimeout(total=5)
        sites = []
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            for _ in range(requests):
                async with session.get(url) as answer:
                    assert answer.status == 200, await answer.text()
                    body = await answer.json()
                    sites.append(str(body["site"]))
        return sites

    return send
