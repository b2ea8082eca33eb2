"""How fast does gtm answer "where is X?", over HTTP and over DNS?

API latency: 2,000 sequential ``GET /v1/services/app`` over one keep-alive connection
(http.client, as ../shared/peers measured Consul's HTTP API), p50/p99. API throughput: 32
concurrent keep-alive clients for a few seconds. DNS: queries per second with dnsperf when
installed, else the built-in UDP load generator. Baselines measured in the same run with
the same clients: a trivial aiohttp handler and a trivial UDP echo, each in its own process
on the server core. Prints one JSON line.

With ``--dashboard``, the API and DNS figures are measured twice in the same run: plain,
then again (``loaded_*``) while the dashboard is open in headless Chromium (on the load
core, refreshing as it does for an operator) and ``/metrics`` is scraped every second, as
Prometheus would, far more often than its usual 10 to 60 s.

    .venv/bin/python benchmarks/resolve.py [--dashboard]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dnsload import measure_qps
from harness import (
    GtmProcess,
    bench_config,
    free_port,
    on_server_cpu,
    percentile,
    pin_self,
    running,
    site_ports,
)

from testbed.process import ManagedProcess

SERVICE = "app"
REQUESTS = 2_000
CLIENTS = 32
SECONDS = 5.0
SCRAPE_INTERVAL = 1.0
"""Seconds between two scrapes of ``/metrics`` in the loaded measurement."""
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def http_latency(host: str, port: int, path: str, count: int = REQUESTS) -> dict[str, float]:
    """Sequential GETs over one keep-alive connection; p50/p99 in milliseconds."""
    conn = http.client.HTTPConnection(host, port, timeout=5)
    for _ in range(50):
        conn.request("GET", path)
        conn.getresponse().read()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        conn.request("GET", path)
        answer = conn.getresponse()
        answer.read()
        samples.append(time.perf_counter() - started)
        if answer.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {answer.status}")
    conn.close()
    return {
        "p50_ms": round(percentile(samples, 50) * 1000, 3),
        "p99_ms": round(percentile(samples, 99) * 1000, 3),
    }


async def http_throughput(url: str, clients: int = CLIENTS, seconds: float = SECONDS) -> float:
    """Requests per second from ``clients`` concurrent keep-alive clients for ``seconds``."""
    done = 0
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client() -> None:
            nonlocal done
            while time.monotonic() < deadline:
                async with session.get(url) as answer:
                    await answer.read()
                done += 1

        started = time.monotonic()
        await asyncio.gather(*(client() for _ in range(clients)))
        return done / (time.monotonic() - started)


def udp_latency(host: str, port: int, payload: bytes, count: int = REQUESTS) -> dict[str, float]:
    """Sequential datagram round trips; p50/p99 in milliseconds."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.connect((host, port))
        samples = []
        for number in range(count + 50):
            started = time.perf_counter()
            sock.send(payload)
            sock.recv(4096)
            if number >= 50:
                samples.append(time.perf_counter() - started)
    return {
        "p50_ms": round(percentile(samples, 50) * 1000, 3),
        "p99_ms": round(percentile(samples, 99) * 1000, 3),
    }


def dns_query_wire(name: str) -> bytes:
    """A plain A query for ``name``, as bytes."""
    import dns.message

    return bytes(dns.message.make_query(name, "A").to_wire())


