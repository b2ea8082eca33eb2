"""How many queries per second does the built-in DNS responder answer on one core?

``measure_qps`` is a UDP load generator (importable by other benchmarks): it keeps a fixed
number of queries in flight over several connected sockets and counts NOERROR answers for
a given time. Run as a script, it starts the responder for one service in a child process
pinned to the server core (CPU 1) and loads it from this process pinned to CPU 0; then,
the same way, two servers that send one canned answer back without reading the query:
the floor, reading datagrams in batches as DnsServer does, and asyncio's datagram
transport, which DnsServer does not use for being several times slower. Prints one JSON
line with the rates and the CPU each side used, which tells which side saturated.

    .venv/bin/python benchmarks/dnsload.py [seconds]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection, wait
from typing import Any, cast

import dns.message
import dns.query
import dns.rcode

from gtm.core.model import Locator, Mapping, State
from gtm.dns import DnsServer, ZoneAnswers

ZONE = "bench.example.test."
SERVICE = "app"
TICK = 0.1
"""Seconds between checks for lost queries; one unanswered for two ticks is sent again."""


class _Run:
    """What every socket of one measurement shares: the query budget and the stop flag."""

    def __init__(self, max_queries: int) -> None:
        self.max_queries = max_queries
        self.sent = 0
        self.answered = 0
        self.failed = 0
        self.resent = 0
        self.tick = 0
        self.stopped = False
        self._loop = asyncio.get_running_loop()
        self.done: asyncio.Future[None] = self._loop.create_future()
        self._ticker: asyncio.TimerHandle | None = None

    def tick_every(self, interval: float, floods: list[_Flood]) -> None:
        """Every ``interval``, advance the tick and resend what was lost, until stopped."""

        def tick() -> None:
            self.tick += 1
            for flood in floods:
                flood.resend_lost()
            self._ticker = self._loop.call_later(interval, tick)

        self._ticker = self._loop.call_later(interval, tick)

    def stop(self) -> None:
        self.stopped = True
        if self._ticker is not None:
            self._ticker.cancel()
        if not self.done.done():
            self.done.set_result(None)


class _Flood:
    """Keeps one query per slot in flight on a connected UDP socket; slot = query ID."""

    def __init__(self, sock: socket.socket, wires: list[bytes], run: _Run) -> None:
        self._sock = sock
        self._wires = wires
        self._sent_at = [0] * len(wires)
        self._run = run

    def start(self) -> None:
        for slot in range(len(self._wires)):
            self._send(slot)

    def _send(self, slot: int) -> None:
        run = self._run
        if run.sent >= run.max_queries:
            return
        run.sent += 1
        self._sent_at[slot] = run.tick
        with contextlib.suppress(BlockingIOError):
            self._sock.send(self._wires[slot])  # a full buffer: the tick resends it

    def readable(self) -> None:
        """Drain every waiting answer, sending the next query of each answered slot."""
        run = self._run
        recv = self._sock.recv
        slots = len(self._wires)
        while True:
            try:
                data = recv(65535)
            except BlockingIOError:
                return
            except ConnectionRefusedError:
                run.failed += 1
                return
            if run.stopped:
                continue
            slot = (data[0] << 8) | data[1]
            if slot >= slots or data[3] & 0x0F:  # an rcode other than NOERROR
                run.failed += 1
                continue
            run.answered += 1
            if run.answered >= run.max_queries:
                run.stop()
                continue
            self._send(slot)

    def resend_lost(self) -> None:
        """Send again the queries unanswered for two ticks."""
        oldest = self._run.tick - 2
        for slot, tick in enumerate(self._sent_at):
            if tick <= oldest:
                self._run.resent += 1
                self._run.sent -= 1  # the lost copy does not count against the budget
                self._send(slot)


async def measure_qps(
    host: str,
    port: int,
    qname: str,
    seconds: float = 3.0,
    concurrency: int = 64,
    *,
    sockets: int = 4,
    max_queries: int = 10_000_000,
) -> float:
    """Answers per second from a DNS server under a steady UDP load.

    Checks first that ``qname`` gets a NOERROR answer with records, so an error rcode
    cannot pass for speed. Then keeps ``concurrency`` A queries in flight, spread over
    ``sockets`` sockets, and counts NOERROR answers until ``seconds`` pass or
    ``max_queries`` are answered. Lost queries are sent again after two tenths of a second.

    Args:
        host: The server's address.
        port: The server's UDP port.
        qname: The name to ask for (type A).
        seconds: How long to load the server.
        concurrency: Queries in flight at any time.
        sockets: Client sockets (source ports) to spread them over.
        max_queries: Stop early after this many answers.

    Raises:
        RuntimeError: ``qname`` does not get an answer with records.
    """
    probe = dns.message.make_query(qname, "A")
    reply = await asyncio.to_thread(dns.query.udp, probe, host, 5.0, port)
    if reply.rcode() != dns.rcode.NOERROR or not reply.answer:
        raise RuntimeError(
            f"dnsload: {qname} got {dns.rcode.to_text(reply.rcode())} with "
            f"{len(reply.answer)} answer RRsets from {host}:{port}; nothing to measure"
        )
    loop = asyncio.get_running_loop()
    run = _Run(max_queries)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    floods: list[tuple[socket.socket, _Flood]] = []
    window = max(1, concurrency // sockets)
    try:
        for i in range(min(sockets, concurrency)):
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.connect((host, port))
            size = window + (1 if i < concurrency % sockets else 0)
            wires = []
            for slot in range(size):
                query = dns.message.make_query(qname, "A")
                query.id = slot
                wires.append(query.to_wire())
            flood = _Flood(sock, wires, run)
            floods.append((sock, flood))
            loop.add_reader(sock, flood.readable)
        started = loop.time()
        for _, flood in floods:
            flood.start()
        timer = loop.call_later(seconds, run.stop)
        run.tick_every(TICK, [flood for _, flood in floods])
        try:
            await run.done
        finally:
            elapsed = loop.time() - started
            timer.cancel()
            run.stop()
    finally:
        for sock, _ in floods:
            loop.remove_reader(sock)
            sock.close()
    return run.answered / elapsed


# The script: a responder (or the floor server) in a pinned child process, load from here.


class _OneService:
    """A mapping source holding one service that never changes."""

    def __init__(self) -> None:
        self._mapping = Mapping(
            service=SERVICE,
            version=1,
            epoch=1,
            ttl=30,
            active_site="site-a",
            locators=(
                Locator("app@site-a/1", "site-a", "127.0.1.1", 8080, 1, 100, State.UP),
                Locator("app@site-b/1", "site-b", "127.0.2.1", 8080, 2, 100, State.UP),
            ),
        )

    def get(self, service: str) -> Mapping | None:
        return self._mapping if service == SERVICE else None

    def subscribe(self, callback: Callable[[Mapping], None]) -> Callable[[], None]:
        return lambda: None


class _CannedProtocol(asyncio.DatagramProtocol):
    """One precomputed answer with the query's ID, through asyncio's datagram transport."""

    def __init__(self, answer: bytes) -> None:
        self._tail = answer[2:]
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if self._transport is not None:
            self._transport.sendto(data[:2] + self._tail, addr)


def _canned_batches(sock: socket.socket, answer: bytes) -> Callable[[], None]:
    """One precomputed answer with the query's ID, read in batches as DnsServer reads."""
    tail = answer[2:]

    def readable() -> None:
        for _ in range(64):
            try:
                data, addr = sock.recvfrom(65535)
            except BlockingIOError:
                return
            sock.sendto(data[:2] + tail, addr)

    return readable


