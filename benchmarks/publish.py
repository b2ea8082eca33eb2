"""How long after a site is lost do the registry, gtm's DNS, BIND, a BIND secondary,
HAProxy and Route 53 serve the next site?

gtm runs as ``gtm run`` pinned to one core, with its SQLite store (a fresh file per trial,
so flap damping from earlier trials cannot hold a site down), an rfc2136 provider (a real
BIND, TSIG signed updates), an haproxy provider (a real HAProxy, runtime API on a unix
socket), as a hidden primary a real BIND secondary that copies gtm's zone (NOTIFY, then
IXFR signed with TSIG) and, with ``--route53``, a route53 provider (moto in server mode);
``--targets`` picks some of BIND, HAProxy and the secondary. Each trial
waits until every system sends every service to site-a, then kills site-a's workload at a
random moment of the probe cycle. The reference is the FIRST DOWN VERDICT of a site-a
locator (the earliest ``health`` event in the journal, read from the store's file), the
moment gtm knows the site is going; from there, until every service is served elsewhere:

- ``decide``: every mapping durable, read from the SQLite file by another process (WAL
  readers see exactly what is committed);
- ``dns``: gtm's own DNS responder answers another site's address for every name;
- BIND: queried over UDP with dnspython until it answers another site's address (every 2 ms
  for one service; for 1,000, every still-pending name is asked in each sweep, a sweep
  taking a few ms); the BIND secondary is polled the same way;
- HAProxy: ``show servers state`` (one runtime API command for every backend) until each
  backend weighs site-a 0 and another site above 0, the moment its next request goes
  there;
- Route 53: ``ListResourceRecordSets`` until every service's A record holds another site.

At 1,000 services a whole site is lost: 1,000 services, each with a locator in each of the
three sites. The workloads are real, one process per site, but they share one port per
site (3,000 listeners would measure the workload, not gtm): every service's locator in a
site is the same address and port, and gtm shares one check among locators probed
identically; timeouts a microsecond apart make ten checks per site, each shared by 100
services, so the lost site's verdicts come in ten bursts spread over about one probe
interval (``verdicts_*_spread``), and gtm decides 1,000 moves. ``decide_*_after_last``
is from the LAST down verdict until every mapping is durable: what deciding and writing
cost once the prober has spoken. Reported: for one service in
ms, for more in s (``decide`` and ``dns`` always in ms), p50 and p95 over trials, with the
machine's load average before and after (the figures mean little on a busy machine).
A trial whose gtm does not publish every service within 120 s of starting (a busy port,
a loaded machine) counts in ``not_started_*`` instead of ending the run.

Prints one JSON line.

    .venv/bin/python benchmarks/publish.py [--trials 5] [--scales 1,1000] [--route53]
        [--targets bind,haproxy,secondary]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import functools
import json
import os
import random
import socket
import sqlite3
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dns.message
import dns.rdatatype
from harness import SITES, ZONE, GtmProcess, bench_config, percentile, pin_self, site_ports

from gtm.demo.sites import SimulatedSite, SiteFleet
from testbed.bind import BindServer
from testbed.haproxy import HaproxyServer
from testbed.moto import MotoServer, create_hosted_zone
from testbed.moto import client as aws_client

VICTIM = "site-a"
INTERVAL = 2.0
"""Probe interval, s: sets how long detection takes (not measured) and how far apart the
lost site's verdicts come (``verdicts_*_spread``). 3,000 locators probed every 0.5 s keep
a loaded 2-core machine's gtm too busy to trust itself (a late loop degrades its vantage,
which holds every move); the probing cost is measured on its own."""
TIMEOUT = 1.0
"""Probe timeout, s."""
POLL_ONE_S = 0.002
"""Poll period for one service (BIND query, request through HAProxy)."""
SWEEP_WAIT_S = 0.05
"""How long one sweep of pending names waits for BIND's answers before asking again."""
TRIAL_TIMEOUT = 60.0
CHECK_GROUPS = 10
"""Checks per site at 1,000 services (see :func:`gtm_config`)."""


def names_for(scale: int) -> list[str]:
    """The services of a scale: ``app`` alone, or ``svc-0000`` .. ``svc-0999``."""
    return ["app"] if scale == 1 else [f"svc-{i:04d}" for i in range(scale)]


TARGETS = ("bind", "haproxy", "secondary")
"""What follows gtm: BIND by RFC 2136 updates, HAProxy, a BIND secondary by NOTIFY + IXFR."""


