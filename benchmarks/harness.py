"""Shared pieces of the benchmarks: a gtm process under test, simulated sites, statistics.

Every benchmark runs gtm as its own process pinned to one core (CPU 1 when the machine
has two) and drives it from another (CPU 0), the way ../shared/peers measured the peers,
so the figures compare. Every process started here is stopped by PID, also on errors.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from gtm.demo.sites import SimulatedSite, SiteFleet
from testbed import ports

SITES = {"site-a": "127.0.1.1", "site-b": "127.0.2.1", "site-c": "127.0.3.1"}
ZONE = "bench.example.test."


def server_cpu() -> int | None:
    """The core for the system under test, or None on a one-core machine."""
    cores = sorted(os.sched_getaffinity(0))
    return cores[-1] if len(cores) > 1 else None


def pin_self() -> None:
    """Pin this process (the load side) to the first core when there are two or more."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) > 1:
        os.sched_setaffinity(0, {cores[0]})


def free_port() -> int:
    """A TCP and UDP port that is free on 127.0.0.1 right now."""
    return ports.free_port("127.0.0.1", udp=True)


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


class GtmProcess:
    """``gtm run`` in a child process pinned to the server core."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self._dir = tempfile.TemporaryDirectory(prefix="gtm-bench-")
        self.path = Path(self._dir.name) / "gtm.yaml"
        self.path.write_text(yaml.safe_dump(config))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def api(self) -> str:
        """Base URL of the API."""
        return f"http://{self.config['api']['listen']}"

    @property
    def dns(self) -> tuple[str, int]:
        """Host and port of the DNS responder."""
        host, _, port = str(self.config["dns"]["listen"]).rpartition(":")
        return host, int(port)

    def start(self, timeout: float = 20.0) -> None:
        """Start gtm and wait until its API answers and every service has a mapping."""
        cpu = server_cpu()
        prefix = ["taskset", "-c", str(cpu)] if cpu is not None and _has("taskset") else []
        log = open(Path(self._dir.name) / "gtm.log", "wb")  # noqa: SIM115 - owned by process
        self.process = subprocess.Popen(
            [
                *prefix,
                sys.executable,
                "-m",
                "gtm",
                "run",
                "-c",
                str(self.path),
                "--log-level",
                "WARNING",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        # Anything short of the full list (refused, reset, a half answer) is "not yet".
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gtm exited: {self.log()}")
            with contextlib.suppress(OSError, http.client.HTTPException, ValueError, KeyError):
                services = self.get("/v1/services")["services"]
                if len(services) == len(self.config["services"]):
                    return
            time.sleep(0.05)
        raise TimeoutError(f"gtm did not publish every service in {timeout} s: {self.log()}")

    def get(self, path: str) -> dict[str, Any]:
        """GET a JSON document from the API."""
        with urllib.request.urlopen(self.api + path, timeout=5) as answer:
            doc: dict[str, Any] = json.loads(answer.read())
            return doc

    def log(self) -> str:
        """The last lines gtm wrote."""
        text = (Path(self._dir.name) / "gtm.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-20:])

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s; remove the temporary directory."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
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


def _has(command: str) -> bool:
    return any(
        os.access(os.path.join(folder, command), os.X_OK)
        for folder in os.environ.get("PATH", "").split(os.pathsep)
    )