def _serve(kind: str, cpu: int, ready: Connection) -> None:
    """Child process: pin to ``cpu`` and serve until SIGTERM."""
    os.sched_setaffinity(0, {cpu})
    asyncio.run(_serve_until_stopped(kind, ready))


async def _serve_until_stopped(kind: str, ready: Connection) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    answers = ZoneAnswers(ZONE, _OneService())
    if kind == "dns":
        server = DnsServer(answers)
        await server.start("127.0.0.1", 0)
        ready.send(server.port)
        await stop.wait()
        await server.close()
        answers.close()
        return
    query = dns.message.make_query(f"{SERVICE}.{ZONE}", "A").to_wire()
    answer = answers.respond(query, max_udp=1232)
    answers.close()
    assert answer is not None
    if kind == "floor":
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.bind(("127.0.0.1", 0))
        loop.add_reader(sock, _canned_batches(sock, answer))
        ready.send(sock.getsockname()[1])
        await stop.wait()
        loop.remove_reader(sock)
        sock.close()
    else:
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _CannedProtocol(answer), local_addr=("127.0.0.1", 0)
        )
        ready.send(transport.get_extra_info("sockname")[1])
        await stop.wait()
        transport.close()


@contextlib.contextmanager
def _child(kind: str, cpu: int) -> Iterator[tuple[int, int]]:
    """A server of ``kind`` in a child process; yields (port, pid); stops it by PID."""
    context = multiprocessing.get_context("spawn")
    parent_end, child_end = context.Pipe()
    process = context.Process(target=_serve, args=(kind, cpu, child_end), daemon=True)
    process.start()
    pid = process.pid
    assert pid is not None
    try:
        if parent_end not in wait([parent_end, process.sentinel], timeout=30):
            raise RuntimeError(f"dnsload: the {kind} server (pid {pid}) did not start")
        yield int(parent_end.recv()), pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        process.join(5)
        if process.is_alive():
            os.kill(pid, signal.SIGKILL)
            process.join()


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def _load(kind: str, core: int, seconds: float) -> dict[str, float]:
    """Load a server of ``kind`` pinned to ``core``; return its rate and the CPU used."""
    with _child(kind, core) as (port, pid):
        server_before, load_before = _cpu_seconds(pid), _own_cpu_seconds()
        started = time.monotonic()
        qps = asyncio.run(measure_qps("127.0.0.1", port, f"{SERVICE}.{ZONE}", seconds))
        wall = time.monotonic() - started
        server_cpu = _cpu_seconds(pid) - server_before
        load_cpu = _own_cpu_seconds() - load_before
    return {
        "qps": round(qps),
        "server_cpu_pct": round(100 * server_cpu / wall),
        "load_cpu_pct": round(100 * load_cpu / wall),
        # CPU per answer does not depend on whether the core was saturated or shared.
        "server_us_per_query": round(1e6 * server_cpu / (qps * seconds), 1),
    }


