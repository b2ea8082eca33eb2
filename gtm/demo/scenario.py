"""``gtm demo``: three simulated sites, gtm in front of them, and whack-a-mole played live.

The scenario kills the site serving ``billing``, shows DNS and the API following it to
the next site with measured timings, brings the old site back (traffic stays), then
kills the new site (traffic moves again). The ``release`` scenario runs one site on an older
release (:mod:`gtm.demo.readiness`). Without a scenario the demo runs until Ctrl-C and
prints a line for every move.

Every run starts from a clean registry: an SQLite store in the config is replaced by a
fresh file in a temporary directory, removed at exit, so the story always begins the same
way (``billing`` on its first site, epoch 1) however often the demo ran before.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.asyncquery
import dns.message
import dns.rdatatype

from gtm.config.loader import load_config
from gtm.config.models import Config, SqliteStoreConfig
from gtm.core.model import Event, Mapping
from gtm.demo import readiness
from gtm.demo.moves import MoveLog
from gtm.demo.sites import SimulatedSite, SiteFleet
from gtm.runtime import Runtime

SERVICE = "billing"
DEMO_TOKEN = "demo-token"
SETTLE_S = 3.0
"""How long the scenario watches a recovered site to show traffic does not snap back."""
STORE_FILE = "demo.db"
"""Name of the demo's SQLite file in its temporary directory."""
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
INTERRUPTED = 130
"""Exit status of a scenario stopped by a signal before it finished."""


def fleet_for(config: Config) -> SiteFleet:
    """One simulated site per configured site, serving every service's locator there."""
    sites: dict[str, SimulatedSite] = {}
    for service, spec in config.services.items():
        for locator in spec.locators:
            site = sites.setdefault(locator.site, SimulatedSite(locator.site, locator.address, {}))
            site.ports[service] = locator.port
    return SiteFleet(sites)


def fresh_store(config: Config, directory: Path) -> Config:
    """``config`` with an SQLite store moved to a new file in ``directory``.

    Other store kinds are kept: a memory store starts empty anyway, and a shared store is
    not the demo's to wipe.
    """
    if not isinstance(config.store, SqliteStoreConfig):
        return config
    store = SqliteStoreConfig(path=str(directory / STORE_FILE))
    return config.model_copy(update={"store": store})


def say(line: str) -> None:
    """Print one line at once, with ASCII arrows where the terminal cannot show others."""
    try:
        print(line, flush=True)
    except UnicodeEncodeError:
        print(line.replace("→", "->"), flush=True)


async def dns_addresses(host: str, port: int, name: str) -> set[str]:
    """The A records the responder gives for ``name`` right now (empty on no answer)."""
    query = dns.message.make_query(name, dns.rdatatype.A)
    try:
        answer = await dns.asyncquery.udp(query, host, port=port, timeout=0.5)
    except (TimeoutError, OSError, dns.exception.DNSException):
        return set()
    return {rr.address for rrset in answer.answer for rr in rrset if rr.rdtype == dns.rdatatype.A}


