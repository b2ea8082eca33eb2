"""How fast does a service overspill once its site is overloaded, and does a hovering load flap?

gtm runs as its own process, pinned to one core, with a real HAProxy as provider in front
of three simulated sites; the service is under ``policy: burst`` with latency as its
metric. A client sends requests back to back through HAProxy's frontend.

* ``overspill_delay_s``: the active site's workload is made slow (its control endpoint),
  so its health probe's latency crosses ``above``; the delay runs from that moment to the
  first answer from the overspill site through HAProxy. Repeated ``--trials`` times, the
  site recovering (and the overspill leaving) between trials. Target: at most
  ``window_s`` (the configured ``for:``) + 1 s.
* ``flips_beyond_first``: bursts beginning or ending, beyond the first, while the load
  hovers at ``above`` (noise that stays inside the hysteresis band and above it) for
  10 minutes. Measured in virtual time on the pure core with the same settings, probing
  every probe interval (``flips_virtual`` counts the first too); and for ``--hover``
  seconds for real, the workload's delay redrawn every second, counted from gtm's
  journal (``flips_real``, ``flips_beyond_first_real``). Target: 0.

Prints one JSON line.

    .venv/bin/python benchmarks/burst.py [--trials 3] [--hover 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import SITES, GtmProcess, bench_config, fleet, percentile, pin_self, site_ports

from gtm.core.burst import BurstParams, BurstState, Change, Reading, step
from gtm.demo.sites import SiteFleet
from gtm.providers.haproxy_settings import parse_servers_state
from testbed.haproxy import HaproxyServer, find_haproxy

SERVICE = "app"
ACTIVE, OVERSPILL = "site-a", "site-b"
INTERVAL = 0.5
"""Seconds between two probes of a locator."""
CHECK = {"type": "http", "path": "/health", "interval": "500ms", "timeout": "450ms"}
ABOVE, BELOW = 0.15, 0.06
SLOW = 0.3
"""Seconds the overloaded site takes to answer its health probe."""
BURST = {
    "above": "150ms",
    "below": "60ms",
    "for": "3s",
    "calm": "2s",
    "hold": "5s",
    "ramp": "2s",
    "steps": 2,
    "share": 50,
}
PARAMS = BurstParams(above=ABOVE, below=BELOW, window=3.0, calm=2.0, hold=5.0, ramp=2.0, steps=2)
"""The same settings as ``BURST``, for the pure core."""
HOVER_SPREAD = 0.03
"""The hovering delay is drawn in ``ABOVE`` ± this, which stays above ``BELOW``."""
VIRTUAL_HOVER = 600.0
SEED = 20261202


@dataclass
class Client:
    """Requests back to back through the frontend: (answered at, site) of each."""

    port: int
    answers: list[tuple[float, str | None]] = field(default_factory=list)
    running: bool = True

    async def run(self) -> None:
        """Send until ``running`` is cleared."""
        url = f"http://127.0.0.1:{self.port}/"
        connector = aiohttp.TCPConnector(force_close=True)
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            while self.running:
                try:
                    async with session.get(url) as answer:
                        site = (await answer.json())["site"] if answer.status == 200 else None
                except (aiohttp.ClientError, TimeoutError, ValueError, KeyError):
                    site = None
                self.answers.append((time.time(), site))
                await asyncio.sleep(0.005)

    def first(self, site: str, after: float) -> float | None:
        """When ``site`` first answered after ``after``."""
        return next((at for at, seen in self.answers if at >= after and seen == site), None)


def weights(haproxy: HaproxyServer) -> dict[str, int]:
    """Each server's weight in the service's backend (0 when not ready)."""
    text = haproxy.command(f"show servers state {SERVICE}")
    return {s.server: s.weight if s.state == "ready" else 0 for s in parse_servers_state(text)}


async def until(what: str, check: Any, timeout: float = 60.0) -> None:
    """Wait for ``check()`` (run in a thread) to be true, polling every 20 ms."""
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(check):
        if time.monotonic() > deadline:
            raise TimeoutError(f"burst benchmark: {what} not reached in {timeout:g} s")
        await asyncio.sleep(0.02)


def burst_events(gtm: GtmProcess) -> list[dict[str, Any]]:
    """The service's burst events in gtm's journal, oldest first."""
    doc = gtm.get(f"/v1/events?service={SERVICE}&kind=burst&limit=1000")
    events: list[dict[str, Any]] = doc["events"]
    return sorted(events, key=lambda event: event["time"])


def flips(events: list[dict[str, Any]]) -> int:
    """Bursts that began or ended among ``events``."""
    return sum(1 for e in events if e["reason"].startswith(("burst began", "burst ended")))


def set_delay(sites: SiteFleet, delay: float | None) -> None:
    """Make the active site slow by ``delay`` seconds, or answer at once (None)."""
    if delay is None:
        sites[ACTIVE].set_mode("up")
    else:
        sites[ACTIVE].set_mode("slow", delay=delay)


def virtual_hover(seconds: float, seed: int = SEED) -> int:
    """Bursts begun or ended on the pure core while latency hovers at ``above``."""
    rng = random.Random(seed)
    state, count, now = BurstState(active=ACTIVE), 0, 0.0
    while now < seconds:
        latency = ABOVE + rng.uniform(-HOVER_SPREAD, HOVER_SPREAD)
        result = step(state, ACTIVE, Reading(latency, now), now, PARAMS)
        state = result.state
        count += result.change in (Change.BEGAN, Change.ENDED)
        now += INTERVAL
    return count


async def measure(trials: int, hover: float) -> dict[str, Any]:
    """Start everything, run the trials and the real hover, stop everything (by pid)."""
    executable = find_haproxy()
    if executable is None:
        raise RuntimeError("haproxy is not installed (Debian package haproxy)")
    with tempfile.TemporaryDirectory(prefix="gtm-burst-") as work:
        return await measure_in(Path(work), executable, trials, hover)


async def measure_in(work: Path, executable: str, trials: int, hover: float) -> dict[str, Any]:
    """:func:`measure` with its files in ``work``."""
    [port] = site_ports(1)
    sites = fleet({SERVICE: port})
    haproxy = HaproxyServer(
        work / "haproxy",
        {SERVICE: [(site, address, port) for site, address in SITES.items()]},
        stats_socket="tcp",
        executable=executable,
    )
    gtm: GtmProcess | None = None
    client: Client | None = None
    sender: asyncio.Task[None] | None = None
    delays: list[float] = []
    real_flips = 0
    try:
        sites.start()
        haproxy.start()
        config = bench_config({SERVICE: port}, check=CHECK)
        config["services"][SERVICE].update(policy="burst", burst=BURST)
        config["providers"] = {"lb": {"type": "haproxy", "socket": haproxy.socket}}
        gtm = GtmProcess(config)
        gtm.start()
        alone = {site: 100 if site == ACTIVE else 0 for site in SITES}
        await until("HAProxy sending everything to site-a", lambda: weights(haproxy) == alone)
        client = Client(haproxy.frontend_port(SERVICE))
        sender = asyncio.create_task(client.run())
        for number in range(trials):
            await until("the overspill gone", lambda: weights(haproxy) == alone)
            await asyncio.sleep(PARAMS.hold)  # the minimum time in the steady state
            crossed = time.time()
            await asyncio.to_thread(set_delay, sites, SLOW)
            await until(
                "the overspill site answering",
                lambda c=crossed: client.first(OVERSPILL, c) is not None,
            )
            first = client.first(OVERSPILL, crossed)
            assert first is not None
            delays.append(first - crossed)
            print(f"trial {number + 1}: overspill after {first - crossed:.3f} s", file=sys.stderr)
            await asyncio.to_thread(set_delay, sites, None)
        await until("the overspill gone", lambda: weights(haproxy) == alone)
        if hover > 0:
            before = flips(await asyncio.to_thread(burst_events, gtm))
            rng = random.Random(SEED)
            end = time.monotonic() + hover
            while time.monotonic() < end:
                delay = ABOVE + rng.uniform(-HOVER_SPREAD, HOVER_SPREAD)
                await asyncio.to_thread(set_delay, sites, delay)
                await asyncio.sleep(1.0)
            real_flips = flips(await asyncio.to_thread(burst_events, gtm)) - before
    finally:
        if client is not None:
            client.running = False
        if sender is not None:
            await asyncio.wait_for(sender, timeout=10)
        if gtm is not None:
            gtm.stop()
        haproxy.stop()
        sites.stop()
    virtual = virtual_hover(VIRTUAL_HOVER)
    return {
        "benchmark": "burst",
        "window_s": PARAMS.window,
        "probe_interval_s": INTERVAL,
        "trials": len(delays),
        "overspill_delay_s": round(max(delays), 3),
        "overspill_delay_p50_s": round(percentile(delays, 50), 3),
        "flips_virtual": virtual,
        "flips_beyond_first": max(0, virtual - 1),
        "hover_virtual_s": VIRTUAL_HOVER,
        "flips_real": real_flips,
        "flips_beyond_first_real": max(0, real_flips - 1),
        "hover_real_s": hover,
        "target": {"overspill_delay_s": PARAMS.window + 1, "flips_beyond_first": 0},
    }


def main() -> None:
    """Parse arguments, run, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=3, help="overspills measured (default 3)")
    parser.add_argument(
        "--hover", type=float, default=60.0, help="seconds of real hovering (default 60)"
    )
    args = parser.parse_args()
    pin_self()
    print(json.dumps(asyncio.run(measure(args.trials, args.hover))))


if __name__ == "__main__":
    main()