def gtm_config(services: list[str], port: int) -> dict[str, Any]:
    """The bench config for ``services``, providers to come; resync rare, so every pass
    measured is one driven by a mapping change."""
    check = {"type": "tcp", "interval": f"{INTERVAL}s", "timeout": f"{TIMEOUT}s"}
    doc = bench_config(dict.fromkeys(services, port), check=check)
    # gtm shares one check among locators probed identically. One check for a site's
    # 1,000 locators hands gtm 1,000 results in one callback, which on a loaded machine
    # holds the loop past the vantage's lag bound, and a degraded vantage holds every
    # move; so services are spread over CHECK_GROUPS checks per site (timeouts a
    # microsecond apart), each shared by 1/CHECK_GROUPS of them.
    for number, service in enumerate(services):
        timeout = TIMEOUT + (number % CHECK_GROUPS) / 1e6
        doc["services"][service]["check"] = {**check, "timeout": f"{timeout:.6f}s"}
    doc["providers"] = {}
    doc["reconcile"] = {"resync_interval": "60s", "retry_max": "1s"}
    return doc


class Targets:
    """The systems one scale measures, started and stopped together."""

    def __init__(
        self,
        work: Path,
        scale: int,
        services: list[str],
        port: int,
        chosen: set[str],
        moto: MotoServer | None,
    ) -> None:
        backends = {s: [(site, address, port) for site, address in SITES.items()] for s in services}
        self.bind = BindServer(work / f"bind-{scale}", ZONE) if "bind" in chosen else None
        self.haproxy = (
            HaproxyServer(work / f"lb-{scale}", backends) if "haproxy" in chosen else None
        )
        self.config = gtm_config(services, port)
        # The secondary copies the zone from gtm's DNS port, which stays the same across
        # the trials' fresh gtm processes.
        host, _, dns_port = str(self.config["dns"]["listen"]).rpartition(":")
        self.secondary = (
            BindServer(
                work / f"secondary-{scale}",
                ZONE,
                primary=(host, int(dns_port)),
                key_name="gtm-xfr.",
            )
            if "secondary" in chosen
            else None
        )
        self.moto = moto
        self.route53: tuple[str, str] | None = None
        """Route 53's endpoint and hosted zone id, once started with moto."""
        self.work = work
        self.scale = scale

    def start(self) -> None:
        """Start every target and finish the gtm config with what reaches them."""
        doc = self.config
        if self.bind is not None:
            self.bind.start()
            secret = self.work / f"tsig-{self.scale}.secret"
            secret.write_text(self.bind.key_secret + "\n")
            doc["providers"]["bind"] = {
                "type": "rfc2136",
                "server": f"{self.bind.address}:{self.bind.port}",
                "tsig": {"name": self.bind.key_name, "secret": f"file:{secret}"},
            }
        if self.haproxy is not None:
            self.haproxy.start(timeout=30)
            doc["providers"]["lb"] = {"type": "haproxy", "socket": self.haproxy.socket}
        if self.secondary is not None:
            self.secondary.start()
            secret = self.work / f"xfr-{self.scale}.secret"
            secret.write_text(self.secondary.key_secret + "\n")
            doc["dns"]["transfer"] = {
                "allow": ["127.0.0.0/8"],
                "tsig": {"name": self.secondary.key_name, "secret": f"file:{secret}"},
                "notify": [f"{self.secondary.address}:{self.secondary.port}"],
            }
        if self.moto is not None:
            endpoint = self.moto.endpoint_url
            self.route53 = (endpoint, create_hosted_zone(endpoint, ZONE))
            doc["providers"]["r53"] = {
                "type": "route53",
                "hosted_zone_id": self.route53[1],
                "endpoint_url": endpoint,
            }

    def stop(self) -> None:
        """Stop every target started."""
        for server in (self.secondary, self.haproxy, self.bind):
            if server is not None:
                server.stop()

    def servers(self) -> dict[str, tuple[str, int]]:
        """The DNS servers among the targets, by name: where to poll them."""
        return {
            name: (server.address, server.port)
            for name, server in (("bind", self.bind), ("secondary", self.secondary))
            if server is not None
        }