def dnsperf_qps(host: str, port: int, name: str) -> float | None:
    """Queries per second from dnsperf (10 s, 100 outstanding), or None if not installed."""
    if shutil.which("dnsperf") is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as data:
        data.write(f"{name} A\n")
        data.flush()
        out = subprocess.run(
            [
                "dnsperf",
                "-s",
                host,
                "-p",
                str(port),
                "-d",
                data.name,
                "-l",
                "10",
                "-c",
                "1",
                "-q",
                "100",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    found = re.search(r"Queries per second:\s+([\d.]+)", out)
    return float(found.group(1)) if found else None


class Baseline(ManagedProcess):
    """A trivial HTTP server or UDP echo (``baselines.py``) in its own process on the server
    core, ready once it prints ``ready``."""

    def __init__(self, kind: str, workdir: Path) -> None:
        super().__init__()
        self.kind = kind
        self.workdir = workdir
        self.port = 0

    @property
    def log_path(self) -> Path:
        """What the server prints."""
        return self.workdir / f"baseline-{self.kind}.log"

    def describe(self) -> str:
        """``baseline http on 127.0.0.1:PORT``, as error messages start."""
        return f"baseline {self.kind} on 127.0.0.1:{self.port}"

    def _prepare(self) -> list[str]:
        self.port = free_port()
        script = Path(__file__).resolve().parent / "baselines.py"
        return on_server_cpu([sys.executable, str(script), self.kind, str(self.port)])

    def _probe(self) -> str | None:
        return None if "ready" in self.log_tail() else "no ready line yet"


@contextlib.contextmanager
def baseline(kind: str) -> Iterator[int]:
    """A :class:`Baseline` of ``kind`` while the block runs; yields its port."""
    with (
        tempfile.TemporaryDirectory(prefix="gtm-baseline-") as work,
        Baseline(kind, Path(work)) as server,
    ):
        yield server.port


def resolve_figures(gtm: GtmProcess) -> dict[str, Any]:
    """API latency and throughput, DNS latency and queries per second, against ``gtm``."""
    result: dict[str, Any] = {}
    api_host, _, api_port = gtm.config["api"]["listen"].rpartition(":")
    api = http_latency(api_host, int(api_port), f"/v1/services/{SERVICE}")
    result["api_p50_ms"], result["api_p99_ms"] = api["p50_ms"], api["p99_ms"]
    result["api_rps"] = round(asyncio.run(http_throughput(f"{gtm.api}/v1/services/{SERVICE}")), 0)
    host, port = gtm.dns
    name = f"{SERVICE}.{gtm.config['zone']}"
    dns_seq = udp_latency(host, port, dns_query_wire(name))
    result["dns_seq_p50_ms"] = dns_seq["p50_ms"]
    qps = dnsperf_qps(host, port, name)
    result["dns_load_generator"] = "dnsperf" if qps is not None else "built-in"
    if qps is None:
        qps = asyncio.run(measure_qps(host, port, name, seconds=SECONDS))
    result["dns_qps"] = round(qps, 0)
    return result


class Watchers:
    """The dashboard open in headless Chromium and ``/metrics`` scraped every second, each
    in a thread of this (load-side) process, until :meth:`stop`."""

    def __init__(self, api: str) -> None:
        self._api = api
        self._done = threading.Event()
        self._page_ready = threading.Event()
        self.scrapes = 0
        self.scrape_errors = 0
        self.page_requests = 0
        self.page_error: str | None = None
        self._threads = [
            threading.Thread(target=self._scrape, daemon=True),
            threading.Thread(target=self._browse, daemon=True),
        ]

    def start(self, timeout: float = 60.0) -> None:
        """Start both; wait until the page has drawn every service."""
        for thread in self._threads:
            thread.start()
        if not self._page_ready.wait(timeout) or self.page_error:
            self.stop()
            raise RuntimeError(f"dashboard: not shown within {timeout:g} s: {self.page_error}")

    def stop(self) -> None:
        """Close the page and the browser, stop scraping."""
        self._done.set()
        for thread in self._threads:
            thread.join(30)

    def _scrape(self) -> None:
        while not self._done.wait(SCRAPE_INTERVAL):
            try:
                with urllib.request.urlopen(f"{self._api}/metrics", timeout=5) as answer:
                    answer.read()
                self.scrapes += 1
            except OSError:
                self.scrape_errors += 1

    def _browse(self) -> None:
        from playwright.sync_api import sync_playwright

        try:
            with (
                tempfile.TemporaryDirectory(prefix="gtm-bench-chromium-") as profile,
                sync_playwright() as playwright,
            ):
                context = playwright.chromium.launch_persistent_context(
                    profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
                )
                try:
                    page = context.new_page()
                    page.on("request", lambda _request: self._count_request())
                    page.goto(f"{self._api}/ui/")
                    page.wait_for_selector(f"tr[data-service='{SERVICE}']", timeout=30_000)
                    self._page_ready.set()
                    while not self._done.is_set():
                        page.wait_for_timeout(200)  # the page's own timers run meanwhile
                finally:
                    context.close()
        except Exception as exc:  # reported by start(), which is waiting for the page
            self.page_error = f"{type(exc).__name__}: {exc}"
            self._page_ready.set()

    def _count_request(self) -> None:
        self.page_requests += 1


@contextlib.contextmanager
def watched(api: str) -> Iterator[Watchers]:
    """:class:`Watchers` on ``api`` while the block runs."""
    watchers = Watchers(api)
    watchers.start()
    try:
        yield watchers
    finally:
        watchers.stop()


def measure(dashboard: bool = False) -> dict[str, Any]:
    """Run every measurement and return the figures; with ``dashboard``, the API and DNS
    figures again (``loaded_*``) with the dashboard open and ``/metrics`` scraped."""
    result: dict[str, Any] = {"benchmark": "resolve"}
    services = dict(zip([SERVICE, "other", "third"], site_ports(3), strict=True))
    with running(bench_config(services), services) as (gtm, _):
        result.update(resolve_figures(gtm))
        if dashboard:
            with watched(gtm.api) as watchers:
                started = time.monotonic()
                loaded = resolve_figures(gtm)
                seconds = time.monotonic() - started
            result.update({f"loaded_{key}": value for key, value in loaded.items()})
            result["loaded_by"] = {
                "seconds": round(seconds, 1),
                "metrics_scrapes": watchers.scrapes,
                "metrics_scrape_errors": watchers.scrape_errors,
                "dashboard_requests": watchers.page_requests,
            }
    with baseline("http") as port:
        base = http_latency("127.0.0.1", port, "/")
        result["baseline_http_p50_ms"] = base["p50_ms"]
        result["baseline_http_p99_ms"] = base["p99_ms"]
        result["baseline_http_rps"] = round(
            asyncio.run(http_throughput(f"http://127.0.0.1:{port}/")), 0
        )
    with baseline("udp") as port:
        result["baseline_udp_p50_ms"] = udp_latency("127.0.0.1", port, b"x" * 40)["p50_ms"]
    result["target"] = {"api_p50_ms": 0.25, "api_p99_ms": 0.6, "dns_qps": 30_000}
    return result


def main() -> None:
    """Pin the load side, measure, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dashboard",
        action="store_true",
        help="measure again with the dashboard open and /metrics scraped every second",
    )
    args = parser.parse_args()
    pin_self()
    print(json.dumps(measure(dashboard=args.dashboard)))


if __name__ == "__main__":
    main()
