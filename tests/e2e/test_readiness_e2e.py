"""Release readiness end to end: real gtm, real workloads, one site a release behind."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gtm.core.readiness import Readiness, ServiceReleases
from gtm.demo.scenario import dns_addresses
from gtm.demo.sites import SimulatedSite, SiteFleet
from gtm.demo.workload import DEFAULT_RELEASE
from gtm.runtime import Runtime

from .planned_fixtures import cli, eventually
from .support import SITES, TOKEN, ZONE, config_doc, wait_published

ACTIVE, OLD, SAME = "aws-use1", "gcp-euw1", "dc-paris"
OLD_RELEASE = "2.3.0"
BOTH = f"{OLD} runs release {OLD_RELEASE}, the active site {ACTIVE} runs release {DEFAULT_RELEASE}"
CHECK = {
    "type": "http",
    "path": "/health",
    "interval": "200ms",
    "timeout": "100ms",
    "recheck_interval": "20ms",
    "release": {"header": "X-Release"},
}


@pytest.fixture
def fleet(ports: dict[str, int]) -> Iterator[SiteFleet]:
    """The three sites as real processes, gcp-euw1 one release behind; stopped whatever happens."""
    sites = SiteFleet(
        {
            name: SimulatedSite(name, address, dict(ports), OLD_RELEASE if name == OLD else None)
            for name, address in SITES.items()
        }
    )
    try:
        sites.start()
        yield sites
    finally:
        sites.stop()


async def started(
    tmp_path: Path,
    ports: dict[str, int],
    make_runtime: Callable[[dict[str, Any]], Runtime],
    readiness: Readiness,
) -> Runtime:
    """A started gtm whose services have ``readiness``, every site's release read."""
    runtime = make_runtime(config_doc(tmp_path, ports, check=CHECK, readiness=readiness.value))
    await runtime.start()
    await wait_published(runtime, timeout=30)

    async def releases() -> ServiceReleases:
        return runtime.controller.releases("billing")[0]

    await eventually(releases, lambda r: None not in r.sites.values(), "every release read", 30)
    return runtime


@pytest.fixture
async def strict(
    tmp_path: Path,
    ports: dict[str, int],
    fleet: SiteFleet,
    make_runtime: Callable[[dict[str, Any]], Runtime],
) -> Runtime:
    """A started gtm whose services are readiness: strict."""
    return await started(tmp_path, ports, make_runtime, Readiness.STRICT)


def api(runtime: Runtime) -> str:
    return f"http://127.0.0.1:{runtime.api_port}"


async def test_strict_refuses_a_planned_move_to_an_older_release(strict: Runtime) -> None:
    for dry_run in ("--dry-run", None):
        extra = [dry_run] if dry_run else []
        code, out, err = await cli(
            "failover", "billing", "--to", OLD, "--reason", "maintenance", *extra,
            "--api", api(strict), token=TOKEN,
        )  # fmt: skip
        assert code != 0, (out, err)
        assert f"readiness strict: {BOTH}" in err, (out, err)

    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        run = {"service": "billing", "to": OLD, "reason": "maintenance"}
        async with session.post(f"{api(strict)}/v1/runs", json=run) as answer:
            refused = await answer.json()
            assert answer.status == 409, refused
            assert BOTH in refused["message"], refused
        pin = {"kind": "pin", "service": "billing", "site": OLD, "why": "maintenance"}
        async with session.post(f"{api(strict)}/v1/intents", json=pin) as answer:
            pinned = await answer.json()
            assert answer.status == 409, pinned
            assert f"pin of billing to {OLD} refused: readiness strict: {BOTH}" in pinned["message"]
        async with session.post(f"{api(strict)}/v1/intents", json={**pin, "force": True}) as answer:
            assert answer.status == 201, await answer.json()
    mapping = await eventually(
        lambda: _mapping(strict), lambda m: m.active_site == OLD, "the forced pin"
    )
    assert f"readiness warning: {OLD} runs release {OLD_RELEASE}" in mapping.reason
    assert strict.runbooks.runs() == []


async def test_strict_automatic_move_skips_the_older_release(
    strict: Runtime, fleet: SiteFleet
) -> None:
    host, port, name = "127.0.0.1", strict.dns_port, f"billing.{ZONE}"
    assert await dns_addresses(host, port, name) == {SITES[ACTIVE]}

    fleet[ACTIVE].kill()

    answered = await eventually(
        lambda: dns_addresses(host, port, name),
        lambda addresses: bool(addresses) and SITES[ACTIVE] not in addresses,
        "DNS leaving the dead site",
    )
    assert answered == {SITES[SAME]}
    mapping = strict.registry.get("billing")
    assert mapping is not None and mapping.active_site == SAME
    [move] = await strict.registry.events(service="billing", kind="move")
    assert (move.from_site, move.to_site) == (ACTIVE, SAME)
    assert f"{OLD} runs {OLD_RELEASE}" in move.reason, move.reason