def a_records(answer: bytes) -> set[str]:
    """The addresses of the A records in the answer section of a response, read off its
    bytes (a parse with dnspython costs more than BIND's answer, 1,000 at a time)."""
    count = int.from_bytes(answer[6:8], "big")
    offset = 12
    while answer[offset]:  # the question's name, uncompressed
        offset += answer[offset] + 1
    offset += 5
    found: set[str] = set()
    for _ in range(count):
        while answer[offset] and answer[offset] < 0xC0:
            offset += answer[offset] + 1
        offset += 2 if answer[offset] else 1
        rdtype, _, _, length = struct.unpack_from("!HHIH", answer, offset)
        offset += 10
        if rdtype == dns.rdatatype.A:
            found.add(socket.inet_ntoa(answer[offset : offset + length]))
        offset += length
    return found


class BindPoller:
    """Asks a DNS server (BIND, gtm's own) for many names over one UDP socket, and notes
    when each answers a target."""

    def __init__(self, server: tuple[str, int], names: list[str], what: str = "BIND") -> None:
        self.address = server
        self.what = what
        self.names = names
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.connect(self.address)
        # One query per name, made once; its id is the name's index.
        self.wires = [
            dns.message.make_query(f"{name}.{ZONE}", dns.rdatatype.A, id=i % 65536).to_wire()
            for i, name in enumerate(names)
        ]

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()

    async def until(self, address: str, *, leaves: bool = False) -> dict[str, float]:
        """Sweep the names still pending until BIND answers exactly ``address`` for all
        (``leaves``: anything but ``address``; a loaded gtm may skip to site-c).

        Returns:
            The wall-clock time each name was first seen answering as wanted.
        """
        pending = set(range(len(self.names)))
        seen: dict[str, float] = {}
        deadline = time.monotonic() + TRIAL_TIMEOUT
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.what}: {len(pending)} name(s) never answered {address}")
            for index in pending:
                self.sock.send(self.wires[index])
            waiting = set(pending)
            end = time.monotonic() + (SWEEP_WAIT_S if len(pending) > 1 else POLL_ONE_S * 5)
            while waiting and time.monotonic() < end:
                # Read what has arrived without a task per datagram: at 1,000 names the
                # poller's own cost would otherwise show in the figures.
                try:
                    data = self.sock.recv(4096)
                except BlockingIOError:
                    await asyncio.sleep(0.001)
                    continue
                now = time.time()
                index = struct.unpack("!H", data[:2])[0]
                if index not in waiting:
                    continue
                waiting.discard(index)
                found = a_records(data)
                if (found and address not in found) if leaves else found == {address}:
                    pending.discard(index)
                    seen[self.names[index]] = now
            if pending and len(pending) == 1:
                await asyncio.sleep(POLL_ONE_S)
        return seen


def servers_state(haproxy: HaproxyServer) -> dict[str, dict[str, int]]:
    """Every backend's server weights, from one ``show servers state``."""
    text = haproxy.command("show servers state")
    columns: list[str] = []
    result: dict[str, dict[str, int]] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            columns = line.lstrip("# ").split()
        elif columns and len(line.split()) >= len(columns):
            row = dict(zip(columns, line.split(), strict=False))
            result.setdefault(row["be_name"], {})[row["srv_name"]] = int(row["srv_uweight"])
    return result


def only(weights: dict[str, int], site: str, leaves: bool) -> bool:
    """Whether ``site`` is the one server with weight (``leaves``: has none, others have)."""
    others = [w for s, w in weights.items() if s != site]
    if leaves:
        return weights.get(site, 0) == 0 and any(w > 0 for w in others)
    return weights.get(site, 0) > 0 and all(w == 0 for w in others)


async def haproxy_until(
    haproxy: HaproxyServer, services: list[str], site: str, *, leaves: bool = False
) -> dict[str, float]:
    """When each backend first weighs ``site`` only (``leaves``: not at all), polling the
    runtime API."""
    seen: dict[str, float] = {}
    deadline = time.monotonic() + TRIAL_TIMEOUT
    while len(seen) < len(services):
        if time.monotonic() > deadline:
            raise TimeoutError(f"HAProxy: {len(services) - len(seen)} backend(s) never moved")
        state = await asyncio.to_thread(servers_state, haproxy)
        now = time.time()
        for service in services:
            if service not in seen and only(state.get(service, {}), site, leaves):
                seen[service] = now
        await asyncio.sleep(POLL_ONE_S)
    return seen


def route53_state(endpoint: str, zone_id: str) -> dict[str, set[str]]:
    """Every A record set of the hosted zone: service name -> addresses."""
    pages = aws_client(endpoint, "route53").get_paginator("list_resource_record_sets")
    found: dict[str, set[str]] = {}
    for page in pages.paginate(HostedZoneId=zone_id):
        for rrset in page["ResourceRecordSets"]:
            if rrset["Type"] == "A":
                service = rrset["Name"].split(".", 1)[0]
                found[service] = {r["Value"] for r in rrset.get("ResourceRecords", [])}
    return found


