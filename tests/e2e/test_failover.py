"""Whack-a-mole end to end: kill real site processes, watch DNS and the API follow."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gtm.demo.scenario import dns_addresses, wait_for_dns
from gtm.demo.sites import SiteFleet
from gtm.runtime import Runtime

from .support import SITES, TOKEN, ZONE, config_doc, wait_published

NAME = f"billing.{ZONE}"


async def resolve(runtime: Runtime, service: str = "billing", **params: str) -> dict[str, Any]:
    """GET /v1/services/{service} from the runtime's API."""
    url = f"http://127.0.0.1:{runtime.api_port}/v1/services/{service}"
    async with aiohttp.ClientSession() as session, session.get(url, params=params) as answer:
        assert answer.status == 200, await answer.text()
        doc: dict[str, Any] = await answer.json()
        return doc


async def move_away(runtime: Runtime, fleet: SiteFleet) -> tuple[str, str]:
    """Kill the active site of billing; return (old, new) once DNS answers the new one."""
    before = runtime.registry.get("billing")
    assert before is not None and before.active_site is not None
    old = before.active_site
    fleet[old].kill()
    await wait_for_dns("127.0.0.1", runtime.dns_port, NAME, leaves=SITES[old])
    after = runtime.registry.get("billing")
    assert after is not None and after.active_site is not None
    return old, after.active_site


async def test_killed_site_moves_dns_and_api_to_next_site(gtm: Runtime, fleet: SiteFleet) -> None:
    assert await dns_addresses("127.0.0.1", gtm.dns_port, NAME) == {SITES["aws-use1"]}
    old, new = await move_away(gtm, fleet)
    assert (old, new) == ("aws-use1", "gcp-euw1")
    assert await dns_addresses("127.0.0.1", gtm.dns_port, NAME) == {SITES["gcp-euw1"]}
    doc = await resolve(gtm)
    assert doc["active_site"] == "gcp-euw1"
    assert doc["epoch"] == 2
    states = {loc["site"]: loc["state"] for loc in doc["locators"]}
    assert states["aws-use1"] == "down"
    events = await gtm.registry.events(service="billing")
    move = [e for e in events if e.kind == "move"][-1]
    assert (move.from_site, move.to_site, move.epoch) == ("aws-use1", "gcp-euw1", 2)
    assert {"first_failed_probe", "verdict", "decision", "published"} <= set(move.timeline)
    order = [move.timeline[k] for k in ("first_failed_probe", "verdict", "decision", "published")]
    assert order == sorted(order)


async def test_recovery_does_not_move_back_and_next_failure_moves_on(
    gtm: Runtime, fleet: SiteFleet
) -> None:
    first, second = await move_away(gtm, fleet)
    fleet[first].start()
    await wait_published(gtm)  # the old site is up again...
    mapping = gtm.registry.get("billing")
    assert mapping is not None and mapping.active_site == second  # ...but traffic stays
    assert await dns_addresses("127.0.0.1", gtm.dns_port, NAME) == {SITES[second]}
    _, third = await move_away(gtm, fleet)
    assert third == "dc-paris"  # the next healthy site after gcp-euw1
    mapping = gtm.registry.get("billing")
    assert mapping is not None and mapping.epoch == 3


async def test_http_503_moves_like_a_kill(gtm: Runtime, fleet: SiteFleet) -> None:
    fleet["aws-use1"].set_mode("down")
    await wait_for_dns("127.0.0.1", gtm.dns_port, NAME, leaves=SITES["aws-use1"])
    doc = await resolve(gtm)
    assert doc["active_site"] == "gcp-euw1"
    reasons = [loc for loc in doc["locators"] if loc["site"] == "aws-use1"]
    assert reasons[0]["state"] == "down"


