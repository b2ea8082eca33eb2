"""How fast does gtm move a service when its active site fails?

At a random moment of the probe cycle the active site's workload is killed (SIGKILL:
connection refused) or its /health starts answering 503; DNS is polled every 10 ms until
it answers with another site. Every trial moves the service on (whack-a-mole), so the
trials walk around the three sites. Prints one JSON line: detection (failure -> verdict),
decision (verdict -> new mapping, ``decide_p99_ms``), publication (verdict -> DNS answers
the new site) and the total.

    .venv/bin/python benchmarks/failover.py [--trials 10] [--interval 1]

With ``--interval 0.25`` probes time out after half the interval (125 ms), and the
goals are a quarter-second failover: total p50 <= 0.3 s, p95 <= 0.45 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import SITES, GtmProcess, bench_config, fleet, percentile, pin_self, site_ports

from gtm.demo.scenario import dns_addresses, wait_for_dns
from gtm.demo.sites import SiteFleet

SERVICE = "app"


async def wait_steady(gtm: GtmProcess, timeout: float = 15.0) -> dict[str, Any]:
    """Wait until every locator is up and DNS answers the active site; return the mapping."""
    host, port = gtm.dns
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mapping = gtm.get(f"/v1/services/{SERVICE}")
        states = {loc["state"] for loc in mapping["locators"]}
        active = mapping["active_site"]
        if states == {"up"} and active:
            answer = await dns_addresses(host, port, f"{SERVICE}.{gtm.config['zone']}")
            if answer == {SITES[active]}:
                return mapping
        await asyncio.sleep(0.05)
    raise TimeoutError("the service never became steady (all locators up)")


async def trial(gtm: GtmProcess, sites: SiteFleet, fault: str, interval: float) -> dict[str, float]:
    """One failure of the active site; returns detect/publish/total seconds."""
    before = await wait_steady(gtm)
    victim = before["active_site"]
    await asyncio.sleep(random.uniform(0, interval))
    t0 = time.time()
    if fault == "kill":
        sites[victim].kill()
    else:
        sites[victim].set_mode("down")
    host, port = gtm.dns
    seen, _ = await wait_for_dns(
        host, port, f"{SERVICE}.{gtm.config['zone']}", leaves=SITES[victim]
    )
    event = None
    for _ in range(100):
        events = gtm.get(f"/v1/events?service={SERVICE}&limit=5")["events"]
        event = next((e for e in events if e["epoch"] == before["epoch"] + 1), None)
        if event:
            break
        await asyncio.sleep(0.02)
    if fault == "kill":
        sites[victim].start()
    else:
        sites[victim].set_mode("up")
    timeline = event["timeline"] if event else {}
    verdict = timeline.get("verdict", seen)
    decided = timeline.get("decision", verdict)
    return {
        "detect": verdict - t0,
        "decide": decided - verdict,
        "publish": seen - verdict,
        "total": seen - t0,
    }


def probe_timeout(interval: float) -> float:
    """The probe timeout used with ``interval``: 500 ms, or half the interval when shorter."""
    return min(0.5, interval / 2)


def targets(interval: float) -> dict[str, float]:
    """The goals for ``interval``: the 1 s defaults, or a quarter-second failover at 250 ms."""
    if interval <= 0.25:
        return {"total_p50_s": 0.3, "total_p95_s": 0.45, "decide_p99_ms": 5.0}
    return {"total_p50_s": 0.7, "total_p95_s": 1.2, "decide_p99_ms": 5.0}


async def measure(trials: int, interval: float) -> dict[str, Any]:
    """Run ``trials`` kills and ``trials`` 503s, each against a freshly started gtm.

    A fresh gtm per trial keeps the trials independent: killing the same three sites every
    few seconds would otherwise, rightly, trip gtm's flap damping and hold them down.
    """
    check = {
        "type": "http",
        "path": "/health",
        "interval": f"{interval}s",
        "timeout": f"{probe_timeout(interval)}s",
    }
    results: dict[str, list[dict[str, float]]] = {"kill": [], "503": []}
    services = {SERVICE: site_ports(1)[0]}
    sites = fleet(services)
    try:
        sites.start()
        for fault in results:
            for number in range(trials):
                gtm = GtmProcess(bench_config(services, check=check))
                try:
                    gtm.start()
                    outcome = await trial(gtm, sites, fault, interval)
                finally:
                    gtm.stop()
                results[fault].append(outcome)
                print(
                    f"{fault:>4} #{number + 1}: total {outcome['total']:.3f} s "
                    f"(detect {outcome['detect']:.3f}, decide {outcome['decide'] * 1000:.1f} ms, "
                    f"publish {outcome['publish']:.3f})",
                    file=sys.stderr,
                )
    finally:
        sites.stop()
    every = results["kill"] + results["503"]

    def p(values: list[dict[str, float]], key: str, q: float) -> float:
        return round(percentile([v[key] for v in values], q), 3)

    return {
        "benchmark": "failover",
        "interval_s": interval,
        "runs": len(every),
        "detect_p50_s": p(every, "detect", 50),
        "decide_p99_ms": round(percentile([v["decide"] for v in every], 99) * 1000, 2),
        "publish_p50_s": p(every, "publish", 50),
        "total_p50_s": p(every, "total", 50),
        "total_p95_s": p(every, "total", 95),
        "total_max_s": p(every, "total", 100),
        "kill_total_p50_s": p(results["kill"], "total", 50),
        "http503_total_p50_s": p(results["503"], "total", 50),
        "timeout_s": probe_timeout(interval),
        "load_average": round(os.getloadavg()[0], 2),
        "target": targets(interval),
    }


def main() -> None:
    """Parse arguments, run, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10, help="trials per fault (default 10)")
    parser.add_argument(
        "--interval", type=float, default=1.0, help="probe interval, s (at least 0.2)"
    )
    args = parser.parse_args()
    pin_self()
    print(json.dumps(asyncio.run(measure(args.trials, args.interval))))


if __name__ == "__main__":
    main()
