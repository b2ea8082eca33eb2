"""Planned failovers end to end: steps, refusal, rollback, abort, restart, evacuation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gtm.core.model import IntentKind
from gtm.core.runbook import Run, RunOptions, RunState, Step
from gtm.demo.sites import SiteFleet
from gtm.runtime import Runtime

from .support import config_doc, wait_published

FAST = RunOptions(hold=0.2, verify_timeout=3.0)


async def finished(runtime: Runtime, run: Run, timeout: float = 20.0) -> Run:
    """Wait until ``run`` has ended and return it as stored."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        current = runtime.runbooks.get(run.id)
        if current.state.finished:
            return current
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"run still {current.state}: {current.steps}")
        await runtime.runbooks.wait(run.id, current.revision, 1.0)


async def test_planned_failover_with_drain_moves_and_cleans_up(gtm: Runtime) -> None:
    before = gtm.registry.get("billing")
    assert before is not None and before.active_site == "aws-use1"
    options = RunOptions(drain=1.0, hold=0.2, verify_timeout=3.0)
    run = await gtm.runbooks.begin("failover", "billing", "dc-paris", "patching", "alice", options)
    done = await finished(gtm, run)
    assert done.state is RunState.DONE, done.outcome
    assert [r.step for r in done.steps] == [
        Step.PREFLIGHT,
        Step.DRAIN,
        Step.SWITCH,
        Step.VERIFY,
        Step.HOLD,
    ]
    assert all(r.ok for r in done.steps)
    after = gtm.registry.get("billing")
    assert after is not None
    assert (after.active_site, after.epoch) == ("dc-paris", before.epoch + 1)
    assert gtm.registry.intents() == []  # the run's shift and pin are gone
    await asyncio.sleep(0.3)  # whack-a-mole keeps the new site once the pin is gone
    still = gtm.registry.get("billing")
    assert still is not None and still.active_site == "dc-paris"
    [event] = await gtm.registry.events(service="billing", kind="run")
    assert event.actor == "alice" and "patching" in event.reason
    assert {"preflight.start", "drain.end", "switch.end", "served.dns"} <= set(event.timeline)


async def test_drain_shifts_weights_in_steps(gtm: Runtime) -> None:
    seen: list[tuple[int, int]] = []

    def watch(mapping: Any) -> None:
        if mapping.service == "billing":
            weights = {loc.site: (loc.priority, loc.weight) for loc in mapping.locators}
            if weights["gcp-euw1"][0] == 1 and weights["aws-use1"][0] == 1:
                seen.append((weights["aws-use1"][1], weights["gcp-euw1"][1]))

    unsubscribe = gtm.registry.subscribe(watch)
    try:
        options = RunOptions(drain=1.0, hold=0.0, verify_timeout=3.0)
        run = await gtm.runbooks.begin("failover", "billing", "gcp-euw1", "ramp", "bob", options)
        assert (await finished(gtm, run)).state is RunState.DONE
    finally:
        unsubscribe()
    assert len(seen) >= 2
    assert [old + new for old, new in seen] == [100] * len(seen)
    assert [new for _, new in seen] == sorted(new for _, new in seen)


async def test_unhealthy_target_is_refused(gtm: Runtime, fleet: SiteFleet) -> None:
    fleet["dc-paris"].set_mode("down")
    for _ in range(200):
        mapping = gtm.registry.get("billing")
        states = {loc.site: loc.state.value for loc in mapping.locators} if mapping else {}
        if states.get("dc-paris") == "down":
            break
        await asyncio.sleep(0.02)
    run = await gtm.runbooks.begin("failover", "billing", "dc-paris", "test", "alice", FAST)
    done = await finished(gtm, run)
    assert done.state is RunState.REFUSED
    assert "dc-paris" in done.outcome and "--force" in done.outcome
    mapping = gtm.registry.get("billing")
    assert mapping is not None and mapping.active_site == "aws-use1"


async def test_target_failing_during_the_move_rolls_back(gtm: Runtime, fleet: SiteFleet) -> None:
    options = RunOptions(drain=3.0, hold=0.2, verify_timeout=2.0)
    run = await gtm.runbooks.begin("failover", "billing", "gcp-euw1", "test", "alice", options)
    await asyncio.sleep(0.5)
    fleet["gcp-euw1"].kill()
    done = await finished(gtm, run)
    assert done.state is RunState.ROLLED_BACK, done.outcome
    assert done.steps[-1].step is Step.ROLLBACK and done.steps[-1].ok
    mapping = gtm.registry.get("billing")
    assert mapping is not None and mapping.active_site == "aws-use1"
    assert gtm.registry.intents() == []


async def test_abort_rolls_back(gtm: Runtime) -> None:
    options = RunOptions(drain=5.0, hold=0.2, verify_timeout=3.0)
    run = await gtm.runbooks.begin("failover", "billing", "dc-paris", "test", "alice", options)
    await asyncio.sleep(0.6)
    await gtm.runbooks.abort(run.id, "bob")
    done = await finished(gtm, run)
    assert done.state is RunState.ROLLED_BACK
    assert "aborted" in done.outcome
    mapping = gtm.registry.get("billing")
    assert mapping is not None and mapping.active_site == "aws-use1"
    assert all(loc.priority != 1 or loc.site == "aws-use1" for loc in mapping.locators)


async def test_restart_during_drain_rolls_back(
    tmp_path: Path,
    ports: dict[str, int],
    fleet: SiteFleet,
    make_runtime: Callable[[dict[str, Any]], Runtime],
) -> None:
    doc = config_doc(tmp_path, ports)
    first = make_runtime(doc)
    await first.start()
    await wait_published(first)
    options = RunOptions(drain=5.0, hold=0.2, verify_timeout=5.0)
    run = await first.runbooks.begin("failover", "billing", "dc-paris", "test", "alice", options)
    await asyncio.sleep(1.0)
    assert first.runbooks.get(run.id).current is not None
    shifts = [i for i in first.registry.intents() if i.kind is IntentKind.SHIFT]
    assert shifts  # traffic is partly on dc-paris when gtm dies
    await first.stop()

    second = make_runtime(doc)
    await second.start()
    done = await finished(second, second.runbooks.get(run.id))
    assert done.state is RunState.ROLLED_BACK
    assert "restarted during drain" in done.outcome
    assert second.registry.intents() == []
    mapping = second.registry.get("billing")
    assert mapping is not None and mapping.active_site == "aws-use1"


async def test_dry_run_changes_nothing(gtm: Runtime) -> None:
    before = gtm.registry.get("billing")
    options = RunOptions(dry_run=True)
    run = await gtm.runbooks.begin("failover", "billing", "gcp-euw1", "look", "alice", options)
    assert run.state is RunState.DONE
    assert "would move billing from aws-use1 to gcp-euw1" in run.outcome
    assert gtm.registry.runs() == []
    assert gtm.registry.get("billing") == before


async def test_reason_is_required(gtm: Runtime) -> None:
    from gtm.errors import Rejected

    with pytest.raises(Rejected, match="reason is required"):
        await gtm.runbooks.begin("failover", "billing", "gcp-euw1", " ", "alice", FAST)