async def wait_for_dns(
    host: str, port: int, name: str, *, leaves: str, timeout: float = 10.0
) -> tuple[float, set[str]]:
    """Poll DNS every 10 ms until the answer no longer contains ``leaves``.

    Returns the wall-clock time of the first answer without it, and that answer.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        addresses = await dns_addresses(host, port, name)
        if addresses and leaves not in addresses:
            return time.time(), addresses
        await asyncio.sleep(0.01)
    raise TimeoutError(f"DNS still answers {leaves} for {name} after {timeout:.0f} s")


async def wait_known(runtime: Runtime, timeout: float = 15.0) -> None:
    """Wait until every configured service has a mapping."""
    deadline = time.monotonic() + timeout
    while any(runtime.registry.get(name) is None for name in runtime.config.services):
        if time.monotonic() > deadline:
            raise TimeoutError("demo: services still have no mapping after 15 s")
        await asyncio.sleep(0.05)


@dataclass(slots=True)
class Demo:
    """A running demo: the fleet and gtm, plus what it prints."""

    config: Config
    fleet: SiteFleet
    runtime: Runtime

    @property
    def fqdn(self) -> str:
        """The DNS name of the demo's main service."""
        return f"{SERVICE}.{self.config.zone}"

    def mapping(self) -> Mapping:
        """The current mapping of the main service."""
        mapping = self.runtime.registry.get(SERVICE)
        assert mapping is not None
        return mapping

    def address_of(self, site: str) -> str:
        """The demo site's loopback address."""
        return self.fleet[site].address

    def banner(self) -> None:
        """Where to point dig and curl, and where everything runs."""
        dns_host = self.config.dns.listen.host
        api = f"http://{self.config.api.listen.host}:{self.runtime.api_port}"
        print("gtm demo: 3 simulated sites, gtm in front of them\n")
        for site in self.fleet.sites.values():
            print(f"  site {site.name:<9} {site.address}  pid {site.pid}  services {site.ports}")
        store = self.config.store
        where = store.path if isinstance(store, SqliteStoreConfig) else store.type
        print(f"  registry  {where} (fresh for this run, removed at exit)")
        print("\nTry, in another terminal:")
        print(f"  dig @{dns_host} -p {self.runtime.dns_port} {self.fqdn} A +short")
        print(f"  dig @{dns_host} -p {self.runtime.dns_port} {self.fqdn} SRV +short")
        print(f"  curl -s {api}/v1/services/{SERVICE}")
        print(f"  curl -s '{api}/v1/services/{SERVICE}?index=1&wait=30s'   # long-poll")
        print(f"  .venv/bin/gtm status --api {api}")
        print(flush=True)

    def show(self, label: str) -> None:
        """One line: where the service is now."""
        mapping = self.mapping()
        chosen = ", ".join(loc.address for loc in mapping.best()) or "nothing"
        print(
            f"  [{label}] {SERVICE} -> {mapping.active_site} ({chosen}), "
            f"epoch {mapping.epoch}, version {mapping.version}"
        )

    async def kill_active(self, step: str) -> tuple[str, str]:
        """Kill the active site, wait for DNS to follow, print the measured timeline."""
        before = self.mapping()
        victim = before.active_site
        assert victim is not None
        print(f"\n{step}: killing {victim} (SIGKILL of its workload process)")
        t0 = time.time()
        self.fleet[victim].kill()
        seen, addresses = await wait_for_dns(
            self.config.dns.listen.host,
            self.runtime.dns_port,
            self.fqdn,
            leaves=self.address_of(victim),
        )
        event = await self._move_event(after_seq=0, to_epoch=before.epoch + 1)
        after = self.mapping()
        print(f"  DNS now answers {', '.join(sorted(addresses))} ({after.active_site})")
        print(f"  reason: {after.reason}")
        self._timeline(t0, event, seen)
        return victim, str(after.active_site)

    async def revive(self, site: str) -> None:
        """Restart a killed site and show that traffic does not snap back."""
        print(f"\nbringing {site} back")
        active = self.mapping().active_site
        self.fleet[site].start()
        await asyncio.sleep(SETTLE_S)
        mapping = self.mapping()
        state = {loc.site: loc.state.value for loc in mapping.locators}
        print(f"  {site} is {state.get(site)} again; {SERVICE} stays on {mapping.active_site}")
        if mapping.active_site != active:
            raise AssertionError(f"demo: {SERVICE} moved back to {mapping.active_site}")

    async def _move_event(self, after_seq: int, to_epoch: int) -> Event | None:
        for _ in range(50):
            events = await self.runtime.registry.events(service=SERVICE, limit=10)
            for event in reversed(events):
                if event.kind == "move" and event.epoch == to_epoch and event.seq > after_seq:
                    return event
            await asyncio.sleep(0.02)
        return None

    @staticmethod
    def _timeline(t0: float, event: Event | None, seen: float) -> None:
        steps = [("site killed", t0)]
        if event is not None:
            names = {
                "first_failed_probe": "first failed probe",
                "verdict": "verdict: down",
                "decision": "decision",
                "published": "published",
            }
            steps += [
                (names.get(k, k), v)
                for k, v in sorted(event.timeline.items(), key=lambda kv: kv[1])
            ]
        steps.append(("DNS answers new site", seen))
        for name, at in steps:
            print(f"    +{(at - t0) * 1000:7.1f} ms  {name}")


