"""Idle connections from many clients cannot starve probes of descriptors (issue finding 1).

The attack at small scale: a process allowed 320 open files, serving the API and DNS, and
more half-sent requests (and idle DNS-over-TCP connections) than it may open files, from
forty addresses. Before admission control every one was accepted, the probes failed with
"Too many open files", asyncio logged a traceback for every refused accept, and DNS
stopped answering.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import pytest

HELPER = Path(__file__).with_name("siege_process.py")
LIMIT = 320
ATTACKERS = 40
EACH = 10
PARTIAL = b"GET /v1/services HTTP/1.1\r\nHost: gtm\r\n"


@pytest.fixture
def siege() -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, str(HELPER), str(LIMIT)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        for stream in (process.stdin, process.stdout, process.stderr):
            assert stream is not None
            stream.close()


async def hold(port: int, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    writer.write(PARTIAL)
    return reader, writer


def ask_udp(port: int, count: int) -> list[str]:
    """``count`` queries for billing over UDP, one after the other; the addresses answered."""
    found = []
    for _ in range(count):
        answer = dns.query.udp(
            dns.message.make_query("billing.gtm.example.test.", "A"), "127.0.0.1", 2.0, port
        )
        assert answer.rcode() == dns.rcode.NOERROR
        found += [item.address for rrset in answer.answer for item in rrset]
    return found


async def test_idle_connections_leave_descriptors_for_probes(
    siege: subprocess.Popen[str],
) -> None:
    assert siege.stdout is not None and siege.stdin is not None and siege.stderr is not None
    started = json.loads(await asyncio.to_thread(siege.stdout.readline))
    port, cap, dns_port = started["port"], started["cap"], started["dns_port"]
    assert cap < LIMIT

    held = [await hold(port, f"127.0.0.{2 + n}") for n in range(ATTACKERS) for _ in range(EACH)]
    idle_dns = [
        await asyncio.open_connection("127.0.0.1", dns_port, local_addr=(f"127.0.0.{2 + n}", 0))
        for n in range(ATTACKERS)
        for _ in range(EACH)
    ]
    try:
        # The probes keep going while every connection is held, and DNS keeps answering.
        assert await asyncio.to_thread(ask_udp, dns_port, 50) == ["192.0.2.10"] * 50
        # Those over the caps were turned away at once: a 503, or a reset when the
        # half-sent request was still unread as the server closed.
        refused = []
        for reader, _ in held:
            try:
                refused.append(await asyncio.wait_for(reader.read(), 0.05))
            except ConnectionResetError:
                refused.append(b"reset")
            except TimeoutError:
                continue
        assert len(refused) >= ATTACKERS * EACH - cap
        assert all(answer.startswith((b"HTTP/1.1 503 ", b"reset")) for answer in refused)
    finally:
        for _, writer in held + idle_dns:
            writer.close()

    siege.stdin.write("report\n")
    siege.stdin.flush()
    report = json.loads(await asyncio.to_thread(siege.stdout.readline))
    siege.stdin.close()
    log = await asyncio.to_thread(siege.stderr.read)

    assert report["failed"] == 0, report["errors"]
    assert report["ok"] > 0
    assert "Traceback" not in log, log
    assert len(log.splitlines()) < 10, log