async def test_long_poll_wakes_on_move(gtm: Runtime, fleet: SiteFleet) -> None:
    current = await resolve(gtm)
    waiter = asyncio.create_task(resolve(gtm, index=str(current["version"]), wait="20s"))
    await asyncio.sleep(0.1)
    assert not waiter.done()
    fleet["aws-use1"].kill()
    doc = await asyncio.wait_for(waiter, timeout=10)
    assert doc["version"] > current["version"]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("stay", {"rcode": "NOERROR", "addresses": {"127.0.3.1"}}),
        ("open", {"rcode": "NOERROR", "addresses": set(SITES.values())}),
        ("closed", {"rcode": "NXDOMAIN", "addresses": set()}),
    ],
)
async def test_all_down_follows_the_rule(
    rule: str,
    expected: dict[str, Any],
    tmp_path: Path,
    ports: dict[str, int],
    fleet: SiteFleet,
    make_runtime: Callable[[dict[str, Any]], Runtime],
) -> None:
    import dns.asyncquery
    import dns.message
    import dns.rcode

    runtime = make_runtime(config_doc(tmp_path, ports, all_down=rule))
    await runtime.start()
    await wait_published(runtime)
    for site in ("aws-use1", "gcp-euw1", "dc-paris"):
        fleet[site].kill()
        if site != "dc-paris":
            await wait_for_dns("127.0.0.1", runtime.dns_port, NAME, leaves=SITES[site])
    # The last site's verdict comes from probes: wait for it (a bound, not a timing).
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        mapping = runtime.registry.get("billing")
        assert mapping is not None
        if all(loc.state.value == "down" for loc in mapping.locators):
            break
        assert asyncio.get_running_loop().time() < deadline, f"not all down: {mapping}"
        await asyncio.sleep(0.02)
    query = dns.message.make_query(NAME, "A")
    answer = await dns.asyncquery.udp(query, "127.0.0.1", port=runtime.dns_port, timeout=2)
    assert dns.rcode.to_text(answer.rcode()) == expected["rcode"]
    addresses = {rr.address for rrset in answer.answer for rr in rrset}
    assert addresses == expected["addresses"]


async def test_restart_keeps_version_and_epoch(
    tmp_path: Path,
    ports: dict[str, int],
    fleet: SiteFleet,
    make_runtime: Callable[[dict[str, Any]], Runtime],
) -> None:
    doc = config_doc(tmp_path, ports)
    first = make_runtime(doc)
    await first.start()
    await wait_published(first)
    _, new = await move_away(first, fleet)
    before = first.registry.get("billing")
    assert before is not None
    await first.stop()

    second = make_runtime(doc)
    await second.start()
    restored = second.registry.get("billing")
    assert restored is not None
    assert (restored.version, restored.epoch, restored.active_site) == (
        before.version,
        before.epoch,
        new,
    )
    await wait_for_dns("127.0.0.1", second.dns_port, NAME, leaves="none")
    fleet[new].kill()
    await wait_for_dns("127.0.0.1", second.dns_port, NAME, leaves=SITES[new])
    after = second.registry.get("billing")
    assert after is not None
    assert after.version > before.version and after.epoch == before.epoch + 1


async def test_pin_intent_through_the_api_moves_traffic(gtm: Runtime) -> None:
    url = f"http://127.0.0.1:{gtm.api_port}/v1/intents"
    body = {"kind": "pin", "service": "billing", "site": "dc-paris", "why": "patching aws"}
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=body) as answer:
            assert answer.status == 401
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with session.post(url, json=body, headers=headers) as answer:
            assert answer.status == 201, await answer.text()
    await wait_for_dns("127.0.0.1", gtm.dns_port, NAME, leaves=SITES["aws-use1"])
    assert await dns_addresses("127.0.0.1", gtm.dns_port, NAME) == {SITES["dc-paris"]}


@pytest.mark.skipif(shutil.which("dig") is None, reason="dig is not installed (bind9-dnsutils)")
async def test_dig_sees_the_move(gtm: Runtime, fleet: SiteFleet) -> None:
    def dig() -> str:
        out = subprocess.run(
            ["dig", "@127.0.0.1", "-p", str(gtm.dns_port), NAME, "A", "+short"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return out.stdout.strip()

    assert await asyncio.to_thread(dig) == SITES["aws-use1"]
    await move_away(gtm, fleet)
    assert await asyncio.to_thread(dig) == SITES["gcp-euw1"]
