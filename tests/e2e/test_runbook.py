"""Planned failovers end to end: steps, refusal, rollback, abort, restart, evacuation."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gtm.core.model import Intent, IntentKind, Mapping
from gtm.core.runbook import Run, RunKind, RunOptions, RunState, Step
from gtm.demo.sites import SiteFleet
from gtm.errors import SafetyRefused
from gtm.runtime import Runtime

from .support import TOKEN, config_doc, wait_published

FAILOVER = RunKind.FAILOVER

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
    run = await gtm.runbooks.begin(
        RunKind.FAILOVER, "billing", "dc-paris", "patching", "alice", options
    )
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
        run = await gtm.runbooks.begin(
            RunKind.FAILOVER, "billing", "gcp-euw1", "ramp", "bob", options
        )
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
    run = await gtm.runbooks.begin(FAILOVER, "billing", "dc-paris", "test", "alice", FAST)
    done = await finished(gtm, run)
    assert done.state is RunState.REFUSED
    assert "dc-paris" in done.outcome and "--force" in done.outcome
    mapping = gtm.registry.get("billing")
    assert mapping is not None and mapping.active_site == "aws-use1"


async def test_target_failing_during_the_move_rolls_back(gtm: Runtime, fleet: SiteFleet) -> None:
    options = RunOptions(drain=3.0, hold=0.2, verify_timeout=2.0)
    run = await gtm.runbooks.begin(
        RunKind.FAILOVER, "billing", "gcp-euw1", "test", "alice", options
    )
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
    run = await gtm.runbooks.begin(
        RunKind.FAILOVER, "billing", "dc-paris", "test", "alice", options
    )
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
    run = await first.runbooks.begin(
        RunKind.FAILOVER, "billing", "dc-paris", "test", "alice", options
    )
    assert run.owner == first.config.instance
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
    run = await gtm.runbooks.begin(
        RunKind.FAILOVER, "billing", "gcp-euw1", "look", "alice", options
    )
    assert run.state is RunState.DONE
    assert "would move billing from aws-use1 to gcp-euw1" in run.outcome
    assert gtm.registry.runs() == []
    assert gtm.registry.get("billing") == before


async def test_reason_is_required(gtm: Runtime) -> None:
    from gtm.errors import Rejected

    with pytest.raises(Rejected, match="reason is required"):
        await gtm.runbooks.begin(FAILOVER, "billing", "gcp-euw1", " ", "alice", FAST)


# -- intents against runs, and the preview ------------------------------------------------


async def standing(gtm: Runtime, kind: IntentKind, site: str | None, **fields: Any) -> Intent:
    """Store an operator's intent about ``billing`` and wait until the mapping follows it."""
    stored = await gtm.registry.add_intent(
        Intent("", kind, fields.pop("service", "billing"), site, "alice", "patching", **fields)
    )
    gtm.controller.refresh()
    return stored


async def active_on(gtm: Runtime, site: str, timeout: float = 5.0) -> Mapping:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        mapping = gtm.registry.get("billing")
        if mapping is not None and mapping.active_site == site:
            return mapping
        assert asyncio.get_running_loop().time() < deadline, f"billing not on {site}: {mapping}"
        await asyncio.sleep(0.02)


async def test_failover_against_a_standing_pin_is_refused_naming_it(gtm: Runtime) -> None:
    pin = await standing(gtm, IntentKind.PIN, "dc-paris")
    await active_on(gtm, "dc-paris")
    with pytest.raises(SafetyRefused) as refused:
        await gtm.runbooks.begin(FAILOVER, "billing", "aws-use1", "x", "bob", FAST)
    message = str(refused.value)
    assert f"intent {pin.id}" in message and "alice" in message and "patching" in message
    assert "--replace-intents" in message
    assert gtm.registry.runs() == []
    assert (await active_on(gtm, "dc-paris")).active_site == "dc-paris"


async def test_failover_replacing_the_pin_moves_and_stays(gtm: Runtime) -> None:
    pin = await standing(gtm, IntentKind.PIN, "dc-paris")
    await active_on(gtm, "dc-paris")
    options = dataclasses.replace(FAST, replace_intents=True)
    run = await gtm.runbooks.begin(FAILOVER, "billing", "aws-use1", "x", "bob", options)
    done = await finished(gtm, run)
    assert done.state is RunState.DONE, done.outcome
    switch = next(r for r in done.steps if r.step is Step.SWITCH)
    assert f"replaced pin of billing to dc-paris (intent {pin.id}, by alice" in switch.detail
    assert gtm.registry.intents() == []
    await asyncio.sleep(0.5)  # nothing moves it back
    mapping = gtm.registry.get("billing")
    assert mapping is not None and mapping.active_site == "aws-use1"