def main() -> None:
    """Measure the responder and the floor, and print one JSON line."""
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    cores = sorted(os.sched_getaffinity(0))
    load_cpu, server_cpu = cores[0], cores[1] if len(cores) > 1 else cores[0]
    os.sched_setaffinity(0, {load_cpu})
    gtm = _load("dns", server_cpu, seconds)
    floor = _load("floor", server_cpu, seconds)
    transport = _load("asyncio-datagram", server_cpu, seconds)
    print(
        json.dumps(
            {
                "benchmark": "dnsload",
                "dns_qps": gtm["qps"],
                "dns_server_cpu_pct": gtm["server_cpu_pct"],
                "dns_load_cpu_pct": gtm["load_cpu_pct"],
                "dns_server_us_per_query": gtm["server_us_per_query"],
                "floor_udp_qps": floor["qps"],
                "floor_server_cpu_pct": floor["server_cpu_pct"],
                "floor_load_cpu_pct": floor["load_cpu_pct"],
                "floor_server_us_per_query": floor["server_us_per_query"],
                "asyncio_datagram_qps": transport["qps"],
                "asyncio_datagram_server_cpu_pct": transport["server_cpu_pct"],
                "asyncio_datagram_server_us_per_query": transport["server_us_per_query"],
                "seconds": seconds,
                "concurrency": 64,
                "cpus": {"server": server_cpu, "load": load_cpu, "shared": len(cores) == 1},
                "target": {"dns_qps": 30_000},
            }
        )
    )


if __name__ == "__main__":
    main()
