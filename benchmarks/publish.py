"""How long after gtm decides a move do BIND and HAProxy serve the new site?

gtm runs as ``gtm run`` pinned to one core, with an rfc2136 provider (a real BIND, TSIG
signed updates), an haproxy provider (a real HAProxy, runtime API on a unix socket) and,
as a hidden primary, a real BIND secondary that copies gtm's zone (NOTIFY, then IXFR signed
with TSIG); ``--targets`` picks some of the three.
Each trial starts a fresh gtm (memory store, so flap damping from earlier trials cannot
hold a site down), waits until BIND and HAProxy send every service to site-a, then kills
site-a's workload at a random moment of the probe cycle. The reference is each service's
DECISION: the ``published`` time of its ``move`` event in the journal (taken right after
the mapping is durably written). From there:

- BIND: queried over UDP with dnspython until it answers another site's address (every 2 ms for
  one service; for 1,000, every still-pending name is asked in each sweep, a sweep taking
  a few ms); the BIND secondary is polled the same way;
- HAProxy: ``show servers state`` (one runtime API command for every backend) until each
  backend weighs site-a 0 and another site above 0, the moment its next request goes
  there. (Requests through the frontend are no finer a probe: one already sent to the dead
  server waits HAProxy's retry turn-around, up to a second, whatever gtm does.)

At 1,000 services a whole site is lost: 1,000 services, each with a locator in each of the
three sites. The workloads are real, one process per site, but they share one port per
site (3,000 listeners would measure the workload, not gtm): every service's locator in a
site is the same address and port, probed by its own TCP check, so gtm runs 3,000 checks
and decides 1,000 moves, spread over about one probe interval. Reported for 1,000:
``*_1000_p50_s`` is from the LAST decision until every service is served from elsewhere (the
provider's catch-up once the controller is done); ``*_1000_first_p50_s`` is from the FIRST
decision until every service is served (what a site loss costs once gtm starts deciding);
``*_1000_service_*`` is each service's own decision-to-served time, pooled over trials.

Prints one JSON line.

    .venv/bin/python benchmarks/publish.py [--trials 5] [--scales 1,1000]
        [--targets bind,haproxy,secondary]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import struct
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dns.message
import dns.query
import dns.rdatatype
from harness import SITES, ZONE, GtmProcess, bench_config, percentile, pin_self, site_ports

from gtm.demo.sites import SimulatedSite, SiteFleet
from testbed.bind import BindServer
from testbed.haproxy import HaproxyServer

VICTIM = "site-a"
INTERVAL = 0.5
"""Probe interval, s: only sets how long detection takes, which is not measured here."""
POLL_ONE_S = 0.002
"""Poll period for one service (BIND query, request through HAProxy)."""
SWEEP_WAIT_S = 0.05
"""How long one sweep of pending names waits for BIND's answers before asking again."""
TRIAL_TIMEOUT = 60.0


def names_for(scale: int) -> list[str]:
    """The services of a scale: ``app`` alone, or ``svc-0000`` .. ``svc-0999``."""
    return ["app"] if scale == 1 else [f"svc-{i:04d}" for i in range(scale)]


TARGETS = ("bind", "haproxy", "secondary")
"""What follows gtm: BIND by RFC 2136 updates, HAProxy, a BIND secondary by NOTIFY + IXFR."""


class Targets:
    """The systems one scale measures, started and stopped together."""

    def __init__(
        self, work: Path, scale: int, services: list[str], port: int, chosen: set[str]
    ) -> None:
        backends = {s: [(site, address, port) for site, address in SITES.items()] for s in services}
        self.bind = BindServer(work / f"bind-{scale}", ZONE) if "bind" in chosen else None
        self.haproxy = (
            HaproxyServer(work / f"lb-{scale}", backends) if "haproxy" in chosen else None
        )
        check = {"type": "tcp", "interval": f"{INTERVAL}s", "timeout": "250ms"}
        self.config = bench_config(dict.fromkeys(services, port), check=check)
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
        self.work = work
        self.scale = scale

    def start(self) -> None:
        """Start every target and finish the gtm config with what reaches them."""
        doc = self.config
        doc["providers"] = {}
        doc["reconcile"] = {"resync_interval": "60s", "retry_max": "1s"}
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

    def stop(self) -> None:
        """Stop every target started."""
        for server in (self.secondary, self.haproxy, self.bind):
            if server is not None:
                server.stop()


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
    """Asks BIND for many names over one UDP socket, and notes when each answers a target."""

    def __init__(self, bind: BindServer, names: list[str]) -> None:
        self.address = (bind.address, bind.port)
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
                raise TimeoutError(f"BIND: {len(pending)} name(s) never answered {address}")
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


