"""Attacks on gtm's own judgement, at small scale, against a real ``gtm run`` process.

A gtm with a low descriptor limit is flooded with idle API connections; another is
frozen again and again (SIGSTOP), as a loop blocked by slow requests is. Either way no
verdict flips, nothing moves, the journal shows the degraded spell and its end, and DNS
answers stay right. Every process is stopped by PID, also when a test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rcode
import pytest
import yaml

from gtm.demo.sites import SiteFleet
from testbed.ports import free_port

from .support import TOKEN, ZONE, config_doc

DESCRIPTORS = 160
"""The gtm child's descriptor limit, soft and hard, so gtm cannot raise it."""
IDLE_CONNECTIONS = 400
"""Idle API connections in the flood: well past the limit."""
FLOOD_SECONDS = 4.0
STALL_SECONDS = 4.0
"""How long gtm is frozen and thawed by turns, as a loop blocked again and again would be."""
FROZEN = 0.3
THAWED = 0.003


class GtmChild:
    """``gtm run`` in a child process, optionally with a lowered descriptor limit."""

    def __init__(self, tmp_path: Path, doc: dict[str, Any], descriptors: int | None) -> None:
        self.doc = doc
        self.path = tmp_path / "gtm.yaml"
        self.path.write_text(yaml.safe_dump(doc))
        self.log_path = tmp_path / "gtm.log"
        self.descriptors = descriptors
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def api(self) -> tuple[str, int]:
        host, _, port = str(self.doc["api"]["listen"]).rpartition(":")
        return host, int(port)

    @property
    def dns_port(self) -> int:
        return int(str(self.doc["dns"]["listen"]).rpartition(":")[2])

    def _limit(self) -> None:
        if self.descriptors is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (self.descriptors, self.descriptors))

    def start(self) -> None:
        env = {**os.environ, "GTM_TEST_TOKEN": TOKEN}
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gtm", "run", "-c", str(self.path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                preexec_fn=self._limit,
            )

    def get(self, path: str) -> dict[str, Any]:
        host, port = self.api
        request = urllib.request.Request(
            f"http://{host}:{port}{path}", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            doc: dict[str, Any] = json.loads(answer.read())
            return doc

    def wait_for(self, what: str, check: Any, timeout: float = 60.0) -> Any:
        """Poll ``check()`` until it returns something true; the log on a timeout."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"gtm exited: {self.log()}")
            with contextlib.suppress(OSError, ValueError, KeyError):
                found = check()
                if found:
                    return found
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}: {self.log()}")

    def log(self) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGCONT)
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def start_gtm(tmp_path: Path, ports: dict[str, int], fleet: SiteFleet) -> Iterator[Any]:
    """Start a gtm child in front of the fleet, every service up; stopped by PID after."""
    children: list[GtmChild] = []

    def start(descriptors: int | None = None) -> GtmChild:
        doc = config_doc(tmp_path, ports, all_down="closed")
        doc["dns"]["listen"] = f"127.0.0.1:{free_port('127.0.0.1', udp=True)}"
        doc["api"]["listen"] = f"127.0.0.1:{free_port('127.0.0.1')}"
        # Caps above the descriptor budget, as an operator may set them: admission control
        # is tested on its own (tests/api/test_api_siege.py); here the flood must reach the
        # descriptor limit, so the vantage's own judgement is what keeps traffic in place.
        doc["api"]["limits"] = {"max_connections": 2000, "max_connections_per_client": 2000}
        child = GtmChild(tmp_path, doc, descriptors)
        children.append(child)
        child.start()
        child.wait_for("every locator up", lambda: all_up(child.get("/v1/services")))
        return child

    try:
        yield start
    finally:
        for child in children:
            child.stop()


def all_up(doc: dict[str, Any]) -> bool:
    services = doc["services"]
    return len(services) == 2 and all(
        loc["state"] == "up" for service in services for loc in service["locators"]
    )


def placement(doc: dict[str, Any]) -> dict[str, tuple[int, str]]:
    return {s["service"]: (s["epoch"], s["active_site"]) for s in doc["services"]}


def ask(port: int, name: str) -> str:
    """The rcode of an A query for ``name`` (``timeout`` when there is no answer)."""
    query = dns.message.make_query(f"{name}.{ZONE}", "A")
    try:
        answer = dns.query.udp(query, "127.0.0.1", port=port, timeout=0.5)
    except dns.exception.Timeout:
        return "timeout"
    return dns.rcode.to_text(answer.rcode()) if answer.answer else "NOERROR-empty"


def spell(child: GtmChild) -> list[dict[str, Any]]:
    """The journal's degraded and recovered events once both are there, else []."""
    events = child.get("/v1/events?limit=1000")["events"]
    kinds = [event["kind"] for event in events]
    if "degraded" in kinds and "recovered" in kinds:
        return events
    return []


def test_a_flood_of_idle_connections_past_the_descriptor_limit_moves_nothing(
    start_gtm: Any,
) -> None:
    gtm = start_gtm(descriptors=DESCRIPTORS)
    before = placement(gtm.get("/v1/services"))
    held: list[socket.socket] = []
    answers: list[str] = []
    try:
        for _ in range(IDLE_CONNECTIONS):
            with contextlib.suppress(OSError):
                sock = socket.create_connection(gtm.api, timeout=0.2)
                held.append(sock)
                with contextlib.suppress(OSError):
                    sock.send(b"GET /v1/services HTTP/1.1\r\nHost: gtm\r\n")
        end = time.monotonic() + FLOOD_SECONDS
        while time.monotonic() < end:
            answers.append(ask(gtm.dns_port, "billing"))
            time.sleep(0.05)
    finally:
        for sock in held:
            sock.close()

    # A busy machine may add spells of its own (a late loop); the flood's is the one that
    # names the descriptors, and it must have ended.
    events = gtm.wait_for("the flood's degraded spell and its end", lambda: flood_spell(gtm))
    services = gtm.get("/v1/services")
    assert placement(services) == before
    assert all_up(services)
    assert [e for e in events if e["kind"] == "move" and e["from_site"] is not None] == []
    assert len(held) > DESCRIPTORS
    # Whatever DNS answered was right: no negative answer for a service that is up.
    assert "NXDOMAIN" not in answers
    gtm.wait_for("the vantage to recover", lambda: gtm.get("/healthz")["degraded"] is False)


def flood_spell(child: GtmChild) -> list[dict[str, Any]]:
    """The journal once a spell naming the descriptors began and a recovery followed it."""
    events = child.get("/v1/events?limit=1000")["events"]
    began = [
        i
        for i, e in enumerate(events)
        if e["kind"] == "degraded"
        and ("file descriptors" in e["reason"] or "Too many open files" in e["reason"])
    ]
    if began and any(e["kind"] == "recovered" for e in events[began[0] + 1 :]):
        return events
    return []


def test_a_frozen_event_loop_moves_nothing(start_gtm: Any) -> None:
    gtm = start_gtm()
    assert gtm.process is not None
    before = placement(gtm.get("/v1/services"))
    end = time.monotonic() + STALL_SECONDS
    try:
        while time.monotonic() < end:
            os.kill(gtm.process.pid, signal.SIGSTOP)
            time.sleep(FROZEN)
            os.kill(gtm.process.pid, signal.SIGCONT)
            time.sleep(THAWED)
    finally:
        os.kill(gtm.process.pid, signal.SIGCONT)
    degraded = gtm.get("/healthz")
    assert degraded["degraded"] is True, degraded
    assert any("event loop" in reason for reason in degraded["vantage"]["reasons"])

    events = gtm.wait_for("the degraded spell and its end", lambda: spell(gtm))
    services = gtm.get("/v1/services")
    assert placement(services) == before
    assert all_up(services)
    assert [e for e in events if e["kind"] == "move" and e["from_site"] is not None] == []
    assert ask(gtm.dns_port, "billing") == "NOERROR"
