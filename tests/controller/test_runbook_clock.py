"""Planned runs on the virtual-time loop: waits measured on loop time, stamps in wall time."""

from __future__ import annotations

import asyncio

import pytest
from clockbed import SERVICE, bed, sleep_until
from virtual_time import EPOCH, RunVirtual, VirtualClock

from gtm.core.model import Event
from gtm.core.runbook import Run, RunKind, RunOptions, RunState


def test_a_planned_failover_holds_for_its_loop_time_and_journals_wall_time(
    run_virtual: RunVirtual,
) -> None:
    clock = VirtualClock()

    async def scenario() -> tuple[Run, Event, float]:
        async with bed(clock=clock) as test_bed:
            await sleep_until(5.0)
            run = await test_bed.runbooks.begin(
                RunKind.FAILOVER, SERVICE, "site-c", "patching", "ops", RunOptions(hold=30.0)
            )
            await sleep_until(10.0)
            # The wall clock steps a day ahead during the hold: the hold must not end early.
            clock.epoch += 86_400.0
            run = await test_bed.runbooks.finished(run)
            ended = test_bed.clock.monotonic()
            # The run is journaled once it is stored as finished: wait for its event.
            while not (events := await test_bed.registry.events(SERVICE, kind="run")):
                await asyncio.sleep(0.01)
            return run, events[-1], ended

    run, event, ended = run_virtual(scenario())

    assert run.state is RunState.DONE, run.outcome
    assert ended >= 5.0 + 30.0
    hold = next(record for record in run.steps if record.step.value == "hold")
    assert hold.started_at == pytest.approx(EPOCH + 5.0, abs=1.0)
    assert hold.finished_at is not None
    assert hold.finished_at - EPOCH - 86_400.0 == pytest.approx(ended, abs=0.5)
    assert event.timeline["hold.end"] == hold.finished_at