def route53_until(
    route53: tuple[str, str], services: list[str], address: str, *, leaves: bool = False
) -> dict[str, float]:
    """When each service's A record first holds exactly ``address`` (``leaves``: holds
    addresses, none of them ``address``), listing the zone over and over.

    Run in a process of its own (see :func:`watching`): boto3 is CPU-heavy enough to
    delay the other pollers if it shared their interpreter.
    """
    seen: dict[str, float] = {}
    deadline = time.monotonic() + TRIAL_TIMEOUT
    while len(seen) < len(services):
        if time.monotonic() > deadline:
            raise TimeoutError(f"Route 53: {len(services) - len(seen)} record(s) never moved")
        state = route53_state(*route53)
        now = time.time()
        for service in services:
            found = state.get(service, set())
            done = (found and address not in found) if leaves else found == {address}
            if service not in seen and done:
                seen[service] = now
        time.sleep(POLL_ONE_S)
    return seen


def durable_until(db: Path, count: int) -> float:
    """When the store's file first holds ``count`` mappings off site-a (committed writes,
    as a reader of the file sees them); polled every 2 ms, in a process of its own."""
    deadline = time.monotonic() + TRIAL_TIMEOUT
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        while time.monotonic() < deadline:
            rows = conn.execute(
                "SELECT value FROM entries WHERE key >= 'mappings/' AND key < 'mappings0'"
            ).fetchall()
            moved = sum(1 for (value,) in rows if json.loads(value)["active_site"] != VICTIM)
            if moved >= count:
                return time.time()
            time.sleep(POLL_ONE_S)
    finally:
        conn.close()
    raise TimeoutError(f"the store never held {count} mappings off {VICTIM}")


def downs(db: Path, since: float) -> tuple[float, float]:
    """The first and the last verdict journaled after ``since``: downs of site-a locators
    (nothing else changes verdicts while site-a dies)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        first, last = conn.execute(
            "SELECT min(time), max(time) FROM journal WHERE kind = 'health' AND time >= ?",
            (since,),
        ).fetchone()
    finally:
        conn.close()
    if first is None:
        raise TimeoutError(f"no verdict journaled after {VICTIM} was killed")
    return float(first), float(last)


def moves_spread(db: Path, since: float) -> float:
    """Seconds between the first and the last move journaled after ``since``."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        first, last = conn.execute(
            "SELECT min(time), max(time) FROM journal WHERE kind = 'move' AND time >= ?", (since,)
        ).fetchone()
    finally:
        conn.close()
    return 0.0 if first is None else float(last) - float(first)


class Spurious(Exception):
    """gtm moved a service off site-a before the trial began (its probes were starved)."""


class NotStarted(Exception):
    """gtm did not publish every service in time (or exited) before the trial began."""


async def steady(
    targets: Targets, pollers: dict[str, BindPoller], services: list[str], gtm: GtmProcess
) -> None:
    """Wait until gtm's DNS and every target (Route 53 too) send every service to site-a.

    Raises:
        Spurious: gtm moved a service away from site-a meanwhile, although it is up.
    """
    try:
        for poller in pollers.values():  # gtm's own DNS first: it follows the registry
            await poller.until(SITES[VICTIM])
        if targets.haproxy is not None:
            await haproxy_until(targets.haproxy, services, VICTIM)
        if targets.route53 is not None:
            await asyncio.to_thread(route53_until, targets.route53, services, SITES[VICTIM])
    except TimeoutError as exc:
        listed = await asyncio.to_thread(gtm.get, "/v1/services")
        away = [s["service"] for s in listed["services"] if s.get("active_site") != VICTIM]
        if away:
            raise Spurious(f"{len(away)} service(s) moved off {VICTIM}: {away[:5]}") from exc
        raise


