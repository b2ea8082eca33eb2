"""Does a flaky locator move traffic? It must not.

The active site's replica fails a random 20 % of probes, independently. With the default
thresholds gtm must make zero moves: once for real (gtm probing a real workload for at
least two minutes) and once with the pure core on a simulated clock for at least 100,000
probe intervals. Prints one JSON line.

    .venv/bin/python benchmarks/flap.py [--seconds 120] [--intervals 100000]
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

from gtm.core.health import HealthParams, LocatorHealth, Verdict, observe, recheck_delay
from gtm.core.policy import LocatorSpec, ServicePolicy, decide
from gtm.core.sites import SiteHealth, site_health

SERVICE = "app"
FAIL_RATIO = 0.2
SEED = 20261121


def simulate(intervals: int, interval: float = 1.0, seed: int = SEED) -> dict[str, Any]:
    """The pure core alone: a flaky active site, a healthy second site, a simulated clock."""
    rng = random.Random(seed)
    params = HealthParams()
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


def real(seconds: float) -> dict[str, Any]:
    """gtm against a real workload failing 20 % of its probes for ``seconds``."""
    services = {SERVICE: site_ports(1)[0]}
    with running(bench_config(services), services) as (gtm, sites):
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
    args = parser.parse_args()
    pin_self()
    started = time.monotonic()
    result: dict[str, Any] = {"benchmark": "flap", "fail_ratio": FAIL_RATIO}
    result.update(simulate(args.intervals))
    result["simulated_wall_s"] = round(time.monotonic() - started, 2)
    if args.seconds > 0:
        result.update(real(args.seconds))
    result["target"] = {"moves_real": 0, "moves_simulated": 0}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
