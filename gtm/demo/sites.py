"""Start, stop, kill and steer simulated sites as real child processes.

Used by ``gtm demo``, the end-to-end tests and the benchmarks: each site is its own
process, so "the site died" is a real SIGKILL and "the site is sick" a real 503.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import IO

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to SIGTERM this child when its parent dies, so no child outlives a crash."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass(slots=True)
class SimulatedSite:
    """One site process serving ``ports`` (service -> port) on ``address``."""

    name: str
    address: str
    ports: dict[str, int]
    release: str | None = None
    """The release the workload starts with; None: the workload's default."""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _errors: IO[bytes] | None = field(default=None, repr=False)

    @property
    def alive(self) -> bool:
        """Whether the site's process is running."""
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        """The process id while the site runs."""
        return self.process.pid if self.alive and self.process is not None else None

    def start(self, timeout: float = 30.0) -> None:
        """Start the process and wait until it listens on every port.

        Raises:
            RuntimeError: The process exited (a port taken, say) or did not say it
                listens within ``timeout``; the message ends with its error output.
        """
        if self.alive:
            return
        self.stop()  # what is left of a killed run: its pipe and error file
        args = [f"{service}={port}" for service, port in self.ports.items()]
        # Errors go to a file, not a pipe: nobody reads them while the site runs, and a
        # full pipe would stall it.
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gtm.demo.workload",
                    "--site",
                    self.name,
                    "--address",
                    self.address,
                    *([] if self.release is None else ["--release", self.release]),
                    *args,
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=self._errors,
                preexec_fn=die_with_parent,
            )
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        """Wait for the line the workload prints once every port listens."""
        assert self.process is not None and self.process.stdout is not None
        stdout = self.process.stdout
        received = b""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            while b"\n" not in received:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RuntimeError(
                        f"site {self.name}: workload did not listen on {self.address} "
                        f"{self.ports} within {timeout:g} s: {self._error_text()}"
                    )
                if not selector.select(min(remaining, 0.5)):
                    continue
                chunk = os.read(stdout.fileno(), 4096)
                if not chunk:
                    self.process.wait(5)
                    raise RuntimeError(
                        f"site {self.name}: workload exited with status "
                        f"{self.process.returncode} before listening on {self.address} "
                        f"{self.ports}: {self._error_text()}"
                    )
                received += chunk
        json.loads(received.partition(b"\n")[0])

    def _error_text(self) -> str:
        if self._errors is None:
            return ""
        self._errors.seek(0)
        lines = self._errors.read().decode(errors="replace").strip().splitlines()
        return "\n".join(lines[-10:]) or "(no error output)"

    def kill(self) -> None:
        """SIGKILL the process, as a crashed site would vanish."""
        if self.process is not None and self.alive:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        """Stop the process politely (SIGTERM, then SIGKILL after 5 s); safe to repeat."""
        process, self.process = self.process, None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    os.kill(process.pid, signal.SIGKILL)
                    process.wait()
            if process.stdout is not None:
                process.stdout.close()
        if self._errors is not None:
            self._errors.close()
            self._errors = None

    def set_mode(
        self,
        mode: str,
        fail_ratio: float | None = None,
        seed: int | None = None,
        delay: float | None = None,
    ) -> None:
        """Make ``/health`` answer per ``mode`` (up, down, flaky, hang, slow) on every port.

        ``delay`` is how many seconds ``slow`` takes to answer.
        """
        query = f"m={mode}"
        if delay is not None:
            query += f"&d={delay}"
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

    def deploy(self, release: str) -> None:
        """Make every answer of the site name ``release`` from now on, as a deployment would;
        a restarted site keeps it."""
        port = next(iter(self.ports.values()))
        query = urllib.parse.urlencode({"r": release})
        request = urllib.request.Request(
            f"http://{self.address}:{port}/_ctl/release?{query}", method="POST"
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            answer.read()
        self.release = release

    def refuse(self, *addresses: str) -> None:
        """Drop every probe from ``addresses`` unanswered (none: accept every vantage again)."""
        port = next(iter(self.ports.values()))
        request = urllib.request.Request(
            f"http://{self.address}:{port}/_ctl/refuse?from={','.join(addresses)}", method="POST"
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