async def trial(
    scale: int,
    fleet: SiteFleet,
    targets: Targets,
    work: Path,
    watchers: concurrent.futures.ProcessPoolExecutor,
) -> dict[str, Any]:
    """One loss of site-a with a fresh gtm and store; seconds from the first down verdict
    until each system serves every service elsewhere.

    Raises:
        TimeoutError: A system did not serve every service elsewhere in time.
        Spurious: gtm moved services off site-a before it was killed.
    """
    services = names_for(scale)
    db = work / f"gtm-{scale}-{time.monotonic_ns()}.db"
    gtm = GtmProcess({**targets.config, "store": {"type": "sqlite", "path": str(db)}})
    pollers = {"dns": BindPoller(gtm.dns, services, "gtm's DNS")}
    for name, server in targets.servers().items():
        pollers[name] = BindPoller(
            server, services, "the BIND secondary" if name == "secondary" else "BIND"
        )
    try:
        try:
            gtm.start(timeout=120)
        except RuntimeError as exc:  # ProcessExited too: a busy port, a start too slow
            # One line for the report: what happened, then the last lines gtm wrote.
            first, *log = str(exc).splitlines()
            raise NotStarted(" | ".join([first, *log[-3:]])) from exc
        await steady(targets, pollers, services, gtm)
        await asyncio.sleep(random.uniform(0, INTERVAL))
        t0 = time.time()
        fleet[VICTIM].kill()
        loop = asyncio.get_running_loop()
        durable = loop.run_in_executor(watchers, durable_until, db, scale)
        waits: dict[str, asyncio.Future[Any]] = {"decide": durable}
        for name, poller in pollers.items():
            waits[name] = asyncio.ensure_future(poller.until(SITES[VICTIM], leaves=True))
        if targets.haproxy is not None:
            waits["haproxy"] = asyncio.ensure_future(
                haproxy_until(targets.haproxy, services, VICTIM, leaves=True)
            )
        if targets.route53 is not None:
            waits["route53"] = loop.run_in_executor(
                watchers,
                functools.partial(route53_until, leaves=True),
                targets.route53,
                services,
                SITES[VICTIM],
            )
        await asyncio.gather(*waits.values(), return_exceptions=True)
        down, last_down = downs(db, t0)
        spread = moves_spread(db, t0)
    finally:
        gtm.stop()
        for poller in pollers.values():
            poller.close()
        fleet[VICTIM].start()
    # A system that never served everything in time leaves its figure out, not the others.
    done: dict[str, float] = {}
    for system, wait in waits.items():
        error = wait.exception()
        if error is not None:
            print(f"{scale:>5} services: {error}", file=sys.stderr)
            continue
        seen = wait.result()
        done[system] = seen if isinstance(seen, float) else max(seen.values())
    if "decide" not in done:
        raise TimeoutError("the mappings never all left the lost site")
    return {
        **{system: at - down for system, at in done.items()},
        "decide_after_last": done["decide"] - last_down,
        "verdicts": last_down - down,
        "spread": spread,
        "detect": down - t0,
    }


async def measure(
    scale: int,
    trials: int,
    work: Path,
    fleet: SiteFleet,
    port: int,
    chosen: set[str],
    moto: MotoServer | None,
    watchers: concurrent.futures.ProcessPoolExecutor,
) -> dict[str, float | None]:
    """Run ``trials`` site losses at ``scale`` services; the figures for that scale."""
    services = names_for(scale)
    targets = Targets(work, scale, services, port, chosen, moto)
    results: list[dict[str, Any]] = []
    try:
        targets.start()
        spurious = timeouts = not_started = 0
        outcome: dict[str, Any] | None
        for number in range(trials):
            while True:
                try:
                    outcome = await trial(scale, fleet, targets, work, watchers)
                    break
                except TimeoutError as exc:
                    outcome = None
                    print(f"{scale:>5} services #{number + 1}: not served: {exc}", file=sys.stderr)
                    if targets.secondary is not None:
                        tail = targets.secondary.log_path.read_text().splitlines()[-12:]
                        print("  secondary's log ends:", *tail, sep="\n    ", file=sys.stderr)
                    break
                except NotStarted as exc:
                    outcome = None
                    not_started += 1
                    print(f"{scale:>5} services #{number + 1}: {exc}", file=sys.stderr)
                    break
                except Spurious as exc:
                    spurious += 1
                    print(f"{scale:>5} services: trial restarted: {exc}", file=sys.stderr)
                    if spurious > trials:  # give up on this trial; the count says why
                        outcome = None
                        break
            if outcome is None:
                timeouts += 1  # those that never started are reported apart
                continue
            results.append(outcome)
            shown = ", ".join(
                f"{system} {outcome[system] * 1000:.0f} ms"
                for system in SYSTEMS
                if system in outcome
            )
            print(
                f"{scale:>5} services #{number + 1}: from the first down verdict: {shown};"
                f" verdicts spread over {outcome['verdicts'] * 1000:.0f} ms, decisions over"
                f" {outcome['spread'] * 1000:.0f} ms; durable"
                f" {outcome['decide_after_last'] * 1000:.0f} ms after the last verdict",
                file=sys.stderr,
            )
    finally:
        targets.stop()
    return {
        **figures(scale, results, sorted(chosen)),
        f"spurious_restarts_{scale}": spurious,
        f"not_served_in_{TRIAL_TIMEOUT:g}s_{scale}": timeouts - not_started,
        f"not_started_{scale}": not_started,
    }


