"""How far does one gtm go: how many locators can it probe, and how does it serve 10,000 services?

Probe capacity: gtm runs pinned to one core and probes N locators (N/3 services in three
sites) every second over HTTP; the targets are one lightweight server process, on the
other core, listening on N ports of 127.0.1.1, 127.0.2.1 and 127.0.3.1. For each N of the
steps, after a warm-up, ``/healthz`` is read at the end of the measuring window: the p99
of how late probes started over its last 10 s (target <= 50 ms) and how many locators
were judged down (must stay 0, every target is healthy). The capacity is the largest N
that meets both. Beside them: gtm's CPU per probe and the probes one CPU-second does
(``probes_per_cpu_s``: the capacity of a core of its own), and the share of the window gtm
spent runnable but waiting for a CPU that other processes held (``run_queue_wait``).

Size: gtm with 10,000 services x 3 locators, the services of each site behind one ingress
whose health endpoint they share (one check per site), against the same gtm with 3
services, in the same run: seconds from start to serving every service (API and DNS),
resident memory, DNS queries per second on one core, and the API's p99 for one service.
"Serving" is the API listing every service, which it does once every service has its
first mapping; DNS answers from the same mappings.

The machine may be shared: the load average is reported beside the figures, which are
compared within the run. Prints one JSON line.

    .venv/bin/python benchmarks/scale.py [--steps 1000,2000,5000,10000] [--seconds 10]
        [--services 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import select
import signal
import socket
import sys
import time
import urllib.request
from collections.abc import Iterator
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dnsload import measure_qps
from harness import SITES, ZONE, GtmProcess, free_port, pin_self
from resolve import http_latency

from testbed import ports

STEPS = (1000, 2000, 5000, 10000)
"""Locators probed, stepping up."""
LATENESS_TARGET_S = 0.05
"""The most a probe's start may lag its slot, at the 99th percentile."""
WARMUP_S = 5.0
"""Seconds after start before lateness counts: every first probe has run by then."""
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
START_TIMEOUT_S = 60.0
"""Seconds gtm may take to list every service before the size run reports it not serving."""


def _serve(per_site: int, at: int, cpu: int, ready: Connection) -> None:
    """Child process: health endpoints on ``per_site`` ports of every site address (on
    port ``at`` of each when it is not 0) until SIGTERM.

    A bare epoll loop: accept, read the request, answer ``200 ok``, close. At ten thousand
    probes a second the targets must cost far less than the prober they are measuring.
    """
    os.sched_setaffinity(0, {cpu})
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    poller = select.epoll()
    listeners: dict[int, socket.socket] = {}
    found: dict[str, list[int]] = {}
    for address in SITES.values():
        found[address] = []
        for _ in range(per_site):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, at))  # 0: the kernel's pick, free by construction
            sock.listen(1024)
            sock.setblocking(False)
            listeners[sock.fileno()] = sock
            poller.register(sock.fileno(), select.EPOLLIN)
            found[address].append(sock.getsockname()[1])
    ready.send(found)
    waiting: dict[int, socket.socket] = {}
    while not stopping:
        try:
            events = poller.poll(0.5)
        except InterruptedError:
            continue
        for fd, _ in events:
            if fd in listeners:
                while True:
                    try:
                        conn, _peer = listeners[fd].accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    conn.setblocking(False)
                    if _answer(conn):
                        conn.close()
                    else:
                        waiting[conn.fileno()] = conn
                        poller.register(conn.fileno(), select.EPOLLIN)
            elif fd in waiting and _answer(waiting[fd]):
                poller.unregister(fd)
                waiting.pop(fd).close()
    for sock in [*listeners.values(), *waiting.values()]:
        sock.close()


def _answer(conn: socket.socket) -> bool:
    """Answer a request that has arrived; False while none has (the caller closes)."""
    try:
        request = conn.recv(4096)
    except BlockingIOError:
        return False
    except OSError:
        return True
    if request:
        with contextlib.suppress(OSError):
            conn.send(RESPONSE)
    return True


