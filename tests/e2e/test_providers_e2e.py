"""gtm driving a real BIND and a real HAProxy: moves, outages, hand edits, keys, plan/apply."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from gtm.core.model import Event
from gtm.demo.sites import SiteFleet
from gtm.runtime import Runtime
from testbed.bind import BindServer
from testbed.haproxy import HaproxyServer

from .provider_fixtures import (
    BIND_PROVIDER,
    HAPROXY_PROVIDER,
    TSIG_ENV,
    bind_addresses,
    dig,
    eventually,
    haproxy_weights,
    named_or_skip,
    nsupdate,
    provider_doc,
    start_haproxy,
    through_haproxy,
)
from .support import SITES, TOKEN, ZONE, wait_published

FIRST, SECOND = "aws-use1", "gcp-euw1"


@pytest.fixture
def bind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[BindServer]:
    """A BIND primary for the zone, its key in :data:`TSIG_ENV`; stopped whatever happens."""
    named_or_skip()
    server = BindServer(tmp_path / "bind", ZONE)
    try:
        server.start()
        monkeypatch.setenv(TSIG_ENV, server.key_secret)
        yield server
    finally:
        server.stop()


@pytest.fixture
def haproxy(tmp_path: Path, ports: dict[str, int]) -> Iterator[HaproxyServer]:
    """An HAProxy with a backend per service before the fleet; stopped whatever happens."""
    server: HaproxyServer | None = None
    try:
        server = start_haproxy(tmp_path / "haproxy", ports)
        yield server
    finally:
        if server is not None:
            server.stop()


async def status(runtime: Runtime, name: str) -> dict[str, Any]:
    """One provider's status, as ``GET /v1/providers`` shows it."""
    url = f"http://127.0.0.1:{runtime.api_port}/v1/providers"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as answer:
        assert answer.status == 200, await answer.text()
        doc = await answer.json()
    found: dict[str, Any] = next(p for p in doc["providers"] if p["name"] == name)
    return found


def healthy(doc: dict[str, Any]) -> bool:
    """Whether a provider status says its last pass held every mapping."""
    return doc["last_error"] is None and doc["last_success"] is not None and doc["pending"] == 0


async def serving(bind: BindServer, haproxy: HaproxyServer, service: str, site: str) -> None:
    """Wait until BIND answers ``site`` for ``service`` and HAProxy sends it only there."""
    await eventually(
        lambda: bind_addresses(bind, service),
        lambda found: found == {SITES[site]},
        what=f"BIND's A records for {service}",
    )
    await eventually(
        lambda: through_haproxy(haproxy, service),
        lambda sites: set(sites) == {site},
        what=f"sites answering {service} through HAProxy",
    )


@pytest.fixture
async def gtm(
    tmp_path: Path,
    ports: dict[str, int],
    fleet: SiteFleet,
    bind: BindServer,
    haproxy: HaproxyServer,
    make_runtime: Callable[[dict[str, Any]], Runtime],
) -> AsyncIterator[Runtime]:
    """gtm with both providers, once BIND and HAProxy send every service to aws-use1."""
    runtime = make_runtime(provider_doc(tmp_path, ports, bind, haproxy))
    await runtime.start()
    await wait_published(runtime)
    for service in ports:
        await serving(bind, haproxy, service, FIRST)
    for name in (BIND_PROVIDER, HAPROXY_PROVIDER):
        await eventually(lambda n=name: status(runtime, n), healthy, what=f"{name} status")
    yield runtime


async def journal(runtime: Runtime, kind: str, service: str = "billing") -> list[Event]:
    """The journal's events of ``kind`` for ``service``."""
    return await runtime.registry.events(service=service, kind=kind, limit=1000)