SYSTEMS = ("decide", "dns", "bind", "secondary", "haproxy", "route53")
"""What is measured, in the order figures are printed."""


def figures(
    scale: int, results: list[dict[str, Any]], measured: list[str]
) -> dict[str, float | None]:
    """p50/p95 per system for one scale, from the first down verdict until the system
    serves every service elsewhere: ms for one service and for ``decide`` and ``dns``,
    s otherwise (None: no trial was served in time; a system not in ``measured`` and
    never served is left out)."""

    def p(values: list[float], q: float, unit: float) -> float | None:
        if not values:
            return None
        return round(percentile(values, q) * unit, 3 if unit == 1 else 1)

    out: dict[str, float | None] = {}
    for system in SYSTEMS:
        values = [r[system] for r in results if system in r]
        if not values and system not in ("decide", "dns", *measured):
            continue
        in_ms = scale == 1 or system in ("decide", "dns")
        unit, suffix = (1000, "ms") if in_ms else (1, "s")
        out[f"{system}_{scale}_p50_{suffix}"] = p(values, 50, unit)
        out[f"{system}_{scale}_p95_{suffix}"] = p(values, 95, unit)
    out[f"detect_{scale}_p50_ms"] = p([r["detect"] for r in results], 50, 1000)
    out[f"decide_{scale}_after_last_p50_ms"] = p(
        [r["decide_after_last"] for r in results], 50, 1000
    )
    out[f"verdicts_{scale}_spread_p50_ms"] = p([r["verdicts"] for r in results], 50, 1000)
    if scale > 1:
        out[f"decisions_{scale}_spread_p50_s"] = p([r["spread"] for r in results], 50, 1)
    return out


async def run(trials: int, scales: list[int], chosen: set[str], route53: bool) -> dict[str, Any]:
    """Every scale, sharing the simulated sites (and moto)."""
    [port] = site_ports(1)  # the workloads' one shared port
    fleet = SiteFleet(
        {name: SimulatedSite(name, address, {"shared": port}) for name, address in SITES.items()}
    )
    result: dict[str, Any] = {
        "benchmark": "publish",
        "trials": trials,
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }
    # The store's file and Route 53 are watched from processes of their own, so neither
    # delays the DNS and HAProxy pollers of this one.
    with (
        tempfile.TemporaryDirectory(prefix="gtm-publish-") as work,
        concurrent.futures.ProcessPoolExecutor(2) as watchers,
    ):
        moto = MotoServer(Path(work) / "moto") if route53 else None
        try:
            fleet.start()
            if moto is not None:
                # gtm's boto3 finds these in its environment, as it would an AWS account's.
                os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
                os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
                moto.start()
            for scale in scales:
                result.update(
                    await measure(scale, trials, Path(work), fleet, port, chosen, moto, watchers)
                )
        finally:
            if moto is not None:
                moto.stop()
            fleet.stop()
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    result["target"] = {
        "decide_1000_p50_ms": 200,
        "dns_1000_p50_ms": 250,
        "bind_1_p50_ms": 50,
        "bind_1000_p50_s": 1.0,
        "secondary_1000_p50_s": 1.0,
        "haproxy_1000_p50_s": 0.5,
        "route53_1000_p50_s": 2.0,
    }
    return result


def main() -> None:
    """Parse arguments, run, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=5, help="site losses per scale (default 5)")
    parser.add_argument("--scales", default="1,1000", help="service counts (default 1,1000)")
    parser.add_argument(
        "--route53", action="store_true", help="also a route53 provider on moto (slower start)"
    )
    parser.add_argument(
        "--targets",
        default=",".join(TARGETS),
        help=f"what follows gtm, some of {','.join(TARGETS)} (default all)",
    )
    args = parser.parse_args()
    chosen = set(args.targets.split(","))
    if not chosen <= set(TARGETS):
        parser.error(f"--targets: {', '.join(sorted(chosen - set(TARGETS)))} not in {TARGETS}")
    pin_self()
    scales = [int(s) for s in args.scales.split(",")]
    print(json.dumps(asyncio.run(run(args.trials, scales, chosen, args.route53))))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
