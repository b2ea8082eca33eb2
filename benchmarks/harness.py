"""Shared pieces of the benchmarks: a gtm process under test, simulated sites, statistics.

Every benchmark runs gtm as its own process pinned to one core (CPU 1 when the machine
has two) and drives it from another (CPU 0), the way ../shared/peers measured the peers,
so the figures compare. Every process started here is stopped by PID, also on errors, and
every port is one the kernel found free.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from gtm.demo.sites import SimulatedSite, SiteFleet
from testbed import ports
from testbed.process import ManagedProcess

SITES = {"site-a": "127.0.1.1", "site-b": "127.0.2.1", "site-c": "127.0.3.1"}
ZONE = "bench.example.test."


CORES = tuple(sorted(os.sched_getaffinity(0)))
"""The cores this benchmark may use, read once at import: :func:`pin_self` narrows the
process's own affinity to the first, and the system under test must still get the last."""


def server_cpu() -> int | None:
    """The core for the system under test, or None on a one-core machine."""
    return CORES[-1] if len(CORES) > 1 else None


def pin_self() -> None:
    """Pin this process (the load side) to the first core when there are two or more."""
    if len(CORES) > 1:
        os.sched_setaffinity(0, {CORES[0]})


def on_server_cpu(command: list[str]) -> list[str]:
    """``command`` run with ``taskset`` on :func:`server_cpu`, when there is one to pin to."""
    cpu = server_cpu()
    if cpu is None or shutil.which("taskset") is None:
        return command
    return ["taskset", "-c", str(cpu), *command]


def free_port() -> int:
    """A TCP and UDP port that is free on 127.0.0.1 right now."""
    return ports.free_port("127.0.0.1", udp=True)


def site_ports(count: int) -> list[int]:
    """``count`` distinct ports, each free on every bench site's address (one per workload)."""
    return ports.free_ports(count, *SITES.values())


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def bench_config(
    services: dict[str, int], *, check: dict[str, Any] | None = None, ttl: int = 5
) -> dict[str, Any]:
    """A gtm config: every service on every bench site, sites in the order of SITES."""
    return {
        "zone": ZONE,
        "instance": "bench",
        "dns": {"listen": f"127.0.0.1:{free_port()}"},
        "api": {"listen": f"127.0.0.1:{free_port()}"},
        "store": {"type": "memory"},
        "sites": {name: {"provider": "onprem"} for name in SITES},
        "services": {
            name: {
                "ttl": ttl,
                **({"check": check} if check else {}),
                "locators": [
                    {"site": site, "address": address, "port": port}
                    for site, address in SITES.items()
                ],
            }
            for name, port in services.items()
        },
    }


def fleet(services: dict[str, int]) -> SiteFleet:
    """Simulated sites serving ``services`` (name -> port) on the bench addresses."""
    return SiteFleet(
        {name: SimulatedSite(name, address, dict(services)) for name, address in SITES.items()}
    )


class GtmProcess(ManagedProcess):
    """``gtm run`` in a child process pinned to the server core, ready once its API lists
    every service."""

    start_timeout = 20.0

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = config
        self._dir = tempfile.TemporaryDirectory(prefix="gtm-bench-")
        self.path = Path(self._dir.name) / "gtm.yaml"
        self.path.write_text(yaml.safe_dump(config))

    @property
    def api(self) -> str:
        """Base URL of the API."""
        return f"http://{self.config['api']['listen']}"

    @property
    def dns(self) -> tuple[str, int]:
        """Host and port of the DNS responder."""
        host, _, port = str(self.config["dns"]["listen"]).rpartition(":")
        return host, int(port)

    @property
    def log_path(self) -> Path:
        """What gtm writes (warnings and errors only)."""
        return Path(self._dir.name) / "gtm.log"

    def describe(self) -> str:
        """``gtm on http://HOST:PORT``, as error messages start."""
        return f"gtm on {self.api}"

    def _prepare(self) -> list[str]:
        return on_server_cpu(
            [sys.executable, "-m", "gtm", "run", "-c", str(self.path), "--log-level", "WARNING"]
        )

    def _probe(self) -> str | None:
        # Anything short of the full list (refused, reset, a half answer) is "not yet".
        try:
            services = self.get("/v1/services")["services"]
        except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
            return f"{type(exc).__name__}: {exc}"
        if len(services) == len(self.config["services"]):
            return None
        return f"{len(services)} of {len(self.config['services'])} services published"

    def get(self, path: str) -> dict[str, Any]:
        """GET a JSON document from the API."""
        with urllib.request.urlopen(self.api + path, timeout=5) as answer:
            doc: dict[str, Any] = json.loads(answer.read())
            return doc

    def stop(self) -> None:
        """Stop gtm by PID (SIGTERM, then SIGKILL); remove its temporary directory."""
        super().stop()
        self._dir.cleanup()


@contextlib.contextmanager
def running(
    config: dict[str, Any], services: dict[str, int]
) -> Iterator[tuple[GtmProcess, SiteFleet]]:
    """Start the simulated sites and gtm; stop both afterwards, whatever happens."""
    sites = fleet(services)
    gtm = GtmProcess(config)
    try:
        sites.start()
        gtm.start()
        yield gtm, sites
    finally:
        gtm.stop()
        sites.stop()
