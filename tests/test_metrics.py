"""gtm.metrics: each instance's own registry, and DNS answers counted from their bytes."""

from __future__ import annotations

import asyncio

import dns.message
import dns.rcode
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gtm.metrics import Metrics, ProbeLabels


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.scrape().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def answer(name: str, qtype: str, rcode: dns.rcode.Rcode) -> bytes:
    response = dns.message.make_response(dns.message.make_query(name, qtype))
    response.set_rcode(rcode)
    return response.to_wire()


def test_dns_answers_are_counted_by_question_type_and_rcode() -> None:
    metrics = Metrics()
    metrics.dns.count(answer("billing.gtm.example.", "AAAA", dns.rcode.NOERROR))
    metrics.dns.count(answer("billing.gtm.example.", "AAAA", dns.rcode.NOERROR))
    metrics.dns.count(answer("nope.gtm.example.", "SRV", dns.rcode.NXDOMAIN))
    metrics.dns.count(bytes.fromhex("abcd81010000000000000000"))  # FORMERR, no question
    got = samples(metrics)
    assert got[("gtm_dns_queries_total", (("qtype", "AAAA"), ("rcode", "NOERROR")))] == 2
    assert got[("gtm_dns_queries_total", (("qtype", "SRV"), ("rcode", "NXDOMAIN")))] == 1
    assert got[("gtm_dns_queries_total", (("qtype", "none"), ("rcode", "FORMERR")))] == 1


@pytest.mark.parametrize(
    ("timeline", "observed"),
    [({"first_failed_probe": 100.0, "published": 101.5}, 1.5), ({"published": 101.5}, None)],
)
def test_time_to_failover_is_observed_only_for_moves_that_began_with_a_failed_probe(
    timeline: dict[str, float], observed: float | None
) -> None:
    metrics = Metrics()
    metrics.record_move("billing", "automatic", timeline)
    got = samples(metrics)
    assert got[("gtm_moves_total", (("kind", "automatic"), ("service", "billing")))] == 1
    key = ("gtm_time_to_failover_seconds_sum", (("service", "billing"),))
    assert got.get(key) == observed


def test_two_instances_in_one_process_keep_their_own_figures() -> None:
    first, second = Metrics(), Metrics()
    first.record_probes(ProbeLabels((("billing", "aws-use1"),)), "ok")
    first.record_degraded(True)
    assert samples(second).get(("gtm_vantage_degraded", ())) == 0
    key = (
        "gtm_probe_results_total",
        (("result", "ok"), ("service", "billing"), ("site", "aws-use1")),
    )
    assert samples(first)[key] == 1 and key not in samples(second)
    assert samples(first)[("gtm_vantage_degraded", ())] == 1


def test_verdicts_are_read_when_scraped() -> None:
    metrics = Metrics()
    counts = [("billing", "aws-use1", "up", 2)]
    metrics.watch_verdicts(lambda: counts)
    key = ("gtm_locator_state", (("service", "billing"), ("site", "aws-use1"), ("state", "up")))
    assert samples(metrics)[key] == 2
    counts[0] = ("billing", "aws-use1", "up", 1)
    assert samples(metrics)[key] == 1


def test_probe_results_add_up_per_series() -> None:
    metrics = Metrics()
    billing = ProbeLabels((("billing", "aws-use1"),))
    shared = ProbeLabels((("billing", "gcp-euw1"), ("search", "gcp-euw1")))
    for result in ("ok", "ok", "fail", "ok"):
        metrics.record_probes(billing, result)
    metrics.time_probe("aws-use1", 0.002)
    metrics.time_probe("aws-use1", 0.2)
    metrics.record_probes(shared, "ok")
    metrics.time_probe("gcp-euw1", 0.003)
    got = samples(metrics)
    labels = (("service", "billing"), ("site", "aws-use1"))
    assert got[("gtm_probe_results_total", (("result", "ok"), *labels))] == 3
    assert got[("gtm_probe_results_total", (("result", "fail"), *labels))] == 1
    assert got[("gtm_probe_duration_seconds_count", (("site", "aws-use1"),))] == 2
    assert got[("gtm_probe_duration_seconds_sum", (("site", "aws-use1"),))] == pytest.approx(0.202)
    assert got[("gtm_probe_duration_seconds_count", (("site", "gcp-euw1"),))] == 1
    # One shared probe: a result for each locator it judges, one duration.
    for service in ("billing", "search"):
        key = (
            "gtm_probe_results_total",
            (("result", "ok"), ("service", service), ("site", "gcp-euw1")),
        )
        assert got[key] == 1


def test_rendering_in_a_thread_gives_what_a_scrape_on_the_loop_gives() -> None:
    metrics = Metrics()
    labels = ProbeLabels((("billing", "site-a"), ("search", "site-a")))
    metrics.watch_verdicts(lambda: [("billing", "site-a", "up", 1)])

    async def run() -> tuple[bytes, bytes]:
        for result in ("ok", "ok", "fail"):
            metrics.record_probes(labels, result)
        metrics.dns.count(answer("billing.gtm.example.", "A", dns.rcode.NOERROR))
        return await metrics.render(), metrics.scrape()

    rendered, scraped = asyncio.run(run())
    assert rendered == scraped
    assert b'gtm_probe_results_total{result="ok",service="search",site="site-a"} 2.0' in rendered
    assert b'gtm_locator_state{service="billing",site="site-a",state="up"} 1.0' in rendered