@contextlib.contextmanager
def targets(per_site: int, at: int = 0) -> Iterator[dict[str, list[int]]]:
    """Health endpoints on ``per_site`` ports of every site address (port ``at`` when it is
    not 0), in a child process on the load core; yields the ports by address and stops
    the child by PID."""
    context = multiprocessing.get_context("spawn")
    parent_end, child_end = context.Pipe()
    cpu = sorted(os.sched_getaffinity(0))[0]
    process = context.Process(target=_serve, args=(per_site, at, cpu, child_end), daemon=True)
    process.start()
    pid = process.pid
    assert pid is not None
    try:
        if parent_end not in wait([parent_end, process.sentinel], timeout=120):
            raise RuntimeError(f"scale: the target server (pid {pid}) did not start")
        yield parent_end.recv()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        process.join(5)
        if process.is_alive():
            os.kill(pid, signal.SIGKILL)
            process.join()


def config(services: dict[str, dict[str, int]], check: dict[str, Any]) -> dict[str, Any]:
    """A gtm config: each service has one locator per site, at the port given per site."""
    return {
        "zone": ZONE,
        "instance": "scale",
        "dns": {"listen": f"127.0.0.1:{free_port()}"},
        "api": {"listen": f"127.0.0.1:{free_port()}"},
        "store": {"type": "memory"},
        "sites": {name: {"provider": "onprem"} for name in SITES},
        "services": {
            name: {
                "check": check,
                "locators": [
                    {"site": site, "address": address, "port": where[site]}
                    for site, address in SITES.items()
                ],
            }
            for name, where in services.items()
        },
    }


class ScaleGtm(GtmProcess):
    """gtm under test, given time to start with many services."""

    start_timeout = START_TIMEOUT_S


def load_average() -> float:
    """The one-minute load average of the machine."""
    return round(os.getloadavg()[0], 2)


def rss_mb(pid: int | None) -> float:
    """Resident memory of a process, in MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def cpu_seconds(pid: int | None) -> float:
    """User plus system CPU time of a process, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_queue_seconds(pid: int | None) -> float:
    """Seconds a process has spent runnable but waiting for a CPU, from /proc: how much
    the machine's other load took from it."""
    with open(f"/proc/{pid}/schedstat") as schedstat:
        return int(schedstat.read().split()[1]) / 1e9


def probes_done(gtm: GtmProcess) -> float:
    """Probe results gtm has counted since it started, from ``/metrics``."""
    with urllib.request.urlopen(gtm.api + "/metrics", timeout=30) as answer:
        text = answer.read().decode()
    return sum(
        float(line.rpartition(" ")[2])
        for line in text.splitlines()
        if line.startswith("gtm_probe_results_total{")
    )


