"""How long after a site's services are moved does a real BIND secondary serve them all?

gtm as a hidden primary: its DNS responder (in this process, on its own thread and event
loop) serves the zone to a BIND secondary by AXFR and IXFR, TSIG-signed, and sends it
NOTIFY on every change. Each trial moves every service off site-a by writing the moved
mappings into a registry (memory store), one ``put`` after another as the controller does,
and polls BIND over UDP until it answers another site for every name (the poller of
``publish.py``). This isolates the publishing path, NOTIFY + IXFR, from probing and
deciding, which ``publish.py --targets secondary`` measures together with it. Nothing is
pinned: the responder, the poller and BIND share the machine's cores.

Reported per scale, each p50/p95 over trials: ``secondary_N_first_*`` from the first write
to BIND answering all, ``secondary_N_last_*`` from the last write, and
``writes_N_spread_*`` between the two; BIND's log is checked for an IXFR per move
(``ixfr_share_N``, the share of trials whose update was applied incrementally).

Prints one JSON line.

    .venv/bin/python benchmarks/transfer.py [--trials 5] [--scales 1,1000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import ipaddress
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dns.tsig
from harness import SITES, ZONE, percentile
from publish import VICTIM, BindPoller, names_for

from gtm.core.model import Locator, Mapping, State
from gtm.dns import DnsServer, ZoneAnswers
from gtm.dns.notify import Notifier
from gtm.dns.transfer import ZoneTransfers
from gtm.dns.versions import ZoneVersions
from gtm.registry.registry import Registry
from gtm.registry.stores.memory import MemoryStore
from testbed.bind import ADDRESS, BindServer
from testbed.ports import free_port

PORT = 8080
"""The services' port: nothing listens, nothing is probed here."""
PAUSE = 1.0
"""Seconds between a trial's start and the transfer before it. BIND held a refresh that
came within milliseconds of its previous transfer for half a second (its log: NOTIFY
received, transfer started 0.5 s later), which measures BIND's pacing, not this path."""


def mapping(service: str, active: str, version: int) -> Mapping:
    """``service`` with a locator in every site, ``active`` first and the others after."""
    order = [active, *(site for site in SITES if site != active)]
    locators = tuple(
        Locator(f"{service}@{site}/lb", site, SITES[site], PORT, rank + 1, 100, State.UP)
        for rank, site in enumerate(order)
    )
    return Mapping(service, version, version, 30, active, locators)


def moved(current: Mapping) -> Mapping:
    """``current`` with its active site down and the next site active."""
    nxt = next(site for site in SITES if site != current.active_site)
    fresh = mapping(current.service, nxt, current.version + 1)
    return dataclasses.replace(
        fresh,
        locators=tuple(
            dataclasses.replace(loc, state=State.DOWN) if loc.site == current.active_site else loc
            for loc in fresh.locators
        ),
    )