async def test_failover_of_a_frozen_service_is_refused_naming_the_freeze(gtm: Runtime) -> None:
    freeze = await standing(gtm, IntentKind.FREEZE, None)
    with pytest.raises(SafetyRefused, match=f"freeze of billing \\(intent {freeze.id}, by alice"):
        await gtm.runbooks.begin(FAILOVER, "billing", "gcp-euw1", "x", "bob", FAST)
    everyone = await standing(gtm, IntentKind.FREEZE, None, service=None)
    options = dataclasses.replace(FAST, replace_intents=True)
    with pytest.raises(SafetyRefused, match=f"freeze of every service \\(intent {everyone.id}"):
        await gtm.runbooks.begin(FAILOVER, "billing", "gcp-euw1", "x", "bob", options)


async def test_failover_without_target_never_picks_a_drained_site(gtm: Runtime) -> None:
    await standing(gtm, IntentKind.DRAIN, "gcp-euw1")  # the next site after aws-use1
    run = await gtm.runbooks.begin(FAILOVER, "billing", None, "x", "bob", FAST)
    assert run.to_site == "dc-paris"
    done = await finished(gtm, run)
    assert done.state is RunState.DONE, done.outcome
    await asyncio.sleep(0.5)
    mapping = gtm.registry.get("billing")
    assert mapping is not None and mapping.active_site == "dc-paris"
    [event] = await gtm.registry.events(service="billing", kind="run")
    moves = await gtm.registry.events(service="billing", kind="move")
    assert event.to_site == "dc-paris" and all(m.to_site != "gcp-euw1" for m in moves)


async def test_failover_to_a_drained_site_is_refused(gtm: Runtime) -> None:
    drain = await standing(gtm, IntentKind.DRAIN, "gcp-euw1", service=None)
    options = dataclasses.replace(FAST, replace_intents=True)
    with pytest.raises(SafetyRefused, match=f"never targets a drained site.*{drain.id}"):
        await gtm.runbooks.begin(FAILOVER, "billing", "gcp-euw1", "x", "bob", options)


async def test_dry_run_preview_equals_the_mapping_the_run_publishes(gtm: Runtime) -> None:
    # gcp-euw1 then, after it, dc-paris and aws-use1: not the locators' order.
    look = dataclasses.replace(FAST, dry_run=True)
    preview = await gtm.runbooks.begin(FAILOVER, "billing", "gcp-euw1", "x", "bob", look)
    expected = gtm.runbooks.outcome(preview)
    assert "priorities gcp-euw1 1, dc-paris 2, aws-use1 3" in preview.outcome
    run = await gtm.runbooks.begin(FAILOVER, "billing", "gcp-euw1", "x", "bob", FAST)
    assert (await finished(gtm, run)).state is RunState.DONE
    published = gtm.registry.get("billing")
    assert published is not None

    def seen(mapping: Mapping) -> tuple[object, ...]:
        ranks = {loc.id: (loc.priority, loc.weight) for loc in mapping.locators}
        return mapping.active_site, mapping.epoch, mapping.ttl, mapping.action, ranks

    assert seen(expected) == seen(published)
    assert f"epoch {published.epoch - 1} -> {published.epoch}" in preview.outcome


async def test_pin_to_a_down_site_is_refused_without_force(gtm: Runtime, fleet: SiteFleet) -> None:
    fleet["dc-paris"].set_mode("down")
    for _ in range(200):
        if not gtm.runbooks.site_health("billing")["dc-paris"].healthy:
            break
        await asyncio.sleep(0.02)
    url = f"http://127.0.0.1:{gtm.api_port}/v1/intents"
    pin = {"kind": "pin", "service": "billing", "site": "dc-paris", "why": "patching"}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=pin, headers=headers) as answer:
            assert answer.status == 409
            doc = await answer.json()
        assert doc["error"] == "refused" and doc["site"] == "dc-paris"
        assert "dc-paris unhealthy: 0/1 locators up" in doc["message"]
        assert gtm.registry.intents() == []
        async with http.post(url, json={**pin, "force": True}, headers=headers) as answer:
            assert answer.status == 201
    # Forced, traffic goes where the mapping says, although the site is down.
    mapping = await active_on(gtm, "dc-paris")
    assert {loc.site for loc in mapping.best()} == {"dc-paris"}
