"""A check shared by locators of several services: each service reads what the one probe read.

Services behind one ingress share its health check; the probe's release and load figure
must reach every one of them (readiness, bursting), not only the first locator's service.
"""

from __future__ import annotations

import asyncio

from virtual_time import RunVirtual, VirtualClock

from gtm.controller.controller import Controller, ServicePlan
from gtm.core.burst import BurstParams, Metric
from gtm.core.health import HealthParams, Verdict
from gtm.core.policy import LocatorSpec, PolicyKind, ServicePolicy
from gtm.registry.registry import Registry
from gtm.registry.stores.memory import MemoryStore

SERVICES = ("billing", "checkout")
SITES = ("site-a", "site-b")
INGRESS = {"site-a": "127.0.1.1", "site-b": "127.0.2.1"}


def plans() -> dict[str, ServicePlan]:
    """Two bursting services on the same two ingresses, burst on the replicas' load."""
    burst = BurstParams(metric=Metric.LOAD, above=0.8, below=0.5, window=0, hold=0)
    return {
        name: ServicePlan(
            policy=ServicePolicy(
                name,
                SITES,
                tuple(LocatorSpec(f"{name}@{site}", site, INGRESS[site], 80) for site in SITES),
                policy=PolicyKind.BURST,
            ),
            health=HealthParams(),
            burst=burst,
        )
        for name in SERVICES
    }


def test_a_shared_probe_gives_every_service_its_release_and_load(
    run_virtual: RunVirtual,
) -> None:
    async def scenario() -> tuple[dict[str, dict[str, object]], dict[str, dict[str, str | None]]]:
        clock = VirtualClock()
        registry = await Registry.open(MemoryStore(), "test")
        controller = Controller(plans(), registry, clock=clock, writer="test")
        await controller.start()
        try:
            for _ in range(3):
                now = asyncio.get_running_loop().time()
                for site in SITES:
                    controller.observe_shared(
                        [f"{name}@{site}" for name in SERVICES],
                        True,
                        "status 200",
                        now,
                        latency=0.01,
                        release="v2" if site == "site-a" else "v1",
                        load=0.9 if site == "site-a" else 0.1,
                    )
                await asyncio.sleep(1.0)
            for name in SERVICES:
                assert controller.health(f"{name}@site-a").verdict is Verdict.UP
            deadline = asyncio.get_running_loop().time() + 30.0
            while set(controller.bursts()) != set(SERVICES):
                assert asyncio.get_running_loop().time() < deadline, controller.bursts()
                controller.observe_shared(
                    [f"{name}@site-a" for name in SERVICES],
                    True,
                    "status 200",
                    asyncio.get_running_loop().time(),
                    release="v2",
                    load=0.9,
                )
                await asyncio.sleep(1.0)
            releases = {found.service: found.sites for found in controller.releases()}
            return controller.bursts(), releases
        finally:
            await controller.stop()
            await registry.close()

    bursts, releases = run_virtual(scenario())

    for name in SERVICES:
        assert bursts[name]["load"] == 0.9  # the active site's figure, for both services
        assert releases[name] == {"site-a": "v2", "site-b": "v1"}


def test_locators_of_one_check_keep_their_own_settings_and_histories(
    run_virtual: RunVirtual,
) -> None:
    """One result is computed once per distinct (health, settings), never across them."""

    def plan(name: str, fall: int) -> ServicePlan:
        spec = LocatorSpec(f"{name}@site-a", "site-a", INGRESS["site-a"], 80)
        return ServicePlan(
            policy=ServicePolicy(name, ("site-a",), (spec,)),
            health=HealthParams(rise=1, fall=fall, max_fall=fall),
        )

    async def scenario() -> dict[str, Verdict]:
        clock = VirtualClock()
        registry = await Registry.open(MemoryStore(), "test")
        shared = ["quick@site-a", "patient@site-a", "twin@site-a", "failing@site-a"]
        every = {"quick": 1, "patient": 3, "twin": 1, "failing": 3}
        controller = Controller(
            {name: plan(name, fall) for name, fall in every.items()},
            registry,
            clock=clock,
            writer="test",
        )
        await controller.start()
        try:
            loop = asyncio.get_running_loop()
            controller.observe_shared(shared, True, "status 200", loop.time())
            await asyncio.sleep(1.0)
            # One locator's own history differs: two failures of a check of its own.
            for _ in range(2):
                controller.observe("failing@site-a", False, "status 500", loop.time())
                await asyncio.sleep(1.0)
            controller.observe_shared(shared, False, "status 503", loop.time())
            return {locator: controller.health(locator).verdict for locator in shared}
        finally:
            await controller.stop()
            await registry.close()

    verdicts = run_virtual(scenario())

    assert verdicts == {
        "quick@site-a": Verdict.DOWN,
        "patient@site-a": Verdict.UP,
        "twin@site-a": Verdict.DOWN,
        "failing@site-a": Verdict.DOWN,
    }