class Primary:
    """The registry, DNS responder, transfers and NOTIFY on one thread's event loop."""

    def __init__(self, services: list[str], key: dns.tsig.Key, bind_port: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="gtm-primary")
        self.thread.start()
        self.registry = self.call(Registry.open(MemoryStore()))
        for service in services:
            self.call(self.registry.put(mapping(service, VICTIM, 1)))
        self.versions = ZoneVersions(ZONE, self.registry.mappings(), limit=4096)
        self.answers = ZoneAnswers(ZONE, self.registry, keyring=key, versions=self.versions)
        loopback = [ipaddress.ip_network("127.0.0.0/8")]
        transfers = ZoneTransfers(self.answers, self.versions, allow=loopback, key=key)
        self.server = DnsServer(self.answers, transfers=transfers)
        self.call(self.server.start(ADDRESS, 0))
        self.notifier = Notifier(self.answers, self.registry, [(ADDRESS, bind_port)], key=key)

    def call(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coroutine`` on the primary's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=120)

    def move_all(self) -> tuple[float, float]:
        """Move every service off its active site; the wall times of the first and last write."""

        async def move() -> tuple[float, float]:
            first = time.time()
            for current in self.registry.mappings():
                await self.registry.put(moved(current))
            return first, time.time()

        result: tuple[float, float] = self.call(move())
        return result

    def close(self) -> None:
        """Stop everything, then the loop."""
        self.call(self.notifier.close())
        self.call(self.server.close())
        self.answers.close()
        self.call(self.registry.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


def journal_serials(bind: BindServer) -> str:
    """The secondary's journal as ``named-journalprint`` prints it ('' when none)."""
    path = bind.workdir / "secondary.db.jnl"
    if not path.exists():
        return ""
    done = subprocess.run(
        ["named-journalprint", str(path)], capture_output=True, text=True, check=False
    )
    return done.stdout


async def measure(scale: int, trials: int, work: Path) -> dict[str, Any]:
    """``trials`` site losses of ``scale`` services; the figures for that scale."""
    services = names_for(scale)
    bind_port = free_port(ADDRESS, udp=True)
    bind = BindServer(
        work / f"secondary-{scale}", ZONE, port=bind_port, primary=(ADDRESS, 0), key_name="x."
    )
    key = dns.tsig.Key(bind.key_name, base64.b64decode(bind.key_secret), bind.algorithm)
    primary = Primary(services, key, bind_port)
    poller: BindPoller | None = None
    first: list[float] = []
    last: list[float] = []
    spread: list[float] = []
    incremental = 0
    try:
        bind.primary = (ADDRESS, primary.server.port)
        bind.start()
        primary.call(primary.notifier.start())
        poller = BindPoller(bind, services)
        for number in range(trials):
            active = {m.active_site for m in primary.registry.mappings()}.pop() or VICTIM
            await poller.until(SITES[active])
            await asyncio.sleep(PAUSE)
            before = primary.answers.serial
            start, end = await asyncio.to_thread(primary.move_all)
            seen = await poller.until(SITES[active], leaves=True)
            done = max(seen.values())
            first.append(done - start)
            last.append(done - end)
            spread.append(end - start)
            applied = f" {before} " in journal_serials(bind)
            incremental += applied
            print(
                f"{scale:>5} services #{number + 1}: all served {(done - start) * 1000:.1f} ms"
                f" after the first write, {(done - end) * 1000:.1f} ms after the last"
                f" ({'IXFR' if applied else 'not incremental'})",
                file=sys.stderr,
            )
    finally:
        if poller is not None:
            poller.close()
        bind.stop()
        primary.close()
    unit, suffix, digits = (1000, "ms", 1) if scale == 1 else (1, "s", 3)

    def p(values: list[float], q: float) -> float:
        return round(percentile(values, q) * unit, digits)

    return {
        f"secondary_{scale}_first_p50_{suffix}": p(first, 50),
        f"secondary_{scale}_first_p95_{suffix}": p(first, 95),
        f"secondary_{scale}_last_p50_{suffix}": p(last, 50),
        f"writes_{scale}_spread_p50_{suffix}": p(spread, 50),
        f"ixfr_share_{scale}": incremental / trials,
    }


async def run(trials: int, scales: list[int]) -> dict[str, Any]:
    """Every scale in turn."""
    result: dict[str, Any] = {"benchmark": "transfer", "trials": trials}
    with tempfile.TemporaryDirectory(prefix="gtm-transfer-") as work:
        for scale in scales:
            result.update(await measure(scale, trials, Path(work)))
    result["target"] = {"secondary_1000_first_p50_s": 1.0}
    return result


def main() -> None:
    """Parse arguments, run, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=5, help="site losses per scale (default 5)")
    parser.add_argument("--scales", default="1,1000", help="service counts (default 1,1000)")
    args = parser.parse_args()
    scales = [int(s) for s in args.scales.split(",")]
    print(json.dumps(asyncio.run(run(args.trials, scales))))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