async def run_demo(config_path: str, scenario: str | None) -> int:
    """Start the fleet and gtm on a fresh registry; play ``scenario`` and exit, or run
    until Ctrl-C. Everything started is stopped, and the registry removed, on the way out.
    """
    # The demo config asks for its API token from $GTM_TOKEN; give it one if unset.
    os.environ.setdefault("GTM_TOKEN", DEMO_TOKEN)
    with tempfile.TemporaryDirectory(prefix="gtm-demo-") as scratch:
        config = fresh_store(load_config(config_path), Path(scratch))
        play: Callable[[Demo], Awaitable[int]]
        if scenario == "burst":
            from gtm.demo.bursting import play_burst, with_burst

            config, play = with_burst(config), play_burst
        else:
            play = _interactive if scenario is None else SCENARIOS[scenario]
        fleet = fleet_for(config)
        if scenario == "release":
            readiness.stage(fleet)
        fleet.start()
        runtime = Runtime(config)
        try:
            stopped = 0 if scenario is None else INTERRUPTED
            return await _until_stopped(_run(Demo(config, fleet, runtime), play), stopped)
        finally:
            await runtime.stop()
            fleet.stop()


async def _run(demo: Demo, play: Callable[[Demo], Awaitable[int]]) -> int:
    await demo.runtime.start()
    demo.banner()
    await wait_known(demo.runtime)
    demo.show("start")
    return await play(demo)


async def _until_stopped(work: Coroutine[Any, Any, int], stopped: int) -> int:
    """Run ``work`` to its end, or until SIGINT or SIGTERM; then return ``stopped``."""
    loop = asyncio.get_running_loop()
    signalled = asyncio.Event()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, signalled.set)
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(signalled.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
        waiter.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if task.done() and not task.cancelled():
        return task.result()
    return stopped


async def _whack_a_mole(demo: Demo) -> int:
    first, second = await demo.kill_active("1. the active site dies")
    await demo.revive(first)
    _, third = await demo.kill_active("2. the new active site dies too (whack-a-mole)")
    await demo.revive(second)
    demo.show("end")
    print(f"\nwhack-a-mole done: {first} -> {second} -> {third}, never snapping back.")
    print(f"journal: .venv/bin/gtm events --api http://127.0.0.1:{demo.runtime.api_port}")
    return 0


SCENARIOS: dict[str, Callable[[Demo], Awaitable[int]]] = {
    "whack-a-mole": _whack_a_mole,
    "release": readiness.play,
}
"""The scenarios ``gtm demo --scenario`` plays, by name."""


async def _interactive(demo: Demo) -> int:
    """Print how to break a site, then a line per move until stopped."""
    print("Break a site and watch gtm move the service:")
    for site in demo.fleet.sites.values():
        port = next(iter(site.ports.values()))
        print(
            f"  curl -X POST 'http://{site.address}:{port}/_ctl/mode?m=down'   # {site.name} sick"
        )
    print("  ... and m=up to heal it, m=flaky&p=0.2 to make it flaky; kill -9 PID kills one.")
    print("  POST /_ctl/release?r=2.3.0 on a site's port makes it run another release.")
    print("Press Ctrl-C to stop. Moves:", flush=True)
    with MoveLog(demo.runtime.registry, say):
        await asyncio.Event().wait()
    return 0
