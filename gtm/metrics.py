"""The numbers monitoring expects, in Prometheus form, on a registry of each gtm's own.

Every figure is recorded where it is already known (the controller, the reconciler, the
DNS responder, the API, the store) through the ``record_*`` methods here; nothing in this
module decides anything. Each :class:`Metrics` has its own
:class:`prometheus_client.CollectorRegistry`, so several runtimes in one process (tests,
benchmarks) never share or collide on a metric. Counts on the DNS hot path are kept in a
plain dictionary and turned into samples only when scraped.
"""

from __future__ import annotations

import asyncio
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator
from typing import cast

import dns.rcode
import dns.rdatatype
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The text exposition format's content type."""

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Seconds, for probes, provider calls and store writes."""

FAILOVER_BUCKETS = (0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
"""Seconds from the first failed probe to the published move."""

AUTOMATIC = "automatic"
"""Move kind: health moved the service."""

PLANNED = "planned"
"""Move kind: an operator's intent or a planned run moved it."""

VerdictCounts = Callable[[], Iterable[tuple[str, str, str, int]]]
"""Returns ``(service, site, state, locators)`` for every service, site and state."""


class Metrics:
    """Every metric of one gtm instance, and the registry that serves them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.probes = ProbeCounts()
        registry.register(self.probes)
        self.probe_latency = Histogram(
            "gtm_probe_duration_seconds",
            "How long probes took, by site.",
            ["site"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.moves = Counter(
            "gtm_moves_total",
            "Moves of a service's traffic to another site, by kind (automatic, planned).",
            ["service", "kind"],
            registry=registry,
        )
        self.failover = Histogram(
            "gtm_time_to_failover_seconds",
            "Seconds from the first failed probe to the published move.",
            ["service"],
            buckets=FAILOVER_BUCKETS,
            registry=registry,
        )
        self.provider_apply = Histogram(
            "gtm_provider_apply_seconds",
            "How long a provider took to apply a batch of changes.",
            ["provider"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.provider_verify = Histogram(
            "gtm_provider_verify_seconds",
            "How long a provider took to read its system back and compare.",
            ["provider"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.provider_errors = Counter(
            "gtm_provider_errors_total",
            "Provider passes that failed or left changes unapplied.",
            ["provider"],
            registry=registry,
        )
        self.api_requests = Counter(
            "gtm_api_requests_total",
            "API requests answered, by route and status.",
            ["route", "status"],
            registry=registry,
        )
        self.long_polls = Gauge(
            "gtm_api_long_polls", "Long polls held open now.", registry=registry
        )
        self.store_write = Histogram(
            "gtm_store_write_seconds",
            "How long a write to the store took, by action.",
            ["action"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.loop_lag = Gauge(
            "gtm_event_loop_lag_seconds",
            "How late the event loop woke at the last measurement.",
            registry=registry,
        )
        self.degraded = Gauge(
            "gtm_vantage_degraded",
            "1 while this vantage distrusts itself and holds automatic moves, else 0.",
            registry=registry,
        )
        # Label lookups validate and lock on every call; a probe is timed for every
        # probe, so each site's child is looked up once and kept.
        self._probe_latencies: dict[str, Histogram] = {}
        self.dns = DnsCounts()
        registry.register(self.dns)
        self._verdicts = VerdictGauge()
        registry.register(self._verdicts)

    def scrape(self) -> bytes:
        """Every metric now, in the text exposition format."""
        self._verdicts.freeze()
        return generate_latest(self.registry)

    async def render(self) -> bytes:
        """:meth:`scrape`, rendered in a worker thread: with thousands of locators the
        text takes a tenth of a second to build, which on the event loop would make every
        probe of the moment late and the vantage count itself degraded at each scrape.

        What only the loop may read (the verdicts) is read here first; the counters
        are copied whole by the collectors themselves, which the loop cannot interleave.
        """
        self._verdicts.freeze()
        return await asyncio.to_thread(generate_latest, self.registry)

    def watch_verdicts(self, counts: VerdictCounts) -> None:
        """Read the locators' verdicts from ``counts`` at every scrape."""
        self._verdicts.counts = counts

    def record_probes(self, labels: ProbeLabels, result: str) -> None:
        """One probe result (``ok``, ``fail`` or ``unknown``) for every locator it judges;
        a check shared by many services counts once for each of them."""
        self.probes.tally[(labels, result)] += 1

    def time_probe(self, site: str, latency: float) -> None:
        """How long one probe of ``site`` took (a shared check is one probe)."""
        histogram = self._probe_latencies.get(site)
        if histogram is None:
            histogram = self._probe_latencies[site] = self.probe_latency.labels(site)
        histogram.observe(latency)

    def record_move(self, service: str, kind: str, timeline: dict[str, float]) -> None:
        """One published move; its time to failover when it began with a failed probe."""
        self.moves.labels(service, kind).inc()
        first = timeline.get("first_failed_probe")
        if first is not None and "published" in timeline:
            self.failover.labels(service).observe(max(0.0, timeline["published"] - first))

    def record_provider_pass(self, provider: str, apply_s: float | None, verify_s: float) -> None:
        """One provider pass: the apply's time (None when nothing was applied) and the verify's."""
        if apply_s is not None:
            self.provider_apply.labels(provider).observe(apply_s)
        self.provider_verify.labels(provider).observe(verify_s)

    def record_provider_error(self, provider: str) -> None:
        """One failed provider pass."""
        self.provider_errors.labels(provider).inc()

    def record_request(self, route: str, status: int) -> None:
        """One answered API request."""
        self.api_requests.labels(route, str(status)).inc()

    def record_store_write(self, action: str, seconds: float) -> None:
        """One write to the store."""
        self.store_write.labels(action).observe(seconds)

    def record_lag(self, lag: float) -> None:
        """One measurement of event-loop lag, in seconds."""
        self.loop_lag.set(lag)

    def record_degraded(self, degraded: bool) -> None:
        """Whether this vantage is degraded now."""
        self.degraded.set(1 if degraded else 0)


