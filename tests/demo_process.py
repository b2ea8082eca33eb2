"""Running ``gtm demo`` as a reader would, for tests: a real process, on ports the test
chose, so a gtm already running on the demo's usual ports changes nothing.

The fixtures that start and stop these live in ``tests/conftest.py``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
import yaml

from testbed.ports import with_free_ports

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEMO_CONFIG = ROOT / "config" / "demo.yaml"
DEMO_TOKEN = "demo-token"
READY_TIMEOUT = 60.0
"""Longest wait for a demo to serve every service (a loaded 2-core machine is slow)."""
STOP_TIMEOUT = 15.0
"""Longest wait for a demo to exit after SIGTERM before it is killed."""


def reader_env(home: Path) -> dict[str, str]:
    """The environment of a reader who ran ``make``: the venv's tools on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("GTM_API", None)
    env["GTM_TOKEN"] = DEMO_TOKEN
    env["HOME"] = str(home)
    return env


@dataclass
class DemoConfig:
    """``config/demo.yaml`` with every port chosen for this test, written to ``path``."""

    path: Path
    doc: dict[str, Any]
    store: Path
    """Where the config puts the store; ``gtm demo`` must leave it alone."""

    def ports(self) -> dict[int, int]:
        """Each service port of ``config/demo.yaml`` -> the port this config uses instead."""
        original = yaml.safe_load(DEMO_CONFIG.read_text())
        moved: dict[int, int] = {}
        for name, spec in original["services"].items():
            for before, after in zip(
                spec["locators"], self.doc["services"][name]["locators"], strict=True
            ):
                moved[int(before["port"])] = int(after["port"])
        return moved


def write_demo_config(directory: Path) -> DemoConfig:
    """The demo config on free ports (DNS and API on port 0), its store in ``directory``."""
    doc = with_free_ports(yaml.safe_load(DEMO_CONFIG.read_text()))
    store = directory / "store" / "demo.db"
    doc["store"]["path"] = str(store)
    path = directory / "demo.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return DemoConfig(path, doc, store)


def start_demo_process(config: DemoConfig, workdir: Path) -> DemoProcess:
    """Start ``gtm demo -c CONFIG`` (interactive) from the repository root, output to a
    file in ``workdir``; the caller stops it with :meth:`DemoProcess.stop`."""
    log_path = workdir / f"demo-{time.monotonic_ns()}.out"
    log = log_path.open("wb")
    try:
        process = subprocess.Popen(
            [str(BIN / "gtm"), "demo", "-c", str(config.path)],
            cwd=ROOT,
            env=reader_env(workdir),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    except BaseException:
        log.close()
        raise
    return DemoProcess(process, log_path, list(config.doc["services"]), log)


@dataclass
class DemoProcess:
    """A ``gtm demo`` running in the background; its output goes to a file."""

    process: subprocess.Popen[bytes]
    log_path: Path
    services: list[str]
    """The services of its config."""
    _log: IO[bytes] = field(repr=False)

    def output(self) -> str:
        """Everything the demo printed so far."""
        return self.log_path.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = READY_TIMEOUT) -> re.Match[str]:
        """Wait until the output matches ``pattern`` (multiline); fail with the output."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.output(), flags=re.M)
            if found:
                return found
            if self.process.poll() is not None:
                pytest.fail(
                    f"gtm demo exited ({self.process.returncode}) before printing "
                    f"{pattern!r}:\n{self.output()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"gtm demo did not print {pattern!r} in {timeout:g} s:\n{self.output()}"
                )
            time.sleep(0.05)

    @property
    def api(self) -> str:
        """The API's base URL, as the banner gives it."""
        return self.wait_for(r"curl -s (http://127\.0\.0\.1:\d+)/v1/services/")[1]

    @property
    def dns_port(self) -> int:
        """The DNS responder's port, as the banner gives it."""
        return int(self.wait_for(r"dig @127\.0\.0\.1 -p (\d+) ")[1])

    def site_pid(self, site: str) -> int:
        """The pid of a simulated site's process, as the banner gives it."""
        return int(self.wait_for(rf"site {re.escape(site)}\s+\S+\s+pid (\d+)")[1])

    def wait_serving(self, timeout: float = READY_TIMEOUT) -> None:
        """Wait until the API gives every service of the demo an active site."""
        url = f"{self.api}/v1/services"
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    services = json.loads(answer.read())["services"]
                placed = {s["service"] for s in services if s["active_site"]}
                if placed == set(self.services):
                    return
            except (OSError, ValueError, KeyError, TypeError):
                pass  # not serving yet
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gtm demo did not serve every service:\n{self.output()}")
            time.sleep(0.1)

    def stop(self) -> int:
        """SIGTERM by pid, SIGKILL if it overruns; the exit status. Safe to repeat."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode
