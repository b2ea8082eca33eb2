"""Does load on the API reach the decision path? DNS and probe timing under each load.

gtm runs as its own process, on an SQLite store whose journal is full, in front of three
healthy simulated sites. In one run, DNS latency (a query every 10 ms, as the peers were
measured) and the lateness of gtm's own probes (from ``/healthz``) are measured with no
load, then under each load anyone who can reach the API can send:

* ``idle``: many TCP connections that send a request line and never finish the headers;
* ``events``: clients asking ``GET /v1/events`` for a service with no events, on a full
  journal, over and over;
* ``long_polls``: many long polls on a service's mapping, held open;
* ``locked_store``: another SQLite connection holds the store's write lock while an
  operator writes intents.

Every site stays healthy all along, so any locator judged down and any move is a false
verdict, counted per phase. Target: DNS p99 under each load at most twice the unloaded
p99 and at most 10 ms; no false verdict. Prints a short table on stderr and one JSON line
on stdout. Bounded: a fixed number of phases of ``PHASE`` seconds and fixed client
counts; free ports on loopback only; every process stopped by PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import resource
import socket
import sqlite3
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rcode
from harness import ZONE, GtmProcess, bench_config, fleet, percentile, pin_self

from gtm.core.model import Event
from gtm.registry.registry import Registry
from gtm.registry.stores.sqlite import SqliteStore
from testbed import ports

PHASE = 10.0
"""Seconds each phase measures (the window ``/healthz`` summarises probe lateness over)."""
RAMP = 0.5
"""Seconds a load runs before measuring starts."""
DNS_EVERY = 0.01
DNS_TIMEOUT = 1.0
"""A query unanswered this long is lost, and counts as this long in the percentiles."""
JOURNAL = 10_000
"""Events in the journal before gtm starts: the journal's default cap."""
IDLE = 1_100
EVENT_CLIENTS = 8
LONG_POLLS = 200
INTENT_EVERY = 1.0
TOKEN = "bench-isolation-token"
CHECK = {"type": "http", "path": "/health", "interval": "500ms", "timeout": "250ms"}
"""Fast checks with a short timeout, so a stalled loop shows as late or failed probes."""
TARGET_RATIO = 2.0
TARGET_MS = 10.0

Load = Callable[["Gtm", threading.Event], None]


class Gtm:
    """The gtm under test and how the loads reach it."""

    def __init__(self, process: GtmProcess, store: Path) -> None:
        self.process = process
        self.store = store
        host, _, port = str(process.config["api"]["listen"]).rpartition(":")
        self.api = (host, int(port))

    def get(self, path: str, timeout: float = 10.0) -> dict[str, Any]:
        request = urllib.request.Request(
            self.process.api + path, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            doc: dict[str, Any] = json.loads(answer.read())
            return doc

    def post(self, path: str, body: dict[str, Any]) -> None:
        request = urllib.request.Request(
            self.process.api + path,
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()


def fill_journal(path: Path, count: int) -> None:
    """Write ``count`` move events of another service into the store at ``path``."""

    async def fill() -> None:
        registry = await Registry.open(SqliteStore(path), "bench-fill")
        try:
            now = time.time()
            for n in range(count):
                await registry.record(
                    Event(
                        kind="move",
                        service="elsewhere",
                        time=now - count + n,
                        reason="filler: a move of a service this benchmark does not ask about",
                        from_site="site-a",
                        to_site="site-b",
                    )
                )
        finally:
            await registry.close()

    asyncio.run(fill())


# -- loads ------------------------------------------------------------------------------


def idle_connections(gtm: Gtm, stop: threading.Event) -> None:
    held: list[socket.socket] = []
    try:
        for _ in range(IDLE):
            if stop.is_set():
                break
            with contextlib.suppress(OSError):
                sock = socket.create_connection(gtm.api, timeout=0.5)
                held.append(sock)
                sock.send(b"GET /v1/services HTTP/1.1\r\nHost: gtm\r\n")
        stop.wait()
    finally:
        for sock in held:
            sock.close()


def events_queries(gtm: Gtm, stop: threading.Event) -> None:
    def client() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection(*gtm.api, timeout=5)
                try:
                    conn.request("GET", "/v1/events?service=nosuch&limit=1000")
                    conn.getresponse().read()
                finally:
                    conn.close()

    _threads(client, EVENT_CLIENTS, stop)


def long_polls(gtm: Gtm, stop: threading.Event) -> None:
    version = gtm.get("/v1/services/billing")["version"]
    request = (
        f"GET /v1/services/billing?index={version}&wait=60 HTTP/1.1\r\nHost: gtm\r\n\r\n"
    ).encode()
    held: list[socket.socket] = []
    try:
        for _ in range(LONG_POLLS):
            with contextlib.suppress(OSError):
                sock = socket.create_connection(gtm.api, timeout=0.5)
                held.append(sock)
                sock.send(request)
        stop.wait()
    finally:
        for sock in held:
            sock.close()


def locked_store(gtm: Gtm, stop: threading.Event) -> None:
    lock = sqlite3.connect(gtm.store, timeout=10, isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")
        while not stop.wait(INTENT_EVERY):
            # An operator's write that has to wait for the lock; the intent is for the
            # spare service, expires at once and never moves anything measured.
            with contextlib.suppress(OSError, http.client.HTTPException):
                gtm.post(
                    "/v1/intents",
                    {"kind": "freeze", "service": "spare", "why": "isolation bench", "ttl": 0.5},
                )
    finally:
        with contextlib.suppress(sqlite3.Error):
            lock.execute("ROLLBACK")
        lock.close()


def _threads(target: Callable[[], None], count: int, stop: threading.Event) -> None:
    threads = [threading.Thread(target=target, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    stop.wait()
    for thread in threads:
        thread.join(10)


LOADS: dict[str, Load | None] = {
    "none": None,
    "idle": idle_connections,
    "events": events_queries,
    "long_polls": long_polls,
    "locked_store": locked_store,
}


# -- measuring --------------------------------------------------------------------------


def dns_latencies(port: int, seconds: float) -> tuple[list[float], int]:
    """Seconds per answered query (lost ones count as ``DNS_TIMEOUT``), and how many were
    lost or answered wrongly."""
    query = dns.message.make_query(f"billing.{ZONE}", "A")
    latencies: list[float] = []
    bad = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sent = time.monotonic()
        try:
            answer = dns.query.udp(query, "127.0.0.1", port=port, timeout=DNS_TIMEOUT)
            latencies.append(time.monotonic() - sent)
            if answer.rcode() != dns.rcode.NOERROR or not answer.answer:
                bad += 1
        except dns.exception.Timeout:
            latencies.append(DNS_TIMEOUT)
            bad += 1
        time.sleep(max(0.0, DNS_EVERY - (time.monotonic() - sent)))
    return latencies, bad


def placement(gtm: Gtm) -> dict[str, int]:
    return {s["service"]: s["epoch"] for s in gtm.get("/v1/services")["services"]}


def phase(gtm: Gtm, name: str, load: Load | None) -> dict[str, Any]:
    health = gtm.get("/healthz")
    downs_before = health["vantage"]["verdicts_down"]
    epochs_before = placement(gtm)
    stop = threading.Event()
    loader = None
    if load is not None:
        loader = threading.Thread(target=load, args=(gtm, stop), daemon=True)
        loader.start()
        time.sleep(RAMP)
    try:
        latencies, bad = dns_latencies(gtm.process.dns[1], PHASE)
    finally:
        stop.set()
        if loader is not None:
            loader.join(30)
    health = _healthz_after(gtm)
    vantage = health["vantage"]
    moves = sum(
        after - epochs_before.get(service, after) for service, after in placement(gtm).items()
    )
    return {
        "dns_p50_ms": round(percentile(latencies, 50) * 1000, 3),
        "dns_p99_ms": round(percentile(latencies, 99) * 1000, 3),
        "dns_queries": len(latencies),
        "dns_lost_or_wrong": bad,
        "probe_late_p99_ms": round(vantage["probe_lateness"]["p99_s"] * 1000, 3),
        "probe_late_max_ms": round(vantage["probe_lateness"]["max_s"] * 1000, 3),
        "probes": vantage["probe_lateness"]["probes"],
        "false_verdicts": vantage["verdicts_down"] - downs_before + moves,
        "moves": moves,
        "degraded_after": vantage["degraded"],
    }


def _healthz_after(gtm: Gtm) -> dict[str, Any]:
    # Right after a load stops the API may still be draining it; a few tries suffice.
    for _ in range(20):
        with contextlib.suppress(OSError, http.client.HTTPException):
            return gtm.get("/healthz", timeout=5)
        time.sleep(0.25)
    return gtm.get("/healthz", timeout=10)


@contextlib.contextmanager
def gtm_on_full_journal() -> Iterator[Gtm]:
    # On tmpfs where there is one: filling the journal then costs seconds, not minutes
    # of fsync, and the lock and the decoding under test are the same.
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(
        prefix="gtm-isolation-", dir=shm if shm.is_dir() else None
    ) as folder:
        store = Path(folder) / "gtm.db"
        fill_journal(store, JOURNAL)
        services = dict(
            zip(("billing", "search", "spare"), ports.free_ports(3, "127.0.1.1"), strict=True)
        )
        config = bench_config(services, check=CHECK)
        config["store"] = {"type": "sqlite", "path": str(store)}
        config["api"]["token"] = "env:GTM_BENCH_TOKEN"
        os.environ["GTM_BENCH_TOKEN"] = TOKEN
        sites = fleet(services)
        process = GtmProcess(config)
        try:
            sites.start()
            process.start(timeout=60)
            yield Gtm(process, store)
        finally:
            process.stop()
            sites.stop()


def measure() -> dict[str, Any]:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the idle load's sockets
    pin_self()
    with gtm_on_full_journal() as gtm:
        time.sleep(2.0)  # every locator up and settled
        phases = {name: phase(gtm, name, load) for name, load in LOADS.items()}
    base = phases["none"]["dns_p99_ms"]
    limit = min(TARGET_MS, TARGET_RATIO * base)
    met = {
        name: figures["dns_p99_ms"] <= limit and figures["false_verdicts"] == 0
        for name, figures in phases.items()
    }
    return {
        "benchmark": "isolation",
        "journal_events": JOURNAL,
        "phase_s": PHASE,
        "target": {"dns_p99_ms_max": round(limit, 3), "false_verdicts": 0},
        "phases": phases,
        "false_verdicts": sum(f["false_verdicts"] for f in phases.values()),
        "met": met,
    }


def table(result: dict[str, Any]) -> str:
    rows = [["load", "DNS p50", "DNS p99", "lost", "late p99", "late max", "false", "met"]]
    for name, f in result["phases"].items():
        rows.append(
            [
                name,
                f"{f['dns_p50_ms']:.2f} ms",
                f"{f['dns_p99_ms']:.2f} ms",
                str(f["dns_lost_or_wrong"]),
                f"{f['probe_late_p99_ms']:.1f} ms",
                f"{f['probe_late_max_ms']:.1f} ms",
                str(f["false_verdicts"]),
                "yes" if result["met"][name] else "no",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def main() -> None:
    result = measure()
    print(table(result), file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