class ProbeLabels:
    """The ``(service, site)`` of every locator one check judges; compared by identity,
    so counting a result costs one dict update however many locators share the check."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: tuple[tuple[str, str], ...]) -> None:
        self.pairs = pairs


class ProbeCounts(Collector):
    """Probe results by service, site and result, counted per check and spread over
    the check's locators only when scraped.

    A check shared by 10,000 services gives each of them a result: a labelled counter's
    lock and lookup per locator would cost more than the probe itself.
    """

    def __init__(self) -> None:
        self.tally: Tally[tuple[ProbeLabels, str]] = Tally()

    def collect(self) -> Iterator[Metric]:
        totals: Tally[tuple[str, str, str]] = Tally()
        # dict.copy runs in C, so a scrape in another thread never sees it change.
        for (labels, result), count in dict.copy(self.tally).items():
            for service, site in labels.pairs:
                totals[(service, site, result)] += count
        family = self._family()
        for series, count in sorted(totals.items()):
            family.add_metric(list(series), count)
        yield family

    def describe(self) -> Iterator[Metric]:
        yield self._family()

    @staticmethod
    def _family() -> CounterMetricFamily:
        return CounterMetricFamily(
            "gtm_probe_results",
            "Probe results by service, site and result (ok, fail, unknown).",
            labels=["service", "site", "result"],
        )


class DnsCounts(Collector):
    """DNS answers by query type and response code, counted cheaply per answer.

    ``count`` reads the two figures from the answer's own bytes with one search and one
    slice, so the responder needs no parsed message; they are named only when scraped.
    """

    def __init__(self) -> None:
        self.tally: Tally[tuple[bytes, int]] = Tally()

    def count(self, answer: bytes) -> None:
        """Count one answer, as it goes on the wire."""
        # The question's name is the first of the message, never compressed, so it ends
        # at its first zero byte unless a label holds one (then the type read is wrong,
        # which only a crafted name does); a message without a question reads b"".
        end = answer.find(0, 12) if answer[5] or answer[4] else -1
        self.tally[(answer[end + 1 : end + 3] if end > 0 else b"", answer[3] & 0x0F)] += 1

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        for (qtype, rcode), count in sorted(dict.copy(self.tally).items()):
            family.add_metric(
                [_type_name(qtype), dns.rcode.to_text(cast(dns.rcode.Rcode, rcode))], count
            )
        yield family

    def describe(self) -> Iterator[Metric]:
        yield self._family()

    @staticmethod
    def _family() -> CounterMetricFamily:
        return CounterMetricFamily(
            "gtm_dns_queries",
            "DNS queries answered, by query type and response code.",
            labels=["qtype", "rcode"],
        )


class VerdictGauge(Collector):
    """How many locators of each service and site are in each state, read when scraped."""

    def __init__(self) -> None:
        self.counts: VerdictCounts | None = None
        self._frozen: list[tuple[str, str, str, int]] = []

    def freeze(self) -> None:
        """Read the counts now, on the event loop, for the next :meth:`collect`."""
        self._frozen = list(self.counts()) if self.counts is not None else []

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        for service, site, state, count in self._frozen:
            family.add_metric([service, site, state], count)
        yield family

    def describe(self) -> Iterator[Metric]:
        yield self._family()

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "gtm_locator_state",
            "Locators of a service in a site, by verdict state (up, down, unknown).",
            labels=["service", "site", "state"],
        )


def _type_name(qtype: bytes) -> str:
    """The name of a query type given as its two wire bytes; ``none`` for no question."""
    if len(qtype) != 2:
        return "none"
    return dns.rdatatype.to_text(cast(dns.rdatatype.RdataType, int.from_bytes(qtype, "big")))