async def test_killed_site_moves_bind_and_haproxy_with_timings(
    gtm: Runtime, fleet: SiteFleet, bind: BindServer, haproxy: HaproxyServer
) -> None:
    assert dig(bind, "billing") in (None, {SITES[FIRST]})
    fleet[FIRST].kill()
    await serving(bind, haproxy, "billing", SECOND)
    assert dig(bind, "billing") in (None, {SITES[SECOND]})
    assert await haproxy_weights(haproxy, "billing") == {FIRST: 0, SECOND: 100, "dc-paris": 0}
    mapping = gtm.registry.get("billing")
    assert mapping is not None and mapping.active_site == SECOND
    [move] = [e for e in await journal(gtm, "move") if e.version == mapping.version]

    def carried(events: list[Event]) -> bool:
        actors = {e.actor for e in events if e.version == mapping.version}
        return actors == {BIND_PROVIDER, HAPROXY_PROVIDER}

    events = await eventually(lambda: journal(gtm, "provider"), carried, what="provider events")
    for event in (e for e in events if e.version == mapping.version):
        assert event.to_site == SECOND
        timeline = event.timeline
        # "decided" is the mapping's own time stamp, taken when the policy decided it.
        assert timeline["decided"] == mapping.updated_at <= move.timeline["decision"]
        assert timeline["decided"] <= timeline["applied"] <= timeline["verified"]
        assert "applied in" in event.reason and "verified in" in event.reason


async def test_bind_down_during_move_holds_error_haproxy_moves_then_bind_catches_up(
    gtm: Runtime, fleet: SiteFleet, bind: BindServer, haproxy: HaproxyServer
) -> None:
    bind.stop()
    fleet[FIRST].kill()
    await eventually(
        lambda: through_haproxy(haproxy, "billing"),
        lambda sites: set(sites) == {SECOND},
        what="sites answering billing through HAProxy",
    )
    doc = await eventually(
        lambda: status(gtm, BIND_PROVIDER),
        lambda doc: doc["last_error"] is not None,
        what="bind status",
    )
    assert f"{bind.address}:{bind.port}" in doc["last_error"]
    assert "cannot reach" in doc["last_error"] and ZONE in doc["last_error"]
    assert healthy(await status(gtm, HAPROXY_PROVIDER))
    bind.start()  # same port, key and directory: the zone comes back as it was left
    await serving(bind, haproxy, "billing", SECOND)
    await eventually(lambda: status(gtm, BIND_PROVIDER), healthy, what="bind status")


async def test_record_changed_with_nsupdate_is_restored_and_journaled_as_drift(
    gtm: Runtime, bind: BindServer, haproxy: HaproxyServer
) -> None:
    name = f"billing.{ZONE}"
    nsupdate(bind, f"update delete {name} A", f"update add {name} 5 A 127.0.9.9")
    await serving(bind, haproxy, "billing", FIRST)
    drift = await eventually(
        lambda: journal(gtm, "drift"),
        lambda events: any(e.actor == BIND_PROVIDER for e in events),
        what="drift events",
    )
    assert "changed outside gtm" in drift[-1].reason and "127.0.9.9" in drift[-1].reason
    assert (await status(gtm, BIND_PROVIDER))["drift_repaired"] >= 1


async def test_weight_changed_on_haproxy_socket_is_restored_as_drift(
    gtm: Runtime, bind: BindServer, haproxy: HaproxyServer
) -> None:
    await asyncio.to_thread(haproxy.command, f"set server billing/{SECOND} weight 100")
    await eventually(
        lambda: haproxy_weights(haproxy, "billing"),
        lambda weights: weights[SECOND] == 0,
        what="HAProxy weights of billing",
    )
    await eventually(
        lambda: journal(gtm, "drift"),
        lambda events: any(e.actor == HAPROXY_PROVIDER for e in events),
        what="drift events",
    )


async def test_wrong_tsig_secret_is_a_clear_error_and_haproxy_still_follows(
    tmp_path: Path,
    ports: dict[str, int],
    fleet: SiteFleet,
    bind: BindServer,
    haproxy: HaproxyServer,
    make_runtime: Callable[[dict[str, Any]], Runtime],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TSIG_ENV, base64.b64encode(secrets.token_bytes(32)).decode())
    runtime = make_runtime(provider_doc(tmp_path, ports, bind, haproxy))
    await runtime.start()
    await wait_published(runtime)
    doc = await eventually(
        lambda: status(runtime, BIND_PROVIDER),
        lambda doc: doc["last_error"] is not None,
        what="bind status",
    )
    error = doc["last_error"]
    assert ZONE in error and f"{bind.address}:{bind.port}" in error, error
    assert "TSIG" in error and bind.key_name in error and "tsig.secret" in error, error
    assert bind.key_secret not in error
    for service in ports:
        await eventually(
            lambda s=service: through_haproxy(haproxy, s),
            lambda sites: set(sites) == {FIRST},
            what=f"sites answering {service} through HAProxy",
        )
    assert healthy(await status(runtime, HAPROXY_PROVIDER))
    assert await bind_addresses(bind, "billing") == set()
    # Permanent: the next resyncs keep failing the same way rather than half-working.
    passes = doc["passes"]
    doc = await eventually(
        lambda: status(runtime, BIND_PROVIDER),
        lambda now: now["passes"] > passes or now["last_error_at"] > doc["last_error_at"],
        what="bind status",
    )
    assert doc["last_error"] == error and doc["applied"] == 0


