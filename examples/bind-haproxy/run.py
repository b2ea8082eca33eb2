"""gtm keeping a real BIND and a real HAProxy in step with where services run, on loopback.

Starts three simulated sites, BIND (``named``, primary for the zone, TSIG-signed updates),
HAProxy (a frontend and a backend per service, a server per site) and gtm with its
rfc2136 and haproxy providers. With ``--scenario`` it kills the site serving ``billing``
and shows BIND's answer and HAProxy's traffic following, with timings, then exits;
without, it runs until Ctrl-C. Everything it starts is stopped on the way out.

    .venv/bin/python examples/bind-haproxy/run.py [--scenario] [--free-ports] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import dns.asyncquery
import dns.exception
import dns.message
import dns.rdatatype
import yaml

from gtm.config.loader import load_config
from gtm.config.models import Config
from gtm.core.model import Event, Mapping
from gtm.demo.scenario import fleet_for
from gtm.demo.sites import SiteFleet
from gtm.runtime import Runtime
from testbed.bind import BindServer
from testbed.example import run_example, wait_converged
from testbed.haproxy import SUN_PATH_MAX, HaproxyServer
from testbed.ports import free_port, with_free_ports

HERE = Path(__file__).resolve().parent
SERVICE = "billing"
POLL_S = 0.005
"""How often BIND and HAProxy are asked during the scenario."""
READY_TIMEOUT = 20.0
"""Longest wait for BIND and HAProxy to hold the first mappings, or to follow a move."""


def generated_config(workdir: Path, free: bool) -> dict[str, Any]:
    """gtm.yaml with paths made absolute and, when ``free``, every port replaced by a free one."""
    doc: dict[str, Any] = yaml.safe_load((HERE / "gtm.yaml").read_text())
    doc["store"]["path"] = str(workdir / "gtm.db")
    doc["providers"]["bind"]["tsig"]["secret"] = f"file:{workdir / 'tsig.secret'}"
    if free:
        doc = with_free_ports(doc)
        # BIND takes queries and updates over UDP and TCP.
        doc["providers"]["bind"]["server"] = f"127.0.0.1:{free_port('127.0.0.1', udp=True)}"
        frontends = doc["providers"]["lb"]["frontends"]
        for service in frontends:
            frontends[service] = f"127.0.0.1:{free_port('127.0.0.1')}"
    return doc


def start_haproxy(workdir: Path, config: Config, frontends: dict[str, int]) -> HaproxyServer:
    """HAProxy with a backend per service, its servers named after their sites."""
    backends = {
        service: [(loc.site, loc.address, loc.port) for loc in spec.locators]
        for service, spec in config.services.items()
    }
    sock = workdir / "haproxy" / "admin.sock"
    too_long = len(os.fsencode(sock)) > SUN_PATH_MAX
    server = HaproxyServer(
        workdir / "haproxy",
        backends,
        frontends=frontends,
        stats_socket="tcp" if too_long else "unix",
    )
    server.start()
    return server


async def bind_answer(bind: BindServer, name: str) -> set[str]:
    """The A records BIND gives for ``name`` (empty on no answer)."""
    query = dns.message.make_query(name, dns.rdatatype.A)
    try:
        answer = await dns.asyncquery.udp(query, bind.address, port=bind.port, timeout=0.5)
    except (OSError, dns.exception.DNSException):
        return set()
    return {rr.address for rrset in answer.answer for rr in rrset if rr.rdtype == dns.rdatatype.A}


async def haproxy_site(session: aiohttp.ClientSession, port: int) -> str | None:
    """Which site answered one request through the frontend on ``port`` (None: an error)."""
    try:
        async with session.get(f"http://127.0.0.1:{port}/") as answer:
            if answer.status != 200:
                return None
            doc = await answer.json()
            return str(doc["site"])
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None


def weights(haproxy: HaproxyServer, backend: str) -> str:
    """``site=weight`` for every server of ``backend``, from ``show servers state``."""
    text = haproxy.command(f"show servers state {backend}")
    columns: list[str] = []
    shown = []
    for line in text.splitlines():
        if line.startswith("#"):
            columns = line.lstrip("# ").split()
        elif columns and len(line.split()) >= len(columns):
            row = dict(zip(columns, line.split(), strict=False))
            shown.append(f"{row['srv_name']}={row['srv_uweight']}")
    return " ".join(shown)


class Example:
    """The running parts, and what the example prints about them."""

    def __init__(
        self,
        config: Config,
        runtime: Runtime,
        bind: BindServer,
        haproxy: HaproxyServer,
        fleet: SiteFleet,
        config_path: Path,
    ) -> None:
        self.config = config
        self.runtime = runtime
        self.bind = bind
        self.haproxy = haproxy
        self.fleet = fleet
        self.config_path = config_path
        self.session = aiohttp.ClientSession(
            # No pool limit: polls stuck in HAProxy's retry must not queue the next ones.
            timeout=aiohttp.ClientTimeout(total=1),
            connector=aiohttp.TCPConnector(limit=0),
        )

    def fqdn(self, service: str) -> str:
        """The service's name in the zone."""
        return f"{service}.{self.config.zone}"

    def mapping(self, service: str) -> Mapping:
        """The service's current mapping."""
        mapping = self.runtime.registry.get(service)
        assert mapping is not None, f"{service} has no mapping yet"
        return mapping

    def banner(self) -> None:
        """Where everything listens, and what to type to look."""
        api = f"http://{self.config.api.listen.host}:{self.runtime.api_port}"
        print(
            "gtm + BIND + HAProxy: 3 simulated sites, services " + ", ".join(self.config.services)
        )
        for site in self.fleet.sites.values():
            print(f"  site {site.name:<9} {site.address}  workloads {site.ports}")
        print(
            f"  BIND     127.0.0.1:{self.bind.port} (named pid {self.bind.pid}), "
            f"zone {self.bind.zone}"
        )
        print(f"  HAProxy  pid {self.haproxy.pid}, runtime API {self.haproxy.socket}")
        for service in self.config.services:
            print(f"           {service} frontend 127.0.0.1:{self.haproxy.frontend_port(service)}")
        print(f"  gtm      DNS 127.0.0.1:{self.runtime.dns_port}, API {api}")
        print("\nTry, in another terminal:")
        print(f"  dig @127.0.0.1 -p {self.bind.port} {self.fqdn(SERVICE)} A +short    # BIND")
        print(f"  curl -s http://127.0.0.1:{self.haproxy.frontend_port(SERVICE)}/    # via HAProxy")
        print(f"  curl -s {api}/v1/providers")
        print(f"  .venv/bin/gtm plan -c {self.config_path}")
        print(f"  .venv/bin/gtm events --api {api} --kind provider")
        print(flush=True)

    async def following(self, service: str, site: str) -> tuple[float, float]:
        """Poll BIND and HAProxy until both send ``service`` to ``site``; when each did."""
        address = next(loc.address for loc in self.mapping(service).locators if loc.site == site)
        port = self.haproxy.frontend_port(service)

        async def bind_done() -> float:
            while await bind_answer(self.bind, self.fqdn(service)) != {address}:
                await asyncio.sleep(POLL_S)
            return time.time()

        async def haproxy_done() -> float:
            # A request every POLL_S, each on its own: one caught on its way to the dead
            # server waits out HAProxy's retry turn-around (min(timeout connect, 1 s))
            # before it is redispatched, and must not hide those sent after the switch.
            served: list[float] = []

            async def ask() -> None:
                if await haproxy_site(self.session, port) == site:
                    served.append(time.time())

            async with asyncio.TaskGroup() as group:
                while not served:
                    group.create_task(ask())
                    await asyncio.sleep(POLL_S)
            return min(served)

        async with asyncio.timeout(READY_TIMEOUT):
            seen_bind, seen_haproxy = await asyncio.gather(bind_done(), haproxy_done())
        return seen_bind, seen_haproxy

    async def show(self, label: str) -> None:
        """One line per service: where gtm, BIND and HAProxy send it."""
        for service in self.config.services:
            mapping = self.mapping(service)
            answer = await bind_answer(self.bind, self.fqdn(service))
            through = await haproxy_site(self.session, self.haproxy.frontend_port(service))
            print(
                f"  [{label}] {service:<8} gtm: {mapping.active_site} (epoch {mapping.epoch}) | "
                f"BIND answers {', '.join(sorted(answer)) or 'nothing'} | "
                f"HAProxy serves {through} ({weights(self.haproxy, service)})"
            )

    async def converge(self) -> None:
        """Wait until gtm decided, and BIND and HAProxy hold, every service's active site."""
        await wait_converged(self.runtime, self.following, READY_TIMEOUT)

    async def scenario(self) -> int:
        """Kill the site serving billing and show BIND and HAProxy following, with timings."""
        before = self.mapping(SERVICE)
        victim = before.active_site
        assert victim is not None
        others = {s: self.mapping(s).active_site for s in self.config.services if s != SERVICE}
        print(f"\nkilling {victim}, where {SERVICE} runs (SIGKILL of its workload process)")
        t0 = time.time()
        self.fleet[victim].kill()
        async with asyncio.timeout(READY_TIMEOUT):
            while self.mapping(SERVICE).epoch == before.epoch:
                await asyncio.sleep(POLL_S)
        after = self.mapping(SERVICE)
        target = after.active_site
        assert target is not None
        seen_bind, seen_haproxy = await self.following(SERVICE, target)
        move, providers = await self.events(after)
        steps: list[tuple[str, float]] = [("site killed", t0)]
        if move is not None:
            steps += [(name.replace("_", " "), at) for name, at in move.timeline.items()]
        for event in providers:
            steps += [
                (f"{event.actor}: applied", event.timeline["applied"]),
                (f"{event.actor}: verified", event.timeline["verified"]),
            ]
        address = next(loc.address for loc in after.locators if loc.site == target)
        steps += [
            (f"BIND answers {address}", seen_bind),
            (f"HAProxy serves {target}", seen_haproxy),
        ]
        for name, at in sorted(steps, key=lambda step: step[1]):
            print(f"    +{(at - t0) * 1000:8.1f} ms  {name}")
        published = move.timeline["published"] if move is not None else t0
        print(
            f"  from gtm's published decision: BIND answering after "
            f"{(seen_bind - published) * 1000:.1f} ms, HAProxy serving after "
            f"{(seen_haproxy - published) * 1000:.1f} ms (both polled every {POLL_S * 1000:g} ms)"
        )
        await self.show("after")
        moved = {s: self.mapping(s).active_site for s in others}
        if moved != others:
            print(f"unexpected: other services moved too: {others} -> {moved}")
            return 1
        print(
            f"\nscenario done: {SERVICE} moved {victim} -> {target}; BIND and HAProxy followed, "
            f"{', '.join(others) or 'no other service'} stayed where it was."
        )
        return 0

    async def events(self, mapping: Mapping) -> tuple[Event | None, list[Event]]:
        """The move that made ``mapping`` and the provider events that carried it out."""
        async with asyncio.timeout(READY_TIMEOUT):
            while True:
                events = await self.runtime.registry.events(service=SERVICE, limit=50)
                mine = [e for e in events if e.version == mapping.version]
                move = next((e for e in mine if e.kind == "move"), None)
                providers = [e for e in mine if e.kind == "provider"]
                if move is not None and len(providers) == len(self.config.providers):
                    return move, providers
                await asyncio.sleep(0.02)

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.session.close()