def move_events(gtm: GtmProcess, since: float, count: int) -> dict[str, float]:
    """Each service's move ``published`` time, once the journal has all ``count`` moves."""
    deadline = time.monotonic() + TRIAL_TIMEOUT
    while time.monotonic() < deadline:
        url = f"{gtm.api}/v1/events?kind=move&since={since}&limit=1000"
        with urllib.request.urlopen(url, timeout=10) as answer:
            events = json.loads(answer.read())["events"]
        published: dict[str, float] = {}
        for event in events:  # oldest first: the move away from site-a
            if event["from_site"] == VICTIM:
                published.setdefault(event["service"], event["timeline"]["published"])
        if len(published) >= count:
            return published
        time.sleep(0.05)
    raise TimeoutError(f"the journal holds fewer than {count} moves from {VICTIM}")


class Spurious(Exception):
    """gtm moved a service off site-a before the trial began (its probes were starved)."""


async def steady(
    targets: Targets, pollers: dict[str, BindPoller], services: list[str], gtm: GtmProcess
) -> None:
    """Wait until every target sends every service to site-a.

    Raises:
        Spurious: gtm moved a service away from site-a meanwhile, although it is up.
    """
    try:
        for poller in pollers.values():
            await poller.until(SITES[VICTIM])
        if targets.haproxy is not None:
            await haproxy_until(targets.haproxy, services, VICTIM)
    except TimeoutError as exc:
        listed = await asyncio.to_thread(gtm.get, "/v1/services")
        away = [s["service"] for s in listed["services"] if s.get("active_site") != VICTIM]
        if away:
            raise Spurious(f"{len(away)} service(s) moved off {VICTIM}: {away[:5]}") from exc
        raise


async def trial(
    scale: int, fleet: SiteFleet, targets: Targets, pollers: dict[str, BindPoller]
) -> dict[str, Any]:
    """One loss of site-a with a fresh gtm; the latencies from each decision.

    Raises:
        TimeoutError: A target did not serve every service elsewhere in time.
        Spurious: gtm moved services off site-a before it was killed.
    """
    services = names_for(scale)
    gtm = GtmProcess(targets.config)
    try:
        gtm.start(timeout=120)
        await steady(targets, pollers, services, gtm)
        await asyncio.sleep(random.uniform(0, INTERVAL))
        t0 = time.time()
        fleet[VICTIM].kill()
        waits = {name: poller.until(SITES[VICTIM], leaves=True) for name, poller in pollers.items()}
        if targets.haproxy is not None:
            waits["haproxy"] = haproxy_until(targets.haproxy, services, VICTIM, leaves=True)
        try:
            seen = dict(zip(waits, await asyncio.gather(*waits.values()), strict=True))
        except TimeoutError as exc:
            listed = await asyncio.to_thread(gtm.get, "/v1/services")
            away = sum(s.get("active_site") != VICTIM for s in listed["services"])
            raise TimeoutError(f"{exc} (gtm has moved {away} of {scale})") from exc
        published = await asyncio.to_thread(move_events, gtm, t0, scale)
    finally:
        gtm.stop()
        fleet[VICTIM].start()
    first, last = min(published.values()), max(published.values())
    result: dict[str, Any] = {"spread": last - first, "detect": first - t0}
    for name, times in seen.items():
        result[name] = [times[s] - published[s] for s in services]
        result[f"{name}_all"] = max(times.values()) - last
        result[f"{name}_first"] = max(times.values()) - first
    return result


