"""The controller on the virtual-time loop: one clock, one recheck rule, a true timeline.

Every time here is exact virtual time, so the tests state the order of events and the
distance between them without any timing threshold.
"""

from __future__ import annotations

import pytest
from clockbed import PROBE, SERVICE, Bed, bed, sleep_until
from virtual_time import EPOCH, RunVirtual, VirtualClock

from gtm.core.health import HealthParams
from gtm.core.model import Event

KILL_AT = 10.3
"""When the active site dies: between its probes at 10.06 and 11.06 (the check's slots
sit 60 ms after each second, where its quick recheck on the way up left them)."""
FIRST_FAILED = 11.06
ORDER = ["first_failed_probe", "verdict", "decision", "published"]


def virtual(timeline: dict[str, float]) -> dict[str, float]:
    """A journaled timeline back in virtual seconds (the wall clock started at EPOCH)."""
    return {name: at - EPOCH for name, at in timeline.items()}


async def move_event(test_bed: Bed) -> Event:
    events = await test_bed.registry.events(SERVICE, kind="move")
    moves = [event for event in events if event.from_site is not None]
    assert len(moves) == 1, moves
    return moves[0]


def test_a_kill_is_journaled_in_order_first_probe_verdict_decision_published(
    run_virtual: RunVirtual,
) -> None:
    async def scenario() -> Event:
        async with bed() as test_bed:
            await sleep_until(KILL_AT)
            assert test_bed.registry.get(SERVICE).active_site == "site-a"
            test_bed.sites["site-a"].up = False
            await sleep_until(15.0)
            assert test_bed.registry.get(SERVICE).active_site == "site-b"
            return await move_event(test_bed)

    timeline = virtual(run_virtual(scenario()).timeline)

    assert sorted(ORDER, key=timeline.__getitem__) == ORDER
    assert timeline["first_failed_probe"] >= KILL_AT
    # The first probe after the kill fails; two quick rechecks 50 ms after each result
    # confirm it (fall 3), and the verdict is reached when the third one returns.
    assert timeline["first_failed_probe"] == pytest.approx(FIRST_FAILED)
    verdict = FIRST_FAILED + 3 * PROBE + 2 * HealthParams().recheck_interval
    assert timeline["verdict"] == pytest.approx(verdict)


def test_the_decision_follows_the_verdict_at_once(run_virtual: RunVirtual) -> None:
    async def scenario() -> tuple[Event, list[tuple[str, str, float]]]:
        async with bed() as test_bed:
            await sleep_until(KILL_AT)
            test_bed.sites["site-a"].up = False
            await sleep_until(15.0)
            return await move_event(test_bed), test_bed.verdicts

    event, verdicts = run_virtual(scenario())

    # Virtual time moves only when every task waits on a timer: equal times mean the
    # decision and its publication waited for no tick, batch window or sleep.
    down = [at for key, verdict, at in verdicts if key == f"{SERVICE}@site-a" and verdict == "down"]
    assert event.timeline["verdict"] == EPOCH + down[0]
    assert event.timeline["decision"] == event.timeline["verdict"]
    assert event.timeline["published"] == event.timeline["verdict"]


def test_a_wall_clock_step_does_not_reorder_the_timeline(run_virtual: RunVirtual) -> None:
    clock = VirtualClock()

    async def scenario() -> Event:
        async with bed(clock=clock) as test_bed:
            await sleep_until(KILL_AT)
            test_bed.sites["site-a"].up = False
            # The wall clock steps back 2 s between the first failed probe and the verdict.
            await sleep_until(FIRST_FAILED + PROBE / 2)
            clock.epoch -= 2.0
            await sleep_until(15.0)
            return await move_event(test_bed)

    timeline = run_virtual(scenario()).timeline

    assert sorted(ORDER, key=timeline.__getitem__) == ORDER
    verdict = 3 * PROBE + 2 * HealthParams().recheck_interval
    assert timeline["verdict"] - timeline["first_failed_probe"] == pytest.approx(verdict)


def test_rechecks_follow_the_cores_rule_alone(run_virtual: RunVirtual) -> None:
    health = HealthParams(fall=5)

    async def scenario() -> list[float]:
        async with bed(health) as test_bed:
            await sleep_until(KILL_AT)
            test_bed.sites["site-a"].up = False
            await sleep_until(13.5)
            return test_bed.sites["site-a"].starts

    starts = run_virtual(scenario())

    # fall 5: the first failure and four quick rechecks, each asked for by the core's
    # recheck_delay; once down, the interval again (from the last slot the check kept).
    step = PROBE + health.recheck_interval
    quick = [FIRST_FAILED + n * step for n in range(5)]
    after = quick[-1] + 1
    assert [at for at in starts if 10.5 < at < 13.5] == pytest.approx([*quick, after, after + 1])


def test_damping_decays_on_the_monotonic_clock(run_virtual: RunVirtual) -> None:
    health = HealthParams(damping_half_life=10.0)
    clock = VirtualClock()

    async def scenario() -> float:
        async with bed(health, clock=clock) as test_bed:
            await sleep_until(KILL_AT)
            test_bed.sites["site-a"].up = False
            await sleep_until(12.0)
            # A wall clock that jumps a day ahead must not decay the penalty.
            clock.epoch += 86_400.0
            await sleep_until(12.5)
            return test_bed.controller.health(f"{SERVICE}@site-a").penalty_at

    penalty_at = run_virtual(scenario())

    # Stamped with the monotonic start of the probe that brought the verdict (the third),
    # so it decays as loop time passes, whatever the wall clock does.
    third = FIRST_FAILED + 2 * (PROBE + health.recheck_interval)
    assert penalty_at == pytest.approx(third)
