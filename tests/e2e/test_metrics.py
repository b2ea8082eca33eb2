"""``/metrics`` and ``/v1/locators`` on a real gtm: a move changes what they say."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from prometheus_client.parser import text_string_to_metric_families

from gtm.demo.scenario import dns_addresses, wait_for_dns
from gtm.demo.sites import SiteFleet
from gtm.runtime import Runtime

from .support import SITES, TOKEN, ZONE

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "monitoring"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(runtime: Runtime) -> Samples:
    """Every sample of ``/metrics``, parsed by Prometheus's own text parser."""
    url = f"http://127.0.0.1:{runtime.api_port}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as answer:
        assert answer.status == 200
        assert answer.content_type == "text/plain"
        text = await answer.text()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample ``name`` with exactly ``labels``; 0 when absent."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of every sample ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, have), v in samples.items() if n == name and wanted <= have)


async def get(runtime: Runtime, path: str, **params: str) -> tuple[int, Any]:
    url = f"http://127.0.0.1:{runtime.api_port}{path}"
    async with aiohttp.ClientSession() as session, session.get(url, params=params) as answer:
        return answer.status, await answer.json()


async def wait_moves(runtime: Runtime, kind: str, count: float, timeout: float = 10.0) -> Samples:
    """Scrape until ``gtm_moves_total`` of billing and ``kind`` reaches ``count``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        samples = await scrape(runtime)
        if value(samples, "gtm_moves_total", service="billing", kind=kind) >= count:
            return samples
        assert asyncio.get_running_loop().time() < deadline, f"no {kind} move counted"
        await asyncio.sleep(0.05)


async def wait_down(runtime: Runtime, site: str, timeout: float = 10.0) -> Samples:
    """Scrape until every service's locator in ``site`` is down: each is probed on its own
    schedule, so one service's move can come before another's verdict."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        samples = await scrape(runtime)
        if all(
            value(samples, "gtm_locator_state", service=service, site=site, state="down") == 1
            for service in ("billing", "search")
        ):
            return samples
        assert asyncio.get_running_loop().time() < deadline, f"{site} not judged down"
        await asyncio.sleep(0.05)


async def test_a_killed_site_changes_moves_failover_probes_and_verdicts(
    gtm: Runtime, fleet: SiteFleet
) -> None:
    name = f"billing.{ZONE}"
    assert await dns_addresses("127.0.0.1", gtm.dns_port, name) == {SITES["aws-use1"]}
    before = await scrape(gtm)
    assert value(before, "gtm_moves_total", service="billing", kind="automatic") == 0
    assert value(before, "gtm_time_to_failover_seconds_count", service="billing") == 0
    assert value(before, "gtm_locator_state", service="billing", site="aws-use1", state="up") == 1
    assert value(before, "gtm_locator_state", service="billing", site="aws-use1", state="down") == 0
    ok_before = value(
        before, "gtm_probe_results_total", service="billing", site="aws-use1", result="ok"
    )
    assert ok_before > 0
    assert total(before, "gtm_dns_queries_total", qtype="A", rcode="NOERROR") >= 1
    assert value(before, "gtm_vantage_degraded") == 0

    fleet["aws-use1"].kill()
    await wait_for_dns("127.0.0.1", gtm.dns_port, name, leaves=SITES["aws-use1"])
    await wait_moves(gtm, "automatic", 1)
    after = await wait_down(gtm, "aws-use1")

    assert value(after, "gtm_moves_total", service="billing", kind="automatic") == 1
    assert value(after, "gtm_moves_total", service="billing", kind="planned") == 0
    assert value(after, "gtm_time_to_failover_seconds_count", service="billing") == 1
    event = [e for e in await gtm.registry.events(service="billing") if e.kind == "move"][-1]
    took = event.timeline["published"] - event.timeline["first_failed_probe"]
    assert abs(value(after, "gtm_time_to_failover_seconds_sum", service="billing") - took) < 1e-3
    fails = value(
        after, "gtm_probe_results_total", service="billing", site="aws-use1", result="fail"
    )
    assert fails >= 3  # at least the default fall
    assert value(after, "gtm_locator_state", service="billing", site="aws-use1", state="down") == 1
    assert value(after, "gtm_locator_state", service="billing", site="aws-use1", state="up") == 0
    assert value(after, "gtm_locator_state", service="search", site="aws-use1", state="down") == 1
    assert total(after, "gtm_probe_duration_seconds_count", site="gcp-euw1") > 0
    # The scrape before this one was counted too.
    assert total(after, "gtm_api_requests_total", route="/metrics", status="200") >= 1
    assert total(after, "gtm_store_write_seconds_count") > 0


