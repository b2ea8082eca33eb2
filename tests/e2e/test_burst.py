"""Cloud bursting end to end: a slow site overspills into the next in BIND and HAProxy, and back."""

from __future__ import annotations

import asyncio
import subprocess
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import dns.asyncquery
import dns.message
import dns.rdatatype
import pytest
from demo_process import BIN, ROOT, DemoConfig, reader_env

from gtm.core.burst import Phase
from gtm.core.journal import EventKind
from gtm.demo.sites import SiteFleet
from gtm.runtime import Runtime
from testbed.bind import BindServer
from testbed.haproxy import HaproxyServer

from .provider_fixtures import (
    HAPROXY_PROVIDER,
    TSIG_ENV,
    bind_addresses,
    eventually,
    haproxy_weights,
    named_or_skip,
    provider_doc,
    start_haproxy,
    through_haproxy,
)
from .support import SITES, wait_published

FIRST, SECOND = "aws-use1", "gcp-euw1"

CHECK = {
    "type": "http",
    "path": "/health",
    "interval": "1s",
    "timeout": "900ms",
    "recheck_interval": "20ms",
}
"""Probes every second that a slow answer (300 ms) passes with room to spare."""


def burst_doc(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with billing under ``policy: burst``: 150 ms for 2 s starts it, 60 ms ends it."""
    billing = doc["services"]["billing"]
    billing["policy"] = "burst"
    billing["burst"] = {
        "above": "150ms",
        "below": "60ms",
        "for": "2s",
        "calm": "2s",
        "hold": "3s",
        "ramp": "1s",
        "steps": 2,
        "share": 50,
    }
    return doc


@pytest.fixture
def bind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[BindServer]:
    """A BIND primary for the zone, its key in :data:`TSIG_ENV`; stopped whatever happens."""
    named_or_skip()
    server = BindServer(tmp_path / "bind", "gtm.example.test.")
    try:
        server.start()
        monkeypatch.setenv(TSIG_ENV, server.key_secret)
        yield server
    finally:
        server.stop()


@pytest.fixture
def haproxy(tmp_path: Path, ports: dict[str, int]) -> Iterator[HaproxyServer]:
    """An HAProxy with a backend per service; stopped whatever happens."""
    server: HaproxyServer | None = None
    try:
        server = start_haproxy(tmp_path / "haproxy", ports)
        yield server
    finally:
        if server is not None:
            server.stop()


@pytest.fixture
async def bursting(
    tmp_path: Path,
    ports: dict[str, int],
    fleet: SiteFleet,
    bind: BindServer,
    haproxy: HaproxyServer,
    make_runtime: Callable[[dict[str, Any]], Runtime],
) -> AsyncIterator[Runtime]:
    """gtm with billing under ``policy: burst``, once BIND and HAProxy send it to aws-use1."""
    doc = burst_doc(provider_doc(tmp_path, ports, bind, haproxy))
    for service in doc["services"].values():
        service["check"] = CHECK
    runtime = make_runtime(doc)
    await runtime.start()
    await wait_published(runtime)
    await eventually(
        lambda: bind_addresses(bind, "billing"),
        lambda found: found == {SITES[FIRST]},
        what="BIND's A records for billing",
    )
    await eventually(
        lambda: through_haproxy(haproxy, "billing"),
        lambda sites: set(sites) == {FIRST},
        what="sites answering billing through HAProxy",
    )
    yield runtime


async def test_a_slow_site_overspills_to_the_next_in_dns_and_haproxy_and_returns(
    bursting: Runtime, fleet: SiteFleet, bind: BindServer, haproxy: HaproxyServer
) -> None:
    fleet[FIRST].set_mode("slow", delay=0.3)

    await eventually(
        lambda: bind_addresses(bind, "billing"),
        lambda found: found == {SITES[FIRST], SITES[SECOND]},
        what="BIND's A records for billing while bursting",
    )
    await eventually(
        lambda: haproxy_weights(haproxy, "billing"),
        lambda weights: weights.get(FIRST) == 50 and weights.get(SECOND) == 50,
        what="HAProxy weights of billing at the full overspill",
    )
    await eventually(
        lambda: through_haproxy(haproxy, "billing", requests=20),
        lambda sites: SECOND in sites and FIRST in sites,
        what="sites answering billing through HAProxy while bursting",
    )
    mapping = bursting.registry.get("billing")
    assert mapping is not None and mapping.active_site == FIRST
    assert "overspills to gcp-euw1" in mapping.reason
    # SRV: the overspill site at priority 1 beside the active one, weights by share.
    assert await srv_records(bursting, "billing") == {
        (1, 50, FIRST),
        (1, 50, SECOND),
        (3, 100, "dc-paris"),
    }
    shown = await healthz(bursting)
    assert shown["bursts"]["billing"]["phase"] == "bursting"
    assert shown["bursts"]["billing"]["share"] == 50
    assert shown["bursts"]["billing"]["load"] > 0.15
    began = await bursting.registry.events(service="billing", kind=EventKind.BURST.value)
    assert any(event.reason.startswith("burst began: load of aws-use1") for event in began)

    fleet[FIRST].set_mode("up")

    await eventually(
        lambda: bind_addresses(bind, "billing"),
        lambda found: found == {SITES[FIRST]},
        what="BIND's A records for billing after the burst",
    )
    await eventually(
        lambda: through_haproxy(haproxy, "billing"),
        lambda sites: set(sites) == {FIRST},
        what="sites answering billing through HAProxy after the burst",
    )
    events = await bursting.registry.events(service="billing", kind=EventKind.BURST.value)
    reasons = [event.reason for event in events]
    assert any(reason.startswith("burst ended: load of aws-use1") for reason in reasons)
    assert any(reason.startswith("overspill left") for reason in reasons)
    # The service never moved: bursting changes shares, not the active site.
    final = bursting.registry.get("billing")
    assert final is not None and final.active_site == FIRST and final.epoch == mapping.epoch


def test_the_demo_burst_scenario_shows_the_overspill_begin_and_end(
    demo_config: DemoConfig, tmp_path: Path
) -> None:
    result = subprocess.run(
        [str(BIN / "gtm"), "demo", "--scenario", "burst", "-c", str(demo_config.path)],
        cwd=ROOT,
        env=reader_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "DNS answers aws-use1 and the overspill site" in out
    assert "overspills to gcp-euw1" in out
    assert "DNS answers aws-use1 alone again" in out
    assert "burst began: load of aws-use1" in out
    assert "burst ended: load of aws-use1" in out
    assert "burst done: billing overspilled from aws-use1 and came back, never moving." in out


async def test_a_restart_keeps_an_overspill_in_progress(
    tmp_path: Path,
    ports: dict[str, int],
    fleet: SiteFleet,
    bind: BindServer,
    haproxy: HaproxyServer,
    make_runtime: Callable[[dict[str, Any]], Runtime],
) -> None:
    doc = burst_doc(provider_doc(tmp_path, ports, bind, haproxy))
    doc["services"]["billing"]["burst"]["hold"] = "1h"  # nothing may end it during the test
    for service in doc["services"].values():
        service["check"] = CHECK
    first = make_runtime(doc)
    await first.start()
    await wait_published(first)
    fleet[FIRST].set_mode("slow", delay=0.3)
    await eventually(
        lambda: haproxy_weights(haproxy, "billing"),
        lambda weights: weights.get(FIRST) == 50 and weights.get(SECOND) == 50,
        what="HAProxy weights of billing at the full overspill",
    )
    before = first.registry.get("billing")
    assert before is not None
    await first.stop()
    # The site recovers while gtm is down: the overspill must still wait out its hold.
    fleet[FIRST].set_mode("up")

    second = make_runtime(doc)
    await second.start()
    await wait_published(second)
    # The restarted controller reads the site's load as calm now, long past ``calm`` (2 s):
    # only the hold rebuilt from the mapping keeps the overspill.
    calm_since = await eventually(
        lambda: _below_since(second),
        lambda since: since is not None,
        what="the restarted controller's calm timer",
    )
    assert calm_since is not None
    await eventually(
        lambda: _newest_reading(second),
        lambda seen: seen > calm_since + 3.0,
        what="readings 3 s into the calm",
    )
    cycle = second.controller.burst("billing")
    assert cycle is not None and cycle.phase is Phase.BURSTING
    after = second.registry.get("billing")
    assert after is not None
    assert [(loc.site, loc.priority, loc.weight) for loc in after.locators] == [
        (loc.site, loc.priority, loc.weight) for loc in before.locators
    ]
    assert await bind_addresses(bind, "billing") == {SITES[FIRST], SITES[SECOND]}
    events = await second.registry.events(service="billing", kind=EventKind.BURST.value)
    assert [e.reason.split(":")[0] for e in events] == ["burst began"]


async def _below_since(runtime: Runtime) -> float | None:
    cycle = runtime.controller.burst("billing")
    return None if cycle is None else cycle.below_since


async def _newest_reading(runtime: Runtime) -> float:
    cycle = runtime.controller.burst("billing")
    return -1.0 if cycle is None else cycle.seen


async def srv_records(runtime: Runtime, service: str) -> set[tuple[int, int, str]]:
    """(priority, weight, site) of each SRV record gtm's own DNS answers for ``service``."""
    query = dns.message.make_query(f"{service}.gtm.example.test.", dns.rdatatype.SRV)
    answer = await dns.asyncquery.udp(query, "127.0.0.1", port=runtime.dns_port, timeout=2)
    return {
        (rr.priority, rr.weight, rr.target.labels[0].decode())
        for rrset in answer.answer
        for rr in rrset
        if rr.rdtype == dns.rdatatype.SRV
    }


async def healthz(runtime: Runtime) -> dict[str, Any]:
    """``GET /healthz`` of ``runtime``."""
    url = f"http://127.0.0.1:{runtime.api_port}/healthz"
    async with aiohttp.ClientSession() as session, session.get(url) as answer:
        assert answer.status == 200, await answer.text()
        doc: dict[str, Any] = await answer.json()
    return doc


def _hold(port: int, seconds: float) -> None:
    """One request through HAProxy that the replica answers after ``seconds``."""
    url = f"http://127.0.0.1:{port}/?wait={seconds}"
    with urllib.request.urlopen(url, timeout=60) as answer:
        answer.read()


async def test_haproxy_sessions_on_the_active_site_make_it_overspill_and_return(
    tmp_path: Path,
    ports: dict[str, int],
    fleet: SiteFleet,
    bind: BindServer,
    haproxy: HaproxyServer,
    make_runtime: Callable[[dict[str, Any]], Runtime],
) -> None:
    doc = burst_doc(provider_doc(tmp_path, ports, bind, haproxy))
    doc["services"]["billing"]["burst"] = {
        "metric": "sessions",
        "provider": HAPROXY_PROVIDER,
        "above": 2,
        "below": 1,
        "for": "1s",
        "calm": "1s",
        "hold": "2s",
        "ramp": "0s",
    }
    runtime = make_runtime(doc)
    await runtime.start()
    await wait_published(runtime)
    alone = {SITES[FIRST]}
    await eventually(
        lambda: bind_addresses(bind, "billing"), lambda found: found == alone, what="BIND"
    )

    # Three long requests through HAProxy, all on aws-use1: 3 sessions on its server.
    port = haproxy.frontend_port("billing")
    held = [asyncio.create_task(asyncio.to_thread(_hold, port, 8.0)) for _ in range(3)]
    try:
        await eventually(
            lambda: bind_addresses(bind, "billing"),
            lambda found: found == {SITES[FIRST], SITES[SECOND]},
            what="BIND's A records for billing while sessions pile up",
        )
        await eventually(
            lambda: haproxy_weights(haproxy, "billing"),
            lambda weights: weights.get(FIRST) == 50 and weights.get(SECOND) == 50,
            what="HAProxy weights of billing at the full overspill",
        )
    finally:
        await asyncio.gather(*held)
    await eventually(
        lambda: bind_addresses(bind, "billing"),
        lambda found: found == alone,
        what="BIND's A records for billing once the sessions ended",
    )
    events = await runtime.registry.events(service="billing", kind=EventKind.BURST.value)
    reasons = [event.reason for event in events]
    assert any(r.startswith("burst began: load of aws-use1 3 above 2") for r in reasons), reasons
    assert any(r.startswith("burst ended: load of aws-use1 0 below 1") for r in reasons), reasons
