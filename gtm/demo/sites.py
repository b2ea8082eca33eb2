"""Start, stop, kill and steer simulated sites as real child processes.

Used by ``gtm demo``, the end-to-end tests and the benchmarks: each site is its own
process, so "the site died" is a real SIGKILL and "the site is sick" a real 503.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to SIGTERM the site when its parent dies, so no site outlives a crash."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass(slots=True)
class SimulatedSite:
    """One site process serving ``ports`` (service -> port) on ``address``."""

    name: str
    address: str
    ports: dict[str, int]
    process: subprocess.Popen[str] | None = field(default=None, repr=False)

    @property
    def alive(self) -> bool:
        """Whether the site's process is running."""
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start the process and wait until it listens on every port."""
        if self.alive:
            return
        args = [f"{service}={port}" for service, port in self.ports.items()]
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gtm.demo.workload",
                "--site",
                self.name,
                "--address",
                self.address,
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=die_with_parent,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            err = self.process.stderr.read() if self.process.stderr else ""
            self.process.wait(timeout)
            raise RuntimeError(f"site {self.name}: workload did not start: {err.strip()}")
        json.loads(line)

    def kill(self) -> None:
        """SIGKILL the process, as a crashed site would vanish."""
        if self.process is not None and self.alive:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        """Stop the process politely (SIGTERM, then SIGKILL after 5 s)."""
        if self.process is None:
            return
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        self.process = None

    def set_mode(self, mode: str, fail_ratio: float | None = None, seed: int | None = None) -> None:
        """Make ``/health`` answer per ``mode`` (up, down, flaky, hang) on every port."""
        query = f"m={mode}"
        if fail_ratio is not None:
            query += f"&p={fail_ratio}"
        if seed is not None:
            query += f"&seed={seed}"
        port = next(iter(self.ports.values()))
        request = urllib.request.Request(
            f"http://{self.address}:{port}/_ctl/mode?{query}", method="POST"
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            answer.read()

    def stats(self) -> dict[str, object]:
        """Probe counts since the last mode change."""
        port = next(iter(self.ports.values()))
        with urllib.request.urlopen(f"http://{self.address}:{port}/_ctl/stats", timeout=5) as a:
            result: dict[str, object] = json.loads(a.read())
            return result


@dataclass(slots=True)
class SiteFleet:
    """Several simulated sites started and stopped together."""

    sites: dict[str, SimulatedSite]

    def start(self) -> None:
        """Start every site; on failure stop those already started."""
        try:
            for site in self.sites.values():
                site.start()
        except Exception:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every site, ignoring ones already gone."""
        for site in self.sites.values():
            with contextlib.suppress(Exception):
                site.stop()

    def __getitem__(self, name: str) -> SimulatedSite:
        return self.sites[name]

    def wait_listening(self, timeout: float = 5.0) -> None:
        """Wait until every live site answers on its first port."""
        deadline = time.monotonic() + timeout
        for site in self.sites.values():
            while site.alive:
                try:
                    site.stats()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
