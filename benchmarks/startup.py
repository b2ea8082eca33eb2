"""What gtm's start-up costs with many services, in CPU seconds of one process, so that
other load on the machine changes the figures little.

Two parts, for each size:

- Config: ``load_config(path, secrets=True)`` of the file ``scale.py`` writes for its size
  part (N services x 3 locators behind one shared check per site), as ``gtm run`` reads
  it before it starts anything.
- First mappings: a controller over a memory registry, every locator's first verdict up
  at once (one shared healthy result), until every service has its first mapping: the
  decisions, the group commits and the registry's bookkeeping, with no probe, DNS or API.

Prints one JSON line.

    .venv/bin/python benchmarks/startup.py [--services 1000,3000,10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import SITES
from scale import config

from gtm.config.loader import load_config
from gtm.controller.controller import Controller, ServicePlan
from gtm.core.health import HealthParams
from gtm.core.policy import LocatorSpec, ServicePolicy
from gtm.registry.registry import Registry
from gtm.registry.stores.memory import MemoryStore

SIZES = (1000, 3000, 10000)
"""Services at each size."""


def config_cpu(count: int) -> float:
    """CPU seconds to load the size part's config file of ``count`` services."""
    check = {"type": "http", "path": "/health", "interval": "1s", "timeout": "500ms"}
    services = {f"svc{index}": dict.fromkeys(SITES, 20000 + index) for index in range(count)}
    with tempfile.TemporaryDirectory(prefix="gtm-startup-") as folder:
        path = Path(folder) / "gtm.yaml"
        path.write_text(yaml.safe_dump(config(services, check)))
        started = time.process_time()
        load_config(path, secrets=True)
        return time.process_time() - started


def plan(service: str) -> ServicePlan:
    """One locator in each site; one healthy result makes it up."""
    locators = tuple(
        LocatorSpec(id=f"{service}@{site}/lb-1", site=site, address=address, port=80)
        for site, address in SITES.items()
    )
    return ServicePlan(
        policy=ServicePolicy(service=service, sites=tuple(SITES), locators=locators),
        health=HealthParams(rise=1, fall=1),
    )


async def first_mappings_cpu(count: int) -> float:
    """CPU seconds from every verdict up to every service's first mapping stored."""
    registry = await Registry.open(MemoryStore(), "startup")
    services = [f"svc{index}" for index in range(count)]
    controller = Controller({s: plan(s) for s in services}, registry, writer="startup")
    await controller.start()
    try:
        locators = [spec.id for s in services for spec in plan(s).policy.locators]
        started = time.process_time()
        controller.observe_shared(locators, True, "ok", 1.0)
        while len(registry.mappings()) < count:
            await asyncio.sleep(0.005)
        return time.process_time() - started
    finally:
        await controller.stop()
        await registry.close()


def measure(sizes: list[int]) -> dict[str, Any]:
    """Both parts at every size."""
    figures = [
        {
            "services": count,
            "config_cpu_s": round(config_cpu(count), 2),
            "first_mappings_cpu_s": round(asyncio.run(first_mappings_cpu(count)), 2),
        }
        for count in sizes
    ]
    return {"benchmark": "startup", "sizes": figures}


def main() -> None:
    """Parse arguments, run, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--services",
        default=",".join(str(size) for size in SIZES),
        help="sizes, comma-separated (default 1000,3000,10000)",
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.services.split(",") if size]
    print(json.dumps(measure(sizes)))


if __name__ == "__main__":
    main()