async def measure(
    scale: int, trials: int, work: Path, fleet: SiteFleet, port: int, chosen: set[str]
) -> dict[str, float | None]:
    """Run ``trials`` site losses at ``scale`` services; the figures for that scale."""
    services = names_for(scale)
    targets = Targets(work, scale, services, port, chosen)
    pollers: dict[str, BindPoller] = {}
    results: list[dict[str, Any]] = []
    try:
        targets.start()
        for name, server in (("bind", targets.bind), ("secondary", targets.secondary)):
            if server is not None:
                pollers[name] = BindPoller(server, services)
        spurious = timeouts = 0
        outcome: dict[str, Any] | None
        for number in range(trials):
            while True:
                try:
                    outcome = await trial(scale, fleet, targets, pollers)
                    break
                except TimeoutError as exc:
                    outcome = None
                    print(f"{scale:>5} services #{number + 1}: not served: {exc}", file=sys.stderr)
                    if targets.secondary is not None:
                        tail = targets.secondary.log_path.read_text().splitlines()[-12:]
                        print("  secondary's log ends:", *tail, sep="\n    ", file=sys.stderr)
                        query = dns.message.make_query(f"{services[0]}.{ZONE}", "A")
                        answer = dns.query.udp(
                            query, ZONE and "127.0.0.1", port=targets.secondary.port, timeout=5
                        )
                        print("  it answers", answer.answer, file=sys.stderr)
                    break
                except Spurious as exc:
                    spurious += 1
                    print(f"{scale:>5} services: trial restarted: {exc}", file=sys.stderr)
                    if spurious > trials:  # give up on this trial; the count says why
                        outcome = None
                        break
            if outcome is None:
                timeouts += 1
                continue
            results.append(outcome)
            served = ", ".join(
                f"{name} all {outcome[f'{name}_all'] * 1000:.1f} ms"
                for name in TARGETS
                if f"{name}_all" in outcome
            )
            print(
                f"{scale:>5} services #{number + 1}: {served} after the last decision;"
                f" decisions spread over {outcome['spread'] * 1000:.0f} ms",
                file=sys.stderr,
            )
    finally:
        for poller in pollers.values():
            poller.close()
        targets.stop()
    return {
        **figures(scale, results, [t for t in TARGETS if t in chosen]),
        f"spurious_restarts_{scale}": spurious,
        f"not_served_in_{TRIAL_TIMEOUT:g}s_{scale}": timeouts,
    }


def figures(
    scale: int, results: list[dict[str, Any]], measured: list[str]
) -> dict[str, float | None]:
    """p50/p95 per target for one scale: ms for one service, s for 1,000 (None: no trial
    was served in time)."""

    def p(values: list[float], q: float, unit: float) -> float | None:
        if not values:
            return None
        return round(percentile(values, q) * unit, 3 if unit == 1 else 1)

    out: dict[str, float | None] = {}
    if scale == 1:
        for provider in measured:
            values = [r[provider][0] for r in results]
            out[f"{provider}_1_p50_ms"] = p(values, 50, 1000)
            out[f"{provider}_1_p95_ms"] = p(values, 95, 1000)
        return out
    for provider in measured:
        every = [r[f"{provider}_all"] for r in results]
        pooled = [v for r in results for v in r[provider]]
        out[f"{provider}_{scale}_p50_s"] = p(every, 50, 1)
        out[f"{provider}_{scale}_p95_s"] = p(every, 95, 1)
        out[f"{provider}_{scale}_first_p50_s"] = p([r[f"{provider}_first"] for r in results], 50, 1)
        out[f"{provider}_{scale}_service_p50_s"] = p(pooled, 50, 1)
        out[f"{provider}_{scale}_service_p95_s"] = p(pooled, 95, 1)
    out[f"decisions_{scale}_spread_p50_s"] = p([r["spread"] for r in results], 50, 1)
    return out


async def run(trials: int, scales: list[int], chosen: set[str]) -> dict[str, Any]:
    """Every scale, sharing the simulated sites."""
    [port] = site_ports(1)  # the workloads' one shared port
    fleet = SiteFleet(
        {name: SimulatedSite(name, address, {"shared": port}) for name, address in SITES.items()}
    )
    result: dict[str, Any] = {"benchmark": "publish", "trials": trials}
    with tempfile.TemporaryDirectory(prefix="gtm-publish-") as work:
        try:
            fleet.start()
            for scale in scales:
                result.update(await measure(scale, trials, Path(work), fleet, port, chosen))
        finally:
            fleet.stop()
    result["target"] = {
        "bind_1_p50_ms": 50,
        "bind_1000_p50_s": 1.0,
        "secondary_1000_first_p50_s": 1.0,
        "haproxy_1000_p50_s": 0.5,
    }
    return result


def main() -> None:
    """Parse arguments, run, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=5, help="site losses per scale (default 5)")
    parser.add_argument("--scales", default="1,1000", help="service counts (default 1,1000)")
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
    print(json.dumps(asyncio.run(run(args.trials, scales, chosen))))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
