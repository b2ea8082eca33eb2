"""``gtm demo --scenario burst``: the active site gets slow, billing overspills, then returns.

The demo config's ``billing`` is put under ``policy: burst`` for this scenario (with short
windows, so the story takes seconds): its first site is made slow through the workload's
control endpoint, DNS starts answering the next site beside it, the overspill ramps up;
then the site recovers and the overspill ramps down and leaves. Each step prints what DNS
answers, the measured time and the journal's reason.
"""

from __future__ import annotations

import asyncio
import time

from gtm.config.burst import BurstConfig
from gtm.config.models import Config
from gtm.core.journal import EventKind
from gtm.core.model import shares
from gtm.demo.scenario import SERVICE, Demo, dns_addresses

SLOW_S = 0.3
"""Seconds the slow site takes to answer its health probe."""

BURST = BurstConfig.model_validate(
    {
        "above": "150ms",
        "below": "60ms",
        "for": "3s",
        "calm": "3s",
        "hold": "5s",
        "ramp": "4s",
        "steps": 2,
        "share": 50,
    }
)
"""Short windows, so the story plays in seconds; production settings are longer."""


def with_burst(config: Config) -> Config:
    """``config`` with its ``billing`` under ``policy: burst`` with :data:`BURST`."""
    services = dict(config.services)
    services[SERVICE] = services[SERVICE].model_copy(update={"policy": "burst", "burst": BURST})
    return config.model_copy(update={"services": services})


async def wait_for_answer(demo: Demo, wanted: set[str], timeout: float = 30.0) -> float:
    """Poll DNS every 10 ms until it answers exactly ``wanted``; the wall time it did."""
    deadline = time.monotonic() + timeout
    host, port = demo.config.dns.listen.host, demo.runtime.dns_port
    while time.monotonic() < deadline:
        if await dns_addresses(host, port, demo.fqdn) == wanted:
            return time.time()
        await asyncio.sleep(0.01)
    raise TimeoutError(f"demo: DNS never answered {sorted(wanted)} for {demo.fqdn}")


def show_shares(demo: Demo) -> None:
    """One line: each site's share of billing's traffic now."""
    mapping = demo.mapping()
    split = shares(mapping.best())
    by_site = {loc.site: split.get(loc.id, 0.0) for loc in mapping.locators}
    text = ", ".join(f"{site} {share:.0%}" for site, share in by_site.items() if share)
    print(f"  traffic: {text} (version {mapping.version})")


async def journal(demo: Demo) -> None:
    """The burst events of the journal, oldest first."""
    events = await demo.runtime.registry.events(service=SERVICE, kind=EventKind.BURST.value)
    print("\njournal (kind burst):")
    for event in sorted(events, key=lambda e: e.seq):
        print(f"  {time.strftime('%H:%M:%S', time.localtime(event.time))}  {event.reason}")


async def play_burst(demo: Demo) -> int:
    """Make the active site slow, show the overspill; let it recover, show it leave."""
    mapping = demo.mapping()
    active = mapping.active_site
    assert active is not None
    site = demo.fleet[active]
    alone = {demo.address_of(active)}
    window = BURST.window
    print(
        f"\n{SERVICE} bursts once its health probes on {active} take more than "
        f"{BURST.start_level * 1000:.0f} ms for {window:g} s"
    )
    print(f"\n1. {active} gets slow (its health answers take {SLOW_S * 1000:.0f} ms)")
    t0 = time.time()
    await asyncio.to_thread(site.set_mode, "slow", None, None, SLOW_S)
    spill = await wait_for_answer(demo, alone | {demo.address_of(_next(demo, active))})
    print(f"  +{spill - t0:6.2f} s  DNS answers {active} and the overspill site")
    print(f"  reason: {demo.mapping().reason}")
    show_shares(demo)
    await asyncio.sleep(BURST.ramp)
    show_shares(demo)
    print(f"\n2. {active} recovers")
    t1 = time.time()
    await asyncio.to_thread(site.set_mode, "up")
    back = await wait_for_answer(demo, alone, timeout=60.0)
    print(f"  +{back - t1:6.2f} s  DNS answers {active} alone again")
    show_shares(demo)
    await journal(demo)
    demo.show("end")
    print(f"\nburst done: {SERVICE} overspilled from {active} and came back, never moving.")
    return 0


def _next(demo: Demo, active: str) -> str:
    """The site after ``active`` in billing's preference order (the demo's sites are up)."""
    sites = demo.config.services[SERVICE].sites
    return sites[(sites.index(active) + 1) % len(sites)]
