"""A degraded spell holds only the moves its stall can have shaped.

A stall is measured when it ends; a verdict changed before it began is evidence the
stall cannot have touched, so its move goes ahead while the vantage is degraded. Here the
decision waits for leadership, so the stall falls between the verdict and the decision.
"""

from __future__ import annotations

import asyncio

import pytest
from virtual_time import RunVirtual, VirtualClock

from gtm.controller.controller import DEGRADED, Controller, ServicePlan
from gtm.core.health import HealthParams, Verdict
from gtm.core.policy import LocatorSpec, ServicePolicy
from gtm.registry.registry import Registry
from gtm.registry.stores.memory import MemoryStore

SITES = ("site-a", "site-b")


def plans() -> dict[str, ServicePlan]:
    policy = ServicePolicy(
        "billing",
        SITES,
        tuple(
            LocatorSpec(f"billing@{site}", site, f"127.0.{n}.1", 80)
            for n, site in enumerate(SITES, 1)
        ),
    )
    return {"billing": ServicePlan(policy=policy, health=HealthParams(rise=1, fall=2))}


@pytest.mark.parametrize(
    ("lag", "moved"),
    [
        pytest.param(0.3, True, id="stall-began-after-the-verdict"),
        pytest.param(5.0, False, id="stall-began-before-the-verdict"),
    ],
)
def test_a_stall_measured_after_a_verdict_holds_its_move_only_if_it_began_before(
    run_virtual: RunVirtual, lag: float, moved: bool
) -> None:
    leading = [True]

    async def scenario() -> tuple[str | None, list[str]]:
        clock = VirtualClock()
        registry = await Registry.open(MemoryStore(), "test")
        loop = asyncio.get_running_loop()
        controller = Controller(
            plans(),
            registry,
            clock=clock,
            writer="test",
            acting_as=lambda: "test" if leading[0] else None,
        )
        await controller.start()
        try:
            for site in SITES:
                controller.observe(f"billing@{site}", True, "ok", loop.time())
            await asyncio.sleep(1.0)
            assert registry.get("billing").active_site == "site-a"
            await asyncio.sleep(5.0)
            leading[0] = False
            controller.observe("billing@site-a", False, "refused", loop.time())
            await asyncio.sleep(0.05)
            controller.observe("billing@site-a", False, "refused", loop.time())
            assert controller.health("billing@site-a").verdict is Verdict.DOWN
            await asyncio.sleep(1.0)
            assert registry.get("billing").active_site == "site-a"
            # A stall of ``lag`` ends now, then the decision runs.
            controller.observe_lag(lag, 0.05)
            assert controller.vantage_status()["degraded"] is True
            leading[0] = True
            controller.refresh()
            await asyncio.sleep(1.0)
            events = await registry.events(None, limit=100)
            return registry.get("billing").active_site, [event.kind for event in events]
        finally:
            await controller.stop()

    active, kinds = run_virtual(scenario())

    assert active == ("site-b" if moved else "site-a")
    assert DEGRADED in kinds
    assert ("move" in kinds[kinds.index(DEGRADED) :]) is moved
