"""What one probe costs gtm in CPU, measured in one process so that other load on the
machine changes the figure little.

Two parts, each timed in CPU seconds of this process (not wall time):

- Prober: the scheduler and plain-HTTP probes of N targets every second, the targets
  being ``scale.py``'s lightweight server in a child process on the other core. The
  result goes to a callback that only counts it. Reported: CPU per probe, the share of it
  spent in the kernel, and the probes one CPU-second does.
- Observe: ``Controller.observe_shared`` for every locator of N/3 services in three
  sites, healthy results in a loop with no I/O: the health update, metrics, the probe
  detail and this vantage's own health, per probe.

The sum is close to what ``scale.py`` measures through the whole of ``gtm run``, without
its start-up, decisions, API and DNS. Prints one JSON line.

    .venv/bin/python benchmarks/probecost.py [--locators 3000] [--seconds 5] [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import SITES
from scale import load_average, targets

from gtm.controller.controller import Controller, ServicePlan
from gtm.core.health import HealthParams
from gtm.core.policy import LocatorSpec, ServicePolicy
from gtm.registry.registry import Registry
from gtm.registry.stores.memory import MemoryStore
from healthchecks import HttpClient, HttpProbe
from healthchecks.result import Result
from healthchecks.scheduler import Check, Scheduler

WARMUP_S = 2.0
"""Seconds of probing before the measured window: every check has had its first probe."""


async def prober_cost(listening: dict[str, list[int]], seconds: float) -> dict[str, Any]:
    """Probe every listening port once a second; CPU per probe over ``seconds``."""
    counted = 0

    def on_result(check: Check, result: Result) -> float | None:
        nonlocal counted
        counted += 1
        return None

    client = HttpClient()
    scheduler = Scheduler(on_result)
    for address, ports in listening.items():
        for port in ports:
            probe = HttpProbe(address, port, path="/health", client=client)
            scheduler.add(Check(f"{address}:{port}", probe, 1.0, 0.5))
    await scheduler.start()
    try:
        await asyncio.sleep(WARMUP_S)
        before, done_before = os.times(), counted
        await asyncio.sleep(seconds)
        after, probes = os.times(), counted - done_before
    finally:
        await scheduler.stop()
    user, system = after.user - before.user, after.system - before.system
    cpu = user + system
    return {
        "probes_per_s": round(probes / seconds),
        "cpu_us_per_probe": round(cpu / max(probes, 1) * 1e6, 1),
        "kernel_share": round(system / cpu, 2) if cpu else None,
        "probes_per_cpu_s": round(probes / cpu) if cpu else None,
    }


async def observe_cost(locators: int, rounds: int) -> dict[str, Any]:
    """``rounds`` healthy results for each of ``locators`` locators; CPU per result."""
    plans = {
        f"svc{index}": ServicePlan(
            policy=ServicePolicy(
                f"svc{index}",
                tuple(SITES),
                tuple(
                    LocatorSpec(f"svc{index}@{site}", site, address, 20000 + index)
                    for site, address in SITES.items()
                ),
            ),
            health=HealthParams(),
        )
        for index in range(locators // len(SITES))
    }
    registry = await Registry.open(MemoryStore(), "probecost")
    controller = Controller(plans, registry, writer="probecost")
    await controller.start()
    ids = [(spec.id,) for plan in plans.values() for spec in plan.policy.locators]
    loop = asyncio.get_running_loop()

    def feed(times: int) -> None:
        for _ in range(times):
            for locator in ids:
                controller.observe_shared(locator, True, "status 200", loop.time(), latency=3e-4)

    try:
        feed(3)  # every locator up, and its first decision made
        await asyncio.sleep(0.5)
        started = time.process_time()
        feed(rounds)
        cpu = time.process_time() - started
    finally:
        await controller.stop()
    return {"cpu_us_per_probe": round(cpu / (rounds * len(ids)) * 1e6, 1)}


def measure(locators: int, seconds: float, rounds: int) -> dict[str, Any]:
    """Both parts, on the last core (the targets take the first)."""
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cores[-1]})
    result: dict[str, Any] = {"benchmark": "probecost", "load_average_start": load_average()}
    with targets(max(1, locators // len(SITES))) as listening:
        result["prober"] = asyncio.run(prober_cost(listening, seconds))
    result["observe"] = asyncio.run(observe_cost(locators, rounds))
    result["locators"] = locators
    result["cpu_us_per_probe"] = round(
        result["prober"]["cpu_us_per_probe"] + result["observe"]["cpu_us_per_probe"], 1
    )
    result["load_average_end"] = load_average()
    return result


def main() -> None:
    """Parse arguments, run, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--locators", type=int, default=3000, help="targets probed (3000)")
    parser.add_argument("--seconds", type=float, default=5.0, help="prober window (5 s)")
    parser.add_argument("--rounds", type=int, default=20, help="results per locator (20)")
    args = parser.parse_args()
    print(json.dumps(measure(args.locators, args.seconds, args.rounds)))


if __name__ == "__main__":
    main()