async def test_haproxy_gone_is_an_error_and_bind_still_follows(
    gtm: Runtime, fleet: SiteFleet, bind: BindServer, haproxy: HaproxyServer
) -> None:
    haproxy.stop()
    fleet[FIRST].kill()
    await eventually(
        lambda: bind_addresses(bind, "billing"),
        lambda found: found == {SITES[SECOND]},
        what="BIND's A records for billing",
    )
    doc = await eventually(
        lambda: status(gtm, HAPROXY_PROVIDER),
        lambda doc: doc["last_error"] is not None,
        what="haproxy status",
    )
    assert haproxy.socket in doc["last_error"] and "unreachable" in doc["last_error"]
    await eventually(lambda: status(gtm, BIND_PROVIDER), healthy, what="bind status")


async def gtm_cli(config: Path, *args: str) -> tuple[int, str]:
    """Run ``gtm ARGS -c CONFIG`` as a child process; exit code and output."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        TSIG_ENV: os.environ[TSIG_ENV],
        "GTM_TEST_TOKEN": TOKEN,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gtm",
        *args,
        "-c",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_plan_and_apply_show_and_apply_the_difference_and_refuse_to_empty(
    tmp_path: Path,
    ports: dict[str, int],
    fleet: SiteFleet,
    bind: BindServer,
    haproxy: HaproxyServer,
    make_runtime: Callable[[dict[str, Any]], Runtime],
) -> None:
    """A zone being migrated onto gtm: BIND already serves ``search`` from records made by
    hand, and the config now lists search, but gtm has not run since, so the store holds
    no mapping for it. Meanwhile billing's record was edited by hand while gtm was down."""
    before = provider_doc(tmp_path, {"billing": ports["billing"]}, bind, haproxy)
    runtime = make_runtime(before)
    await runtime.start()
    await wait_published(runtime)
    await serving(bind, haproxy, "billing", FIRST)
    await runtime.stop()

    billing, search = f"billing.{ZONE}", f"search.{ZONE}"
    nsupdate(
        bind,
        f"update delete {billing} A",
        f"update add {billing} 5 A 127.0.9.9",
        f"update add {search} 300 A {SITES['dc-paris']}",
    )
    config = tmp_path / "after.yaml"
    after = provider_doc(tmp_path, ports, bind, haproxy, lb_services=["billing"])
    assert after["store"] == before["store"]
    config.write_text(yaml.safe_dump(after))

    code, out = await gtm_cli(config, "plan")
    assert code == 1, out
    assert f"{BIND_PROVIDER}: 1 change(s) to apply" in out, out
    assert f"~ {billing} A: A 5 127.0.9.9 -> A 5 {SITES[FIRST]}" in out, out
    assert "refusing to remove all 1 serving item(s) of search" in out, out
    assert "it has no mapping" in out and "--force" in out, out
    assert f"{HAPROXY_PROVIDER}: in step with the mappings, no changes" in out, out
    assert await bind_addresses(bind, "billing") == {"127.0.9.9"}  # plan changed nothing

    code, out = await gtm_cli(config, "apply")
    assert code == 1, out
    assert f"{BIND_PROVIDER}: 1 change(s) applied" in out and "refused:" in out, out
    assert await bind_addresses(bind, "billing") == {SITES[FIRST]}
    assert await bind_addresses(bind, "search") == {SITES["dc-paris"]}

    code, out = await gtm_cli(config, "apply", "--force")
    assert code == 0, out
    assert f"- {search} A: A 300 {SITES['dc-paris']}" in out, out
    assert await bind_addresses(bind, "search") == set()

    code, out = await gtm_cli(config, "plan")
    assert code == 0, out
    assert f"{BIND_PROVIDER}: in step with the mappings, no changes" in out, out
