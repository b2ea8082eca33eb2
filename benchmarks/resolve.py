"""How fast does gtm answer "where is X?", over HTTP and over DNS?

API latency: 2,000 sequential ``GET /v1/services/app`` over one keep-alive connection
(http.client, as ../shared/peers measured Consul's HTTP API), p50/p99. API throughput: 32
concurrent keep-alive clients for a few seconds. DNS: queries per second with dnsperf when
installed, else the built-in UDP load generator. Baselines measured in the same run with
the same clients: a trivial aiohttp handler and a trivial UDP echo, each in its own process
on the server core. Prints one JSON line.

    .venv/bin/python benchmarks/resolve.py
"""

from __future__ import annotations

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
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dnsload import measure_qps
from harness import (
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


def measure() -> dict[str, Any]:
    """Run every measurement and return the figures."""
    result: dict[str, Any] = {"benchmark": "resolve"}
    services = dict(zip([SERVICE, "other", "third"], site_ports(3), strict=True))
    with running(bench_config(services), services) as (gtm, _):
        api_host, _, api_port = gtm.config["api"]["listen"].rpartition(":")
        api = http_latency(api_host, int(api_port), f"/v1/services/{SERVICE}")
        result["api_p50_ms"], result["api_p99_ms"] = api["p50_ms"], api["p99_ms"]
        result["api_rps"] = round(
            asyncio.run(http_throughput(f"{gtm.api}/v1/services/{SERVICE}")), 0
        )
        host, port = gtm.dns
        name = f"{SERVICE}.{gtm.config['zone']}"
        dns_seq = udp_latency(host, port, dns_query_wire(name))
        result["dns_seq_p50_ms"] = dns_seq["p50_ms"]
        qps = dnsperf_qps(host, port, name)
        result["dns_load_generator"] = "dnsperf" if qps is not None else "built-in"
        if qps is None:
            qps = asyncio.run(measure_qps(host, port, name, seconds=SECONDS))
        result["dns_qps"] = round(qps, 0)
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
    pin_self()
    print(json.dumps(measure()))


if __name__ == "__main__":
    main()