async def test_standby_ranks_follow_the_releases(strict: Runtime, fleet: SiteFleet) -> None:
    async def ranks() -> dict[str, int]:
        mapping = strict.registry.get("billing")
        assert mapping is not None
        return {loc.site: loc.priority for loc in mapping.locators}

    await eventually(ranks, lambda r: r == {ACTIVE: 1, SAME: 2, OLD: 3}, "old release last")

    fleet[OLD].deploy(DEFAULT_RELEASE)

    await eventually(ranks, lambda r: r == {ACTIVE: 1, OLD: 2, SAME: 3}, "preference order")
    releases = strict.controller.releases("billing")[0]
    assert not releases.drift and releases.describe() == f"release {DEFAULT_RELEASE} everywhere"


async def test_releases_and_their_drift_are_shown(strict: Runtime) -> None:
    code, out, err = await cli("status", "--api", api(strict))
    assert code == 0, err
    drift = (
        f"release drift (strict): {ACTIVE} {DEFAULT_RELEASE} (active), {OLD} {OLD_RELEASE}, "
        f"{SAME} {DEFAULT_RELEASE}"
    )
    assert out.count(drift) == 2, out  # both services

    code, out, err = await cli("health", "billing", "--api", api(strict))
    assert code == 0, err
    head, *lines = out.splitlines()
    assert head.split()[:4] == ["LOCATOR", "VERDICT", "STATE", "RELEASE"], out
    assert {line.split()[0].split("/")[0]: line.split()[3] for line in lines} == {
        f"billing@{site}": DEFAULT_RELEASE if site != OLD else OLD_RELEASE for site in SITES
    }, out

    code, out, err = await cli("status", "--json", "--api", api(strict))
    assert code == 0, err
    [billing] = [s for s in json.loads(out)["services"] if s["service"] == "billing"]
    assert billing["release_drift"] is True
    assert billing["releases"] == {ACTIVE: DEFAULT_RELEASE, OLD: OLD_RELEASE, SAME: DEFAULT_RELEASE}

    async with aiohttp.ClientSession() as session:
        async with session.get(f"{api(strict)}/v1/releases?service=billing") as answer:
            doc = await answer.json()
        async with session.get(f"{api(strict)}/v1/locators?service=billing") as answer:
            locators = (await answer.json())["locators"]
    [releases] = doc["services"]
    assert releases["drift"] is True and releases["readiness"] == Readiness.STRICT.value
    assert releases["active_site"] == ACTIVE
    assert {loc["site"]: loc["release"] for loc in locators} == billing["releases"]
    assert all(loc["release_seen"] is not None for loc in locators)


async def test_warn_lets_the_move_go_ahead_and_says_so(
    tmp_path: Path,
    ports: dict[str, int],
    fleet: SiteFleet,
    make_runtime: Callable[[dict[str, Any]], Runtime],
) -> None:
    runtime = await started(tmp_path, ports, make_runtime, Readiness.WARN)
    args = ("failover", "billing", "--to", OLD, "--reason", "maintenance", "--api", api(runtime))

    code, out, err = await cli(*args, "--dry-run", token=TOKEN)
    assert code == 0, (out, err)
    assert f"readiness warn: {BOTH}" in out, out

    code, out, err = await cli(*args, "--hold", "0.2", token=TOKEN)
    assert code == 0, (out, err)
    mapping = runtime.registry.get("billing")
    assert mapping is not None and mapping.active_site == OLD
    moves = await runtime.registry.events(service="billing", kind="move")
    warned = f"readiness warning: {OLD} runs release {OLD_RELEASE}, {ACTIVE} runs release"
    assert any(warned in event.reason for event in moves), [e.reason for e in moves]


async def test_releases_of_an_unknown_service_are_not_found(strict: Runtime) -> None:
    url = f"{api(strict)}/v1/releases?service=nope"
    async with aiohttp.ClientSession() as session, session.get(url) as answer:
        assert answer.status == 404
        assert "no service 'nope'" in (await answer.json())["message"]


async def _mapping(runtime: Runtime) -> Any:
    return runtime.registry.get("billing")