def probe_step(locators: int, seconds: float) -> dict[str, Any]:
    """gtm probing ``locators`` healthy locators every second: lateness and downs.

    Lateness is gtm's own summary (``/healthz``: the p99 over its last 10 s of probes),
    read once at the end of the window; CPU and run-queue wait are gtm's, over the window.
    """
    per_site = max(1, locators // len(SITES))
    check = {"type": "http", "path": "/health", "interval": "1s", "timeout": "500ms"}
    with targets(per_site) as listening:
        services = {
            f"svc{index}": {site: listening[address][index] for site, address in SITES.items()}
            for index in range(per_site)
        }
        gtm = ScaleGtm(config(services, check))
        try:
            try:
                gtm.start()
            except RuntimeError as exc:
                # Not serving within the bound (probes too late to be trusted): a miss.
                why = str(exc).split("; log:")[0]
                return {"locators": per_site * len(SITES), "ok": False, "why": why}
            time.sleep(WARMUP_S)
            probes_before = probes_done(gtm)
            cpu_before, queued_before = cpu_seconds(gtm.pid), run_queue_seconds(gtm.pid)
            started = time.monotonic()
            time.sleep(seconds)
            vantage = gtm.get("/healthz")["vantage"]
            elapsed = time.monotonic() - started
            cpu = cpu_seconds(gtm.pid) - cpu_before
            queued = run_queue_seconds(gtm.pid) - queued_before
            probes = probes_done(gtm) - probes_before
        finally:
            gtm.stop()
    lateness = float(vantage["probe_lateness"]["p99_s"])
    downs = int(vantage["verdicts_down"])
    return {
        "locators": per_site * len(SITES),
        "probes_per_s": round(probes / elapsed),
        "lateness_p99_ms": round(lateness * 1000, 1),
        "verdicts_down": downs,
        "degraded": bool(vantage["degraded"]),
        "cpu_busy": round(cpu / elapsed, 2),
        "cpu_us_per_probe": round(cpu / max(probes, 1) * 1e6),
        "probes_per_cpu_s": round(probes / cpu) if cpu else None,
        "run_queue_wait": round(queued / elapsed, 2),
        "ok": lateness <= LATENESS_TARGET_S and downs == 0,
        "load_average": load_average(),
    }


def sized(count: int, health_port: int) -> dict[str, Any]:
    """gtm with ``count`` services behind one ingress per site: start, memory, DNS, API.

    Every service's check probes the ingress's health port, so the services of a site
    share one probe; their own ports are where traffic would go and take no probes.
    """
    check = {
        "type": "http",
        "path": "/health",
        "interval": "1s",
        "timeout": "500ms",
        "port": health_port,
    }
    services = {f"svc{index}": dict.fromkeys(SITES, 20000 + index) for index in range(count)}
    document = config(services, check)
    gtm = ScaleGtm(document)
    last = f"svc{count - 1}"
    try:
        started = time.monotonic()
        try:
            gtm.start()
        except RuntimeError as exc:
            # Not serving within the bound: say so, with how far it got, and go on.
            return {"services": count, "serving": False, "why": str(exc).split("; log:")[0]}
        listed = time.monotonic() - started
        host, port = gtm.dns
        api_host, _, api_port = str(gtm.config["api"]["listen"]).rpartition(":")
        qps = asyncio.run(measure_qps(host, port, f"{last}.{ZONE}", seconds=3.0))
        api = http_latency(api_host, int(api_port), f"/v1/services/{last}", count=1000)
        return {
            "services": count,
            "serving": True,
            "start_to_serving_s": round(listed, 2),
            "rss_mb": rss_mb(gtm.pid),
            "dns_qps": round(qps),
            "api_p99_ms": api["p99_ms"],
            "checks": gtm.get("/healthz")["checks"],
        }
    finally:
        gtm.stop()


def measure(steps: list[int], seconds: float, services: int) -> dict[str, Any]:
    """The capacity steps, then the size comparison.

    Every step runs, so a machine whose other load spoils one step still shows the next;
    the capacity is the largest step that met both conditions.
    """
    result: dict[str, Any] = {"benchmark": "scale", "load_average_start": load_average()}
    capacity = 0
    step_figures = []
    for locators in steps:
        figures = probe_step(locators, seconds)
        step_figures.append(figures)
        print(f"probe step: {json.dumps(figures)}", file=sys.stderr)
        if figures["ok"]:
            capacity = max(capacity, figures["locators"])
    result["probe_steps"] = step_figures
    result["probe_capacity_locators"] = capacity
    health_port = ports.free_port(*SITES.values())
    with targets(1, at=health_port):
        small = sized(3, health_port)
        big = sized(services, health_port)
    result["small"], result["large"] = small, big
    if small["serving"] and big["serving"]:
        result["dns_qps_ratio"] = round(big["dns_qps"] / small["dns_qps"], 3)
        result["api_p99_ratio"] = round(big["api_p99_ms"] / small["api_p99_ms"], 3)
    result["load_average_end"] = load_average()
    result["target"] = {
        "probe_capacity_locators": 5000,
        "lateness_p99_ms": LATENESS_TARGET_S * 1000,
        "start_to_serving_s": 10.0,
        "dns_qps_ratio_min": 0.9,
        "api_p99_ratio_max": 1.1,
    }
    return result


def main() -> None:
    """Parse arguments, run, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--steps",
        default=",".join(str(step) for step in STEPS),
        help="locators probed at each step, comma-separated (default 1000,2000,5000,10000)",
    )
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="measuring window per step (10 s or more)"
    )
    parser.add_argument("--services", type=int, default=10_000, help="services of the size run")
    args = parser.parse_args()
    pin_self()
    steps = [int(step) for step in args.steps.split(",") if step]
    print(json.dumps(measure(steps, args.seconds, args.services)))


if __name__ == "__main__":
    main()