async def run(args: argparse.Namespace) -> int:
    """Start everything, show it, play the scenario or wait; stop everything."""
    workdir = Path(args.workdir).resolve()
    shutil.rmtree(workdir, ignore_errors=True)  # a fresh store, zone and HAProxy each run
    workdir.mkdir(parents=True)
    os.environ.setdefault("GTM_TOKEN", "example-token")
    doc = generated_config(workdir, args.free_ports)
    fleet: SiteFleet | None = None
    bind: BindServer | None = None
    haproxy: HaproxyServer | None = None
    runtime: Runtime | None = None
    example: Example | None = None
    try:
        bind_port = int(str(doc["providers"]["bind"]["server"]).rpartition(":")[2])
        bind = BindServer(workdir / "bind", doc["zone"], port=bind_port)
        bind.start()
        (workdir / "tsig.secret").write_text(bind.key_secret + "\n")
        (workdir / "tsig.secret").chmod(0o600)
        config_path = workdir / "gtm.yaml"
        config_path.write_text(yaml.safe_dump(doc, sort_keys=False))
        fleet = fleet_for(load_config(config_path))
        fleet.start()
        # HAProxy listens where the lb provider's frontends say, so that planned failovers
        # verify through them.
        frontends = {
            service: int(address.rpartition(":")[2])
            for service, address in doc["providers"]["lb"]["frontends"].items()
        }
        haproxy = start_haproxy(workdir, load_config(config_path), frontends)
        doc["providers"]["lb"]["socket"] = haproxy.socket
        config_path.write_text(yaml.safe_dump(doc, sort_keys=False))
        config = load_config(config_path)
        runtime = Runtime(config)
        await runtime.start()
        example = Example(config, runtime, bind, haproxy, fleet, config_path)
        example.banner()
        await example.converge()
        await example.show("start")
        if args.scenario:
            return await example.scenario()
        print("\nRunning; kill a site (or edit BIND with nsupdate) and watch. Ctrl-C stops.")
        await asyncio.Event().wait()
        return 0
    finally:
        if example is not None:
            await example.close()
        if runtime is not None:
            await runtime.stop()
        if haproxy is not None:
            haproxy.stop()
        if bind is not None:
            bind.stop()
        if fleet is not None:
            fleet.stop()


def main() -> int:
    """Parse the arguments and run until done, or until Ctrl-C or SIGTERM."""
    return run_example(
        run,
        __doc__.split("\n\n")[0],
        HERE / "var",
        "stopped; BIND, HAProxy, the sites and gtm are down",
    )


if __name__ == "__main__":
    sys.exit(main())