async def test_a_pin_counts_as_a_planned_move(gtm: Runtime) -> None:
    url = f"http://127.0.0.1:{gtm.api_port}/v1/intents"
    pin = {"kind": "pin", "service": "billing", "site": "dc-paris", "why": "maintenance"}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=pin, headers=headers) as answer,
    ):
        assert answer.status in (200, 201), await answer.text()
    samples = await wait_moves(gtm, "planned", 1)
    assert value(samples, "gtm_moves_total", service="billing", kind="automatic") == 0
    assert value(samples, "gtm_time_to_failover_seconds_count", service="billing") == 0


async def test_locators_tell_each_probe_and_health_is_journaled(
    gtm: Runtime, fleet: SiteFleet
) -> None:
    status, doc = await get(gtm, "/v1/locators", service="billing")
    assert status == 200
    locators = {loc["site"]: loc for loc in doc["locators"]}
    assert set(locators) == set(SITES)
    paris = locators["dc-paris"]
    assert paris["service"] == "billing" and paris["verdict"] == "up" and paris["state"] == "up"
    assert paris["required_failures"] >= 3 and paris["penalty"] == 0
    assert paris["probes"] and all(p["result"] == "ok" for p in paris["probes"])
    assert all(p["latency_s"] is not None and p["latency_s"] >= 0 for p in paris["probes"])

    fleet["aws-use1"].kill()
    await wait_for_dns("127.0.0.1", gtm.dns_port, f"billing.{ZONE}", leaves=SITES["aws-use1"])
    _, doc = await get(gtm, "/v1/locators")
    assert {loc["service"] for loc in doc["locators"]} == {"billing", "search"}
    aws = next(loc for loc in doc["locators"] if loc["id"] == locators["aws-use1"]["id"])
    assert aws["verdict"] == "down" and aws["state"] == "down"
    assert aws["probes"][-1]["result"] == "fail" and aws["probes"][-1]["detail"]
    assert len(aws["probes"]) <= 20
    assert aws["penalty"] > 0  # one up->down transition so far
    health = [e for e in await gtm.registry.events(service="billing") if e.kind == "health"]
    assert any(f"{aws['id']} up -> down" in e.reason for e in health)

    status, doc = await get(gtm, "/v1/locators", service="nope")
    assert status == 404 and doc["error"] == "not_found"


def example_names() -> set[str]:
    """The metric names the example rules and dashboard query."""
    rules = yaml.safe_load((EXAMPLES / "alerts.yaml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((EXAMPLES / "grafana-dashboard.json").read_text())
    exprs += [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    assert exprs
    return {name for expr in exprs for name in re.findall(r"\bgtm_[a-z_]+\b", expr)}


async def test_every_metric_the_examples_use_is_served(gtm: Runtime) -> None:
    served = {name for name, _labels in await scrape(gtm)}
    # Families with no sample yet are still declared (HELP/TYPE lines).
    url = f"http://127.0.0.1:{gtm.api_port}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as answer:
        text = await answer.text()
    for family in text_string_to_metric_families(text):
        served.add(family.name)
        if family.type == "counter":
            served.add(family.name + "_total")
        if family.type == "histogram":
            served |= {family.name + suffix for suffix in ("_bucket", "_count", "_sum")}
    missing = example_names() - served
    assert not missing, f"the examples use metrics gtm does not serve: {sorted(missing)}"


async def test_metrics_can_be_left_out(
    tmp_path: Path, ports: dict[str, int], fleet: SiteFleet, make_runtime: Any
) -> None:
    from .support import config_doc

    doc = config_doc(tmp_path, ports)
    doc["api"]["metrics"] = False
    runtime = make_runtime(doc)
    await runtime.start()
    url = f"http://127.0.0.1:{runtime.api_port}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as answer:
        assert answer.status == 404
