"""Does a flaky locator move traffic? It must not. And what does flap damping cost?

The active site's replica fails a random 20 % of probes, independently. With the default
thresholds gtm must make zero moves: once for real (gtm probing a real workload for at
least two minutes) and once with the pure core on a simulated clock for at least 100,000
probe intervals.

The trade-off of flap damping, on the pure core and a simulated clock, for the default
damping, a shorter half-life and damping off: how long a primary that failed
``FAULTS`` times ``FAULT_PERIOD`` seconds apart is held down once it has recovered for
good, and how many moves the flaky replica above causes with each setting. Prints one
JSON line.

    .venv/bin/python benchmarks/flap.py [--seconds 120] [--intervals 100000] [--interval 1]

``--interval 0.25`` probes four times a second, in the simulation and for real.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import bench_config, pin_self, running, site_ports

from gtm.core.health import (
    HealthParams,
    LocatorHealth,
    Verdict,
    decayed_penalty,
    observe,
    recheck_delay,
)
from gtm.core.policy import LocatorSpec, ServicePolicy, decide
from gtm.core.sites import SiteHealth, site_health

SERVICE = "app"
FAIL_RATIO = 0.2
SEED = 20261121
FAULTS = 6
"""Faults of the primary before it recovers for good."""
FAULT_PERIOD = 3.5
"""Seconds from the start of one fault to the start of the next."""
FAULT_LENGTH = 1.5
"""Seconds each fault lasts (every probe fails)."""
DAMPING = {
    "default": HealthParams(),
    "half_life_15s": HealthParams(damping_half_life=15.0),
    "off": HealthParams(damping=False),
}
"""The damping settings compared, by name."""


def simulate(
    intervals: int, interval: float = 1.0, seed: int = SEED, params: HealthParams | None = None
) -> dict[str, Any]:
    """The pure core alone: a flaky active site, a healthy second site, a simulated clock."""
    rng = random.Random(seed)
    params = params or HealthParams()
    policy = ServicePolicy(
        service=SERVICE,
        sites=("a", "b"),
        locators=(
            LocatorSpec("app@a", "a", "127.0.1.1", 8080),
            LocatorSpec("app@b", "b", "127.0.2.1", 8080),
        ),
    )
    up = {"app@a": LocatorHealth(), "app@b": LocatorHealth()}
    next_probe = {"app@a": 0.0, "app@b": 0.5}
    sites: dict[str, SiteHealth] = {}
    mapping = None
    moves = probes = failed = downs = 0
    end = intervals * interval
    while True:
        locator = min(next_probe, key=lambda key: next_probe[key])
        now = next_probe[locator]
        if now >= end:
            break
        ok = locator == "app@b" or rng.random() >= FAIL_RATIO
        probes += locator == "app@a"
        failed += not ok
        before = up[locator].verdict
        up[locator] = observe(up[locator], ok, now, params, "" if ok else "status 503 not in {200}")
        downs += before is Verdict.UP and up[locator].verdict is Verdict.DOWN
        delay = recheck_delay(up[locator], params)
        next_probe[locator] = now + (delay if delay is not None else interval)
        if up[locator].verdict is before and mapping is not None:
            continue
        for site, key in (("a", "app@a"), ("b", "app@b")):
            sites[site] = site_health(site, [up[key].verdict], 1, sites.get(site), now)
        if any(h.verdict is Verdict.UNKNOWN for h in up.values()):
            continue
        decision = decide(policy, mapping, {k: h.verdict for k, h in up.items()}, sites, (), now)
        moves += decision.moved
        mapping = decision.mapping
    return {
        "moves_simulated": moves,
        "intervals_simulated": intervals,
        "probes_simulated": probes,
        "failed_simulated": failed,
        "down_verdicts_simulated": downs,
    }


def held_down(params: HealthParams, interval: float = 1.0) -> dict[str, float]:
    """Seconds a primary that faulted repeatedly stays down after recovering for good.

    The replica fails every probe for ``FAULT_LENGTH`` seconds every ``FAULT_PERIOD``
    seconds, ``FAULTS`` times, then answers; the locator is probed every ``interval``
    seconds, and at the core's recheck delay when it asks for one.
    """
    recovered = (FAULTS - 1) * FAULT_PERIOD + FAULT_LENGTH
    health, now, downs = LocatorHealth(), -10.0, 0
    while True:
        phase = now % FAULT_PERIOD if now >= 0 else FAULT_PERIOD
        ok = now >= recovered or phase >= FAULT_LENGTH
        before = health.verdict
        health = observe(health, ok, now, params, "" if ok else "connect refused")
        downs += before is Verdict.UP and health.verdict is Verdict.DOWN
        if now >= recovered and health.verdict is Verdict.UP:
            break
        delay = recheck_delay(health, params)
        now += delay if delay is not None else interval
    return {
        "held_down_s": round(now - recovered, 2),
        "downs": downs,
        "penalty_at_recovery": round(decayed_penalty(health, recovered, params), 2),
    }


def damping_tradeoff(intervals: int) -> dict[str, Any]:
    """For each damping setting: the hold after repeated faults and the flaky moves."""
    return {
        name: {
            **held_down(params),
            "flaky_moves": simulate(intervals, params=params)["moves_simulated"],
        }
        for name, params in DAMPING.items()
    }


def real(seconds: float, interval: float = 1.0) -> dict[str, Any]:
    """gtm probing every ``interval`` a real workload failing 20 % of its probes for
    ``seconds``."""
    services = {SERVICE: site_ports(1)[0]}
    check = {
        "type": "http",
        "path": "/health",
        "interval": f"{interval}s",
        "timeout": f"{min(0.5, interval / 2)}s",
    }
    with running(bench_config(services, check=check), services) as (gtm, sites):
        deadline = time.monotonic() + 15
        while True:
            mapping = gtm.get(f"/v1/services/{SERVICE}")
            if {loc["state"] for loc in mapping["locators"]} == {"up"}:
                break
            if time.monotonic() > deadline:
                raise TimeoutError("locators never all came up")
            time.sleep(0.1)
        active = mapping["active_site"]
        epoch = mapping["epoch"]
        sites[active].set_mode("flaky", FAIL_RATIO, SEED)
        time.sleep(seconds)
        stats = sites[active].stats()
        after = gtm.get(f"/v1/services/{SERVICE}")
        events = gtm.get(f"/v1/events?service={SERVICE}&limit=1000")["events"]
        moves = sum(1 for e in events if e["kind"] == "move" and e["epoch"] > epoch)
    return {
        "moves_real": moves,
        "epoch_change_real": after["epoch"] - epoch,
        "seconds_real": seconds,
        "probes_real": stats["probes"],
        "failed_real": stats["failed"],
    }


def main() -> None:
    """Parse arguments, run both halves, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="real run length (s)")
    parser.add_argument("--intervals", type=int, default=100_000, help="simulated intervals")
    parser.add_argument(
        "--interval", type=float, default=1.0, help="probe interval, s (at least 0.2)"
    )
    args = parser.parse_args()
    pin_self()
    started = time.monotonic()
    result: dict[str, Any] = {
        "benchmark": "flap",
        "fail_ratio": FAIL_RATIO,
        "interval_s": args.interval,
    }
    result.update(simulate(args.intervals, args.interval))
    result["simulated_wall_s"] = round(time.monotonic() - started, 2)
    result["damping"] = damping_tradeoff(args.intervals)
    result["faults"] = {"count": FAULTS, "period_s": FAULT_PERIOD, "length_s": FAULT_LENGTH}
    if args.seconds > 0:
        result.update(real(args.seconds, args.interval))
    result["target"] = {"moves_real": 0, "moves_simulated": 0, "default_flaky_moves": 0}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
