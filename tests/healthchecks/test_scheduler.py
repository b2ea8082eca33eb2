"""Scheduler behaviour on a virtual clock: spread, cadence, rechecks, overrides, scale."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from healthchecks.result import Result
from healthchecks.scheduler import Check, Scheduler

if TYPE_CHECKING:
    from virtual_time import RunVirtual


class FixedRandom(random.Random):
    """Hands out the given first-probe offsets (as fractions of the interval) in order."""

    def __init__(self, values: Iterable[float]) -> None:
        super().__init__(0)
        self.values = list(values)

    def random(self) -> float:
        return self.values.pop(0)


@dataclass
class FakeProber:
    """Takes ``duration`` seconds of loop time and passes or fails as scripted."""

    outcomes: list[bool] = field(default_factory=list)
    duration: float = 0.0
    default: bool = True
    starts: list[float] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0

    async def probe(self, timeout: float) -> Result:
        self.starts.append(asyncio.get_running_loop().time())
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.duration)
        finally:
            self.in_flight -= 1
        ok = self.outcomes.pop(0) if self.outcomes else self.default
        return Result(ok, self.duration, "scripted", 0.0, 0.0)


@dataclass
class Recorder:
    """An ``on_result`` that records results and returns a fixed delay."""

    delay: float | None = None
    results: list[tuple[str, Result]] = field(default_factory=list)

    def __call__(self, check: Check, result: Result) -> float | None:
        self.results.append((check.key, result))
        return self.delay


async def run_for(scheduler: Scheduler, seconds: float) -> None:
    await scheduler.start()
    try:
        await asyncio.sleep(seconds)
    finally:
        await scheduler.stop()


def test_first_probes_are_spread_across_the_interval(run_virtual: RunVirtual) -> None:
    prober = FakeProber()
    scheduler = Scheduler(Recorder(), rng=FixedRandom([0.5, 0.0, 0.9]))
    for key in "abc":
        scheduler.add(Check(key, prober, interval=10, timeout=1))

    run_virtual(run_for(scheduler, 9.5))

    assert prober.starts == [0.0, 5.0, 9.0]


def test_many_checks_do_not_fire_together(run_virtual: RunVirtual) -> None:
    prober = FakeProber()
    scheduler = Scheduler(Recorder(), rng=random.Random(7))
    for index in range(100):
        scheduler.add(Check(f"c{index}", prober, interval=10, timeout=1))

    run_virtual(run_for(scheduler, 9.999))

    assert len(prober.starts) == 100
    assert all(0 <= start < 10 for start in prober.starts)
    assert len(set(prober.starts)) == 100


def test_cadence_is_measured_from_probe_start(run_virtual: RunVirtual) -> None:
    prober = FakeProber(duration=0.3)
    scheduler = Scheduler(Recorder(), rng=FixedRandom([0.0]))
    scheduler.add(Check("a", prober, interval=1, timeout=0.5))

    run_virtual(run_for(scheduler, 10.5))

    assert prober.starts == pytest.approx([float(second) for second in range(11)])


def test_short_interval_keeps_its_count(run_virtual: RunVirtual) -> None:
    prober = FakeProber(duration=0.01)
    recorder = Recorder()
    scheduler = Scheduler(recorder, rng=FixedRandom([0.0]))
    scheduler.add(Check("a", prober, interval=0.05, timeout=0.04))

    run_virtual(run_for(scheduler, 1.0))

    # Starts at 0, 0.05, ..., 0.95: the probe's own 10 ms never stretches the cadence.
    assert len(recorder.results) == 20


def test_slow_probe_never_overlaps_itself(run_virtual: RunVirtual) -> None:
    prober = FakeProber(duration=2.5)
    scheduler = Scheduler(Recorder(), rng=FixedRandom([0.0]))
    scheduler.add(Check("a", prober, interval=1, timeout=3))

    run_virtual(run_for(scheduler, 8))

    assert prober.most_in_flight == 1
    assert prober.starts == pytest.approx([0.0, 2.5, 5.0, 7.5])


@dataclass
class Rechecker:
    """An ``on_result`` that asks for a quick re-probe after each of the first failures."""

    quick: int
    delay: float = 1.0
    asked: int = 0

    def __call__(self, check: Check, result: Result) -> float | None:
        if result.ok or self.asked >= self.quick:
            return None
        self.asked += 1
        return self.delay


def test_quick_rechecks_are_the_callers_decision(run_virtual: RunVirtual) -> None:
    prober = FakeProber(outcomes=[True, False, False, False, False, True, False])
    scheduler = Scheduler(Rechecker(quick=2), rng=FixedRandom([0.0]))
    scheduler.add(Check("a", prober, interval=10, timeout=1))

    run_virtual(run_for(scheduler, 43.5))

    # ok, fail, recheck, recheck (both asked for), then the interval: the caller said no more.
    assert prober.starts == pytest.approx([0, 10, 11, 12, 22, 32, 42])


def test_failures_keep_the_cadence_unless_the_caller_asks(run_virtual: RunVirtual) -> None:
    prober = FakeProber(default=False)
    scheduler = Scheduler(Recorder(), rng=FixedRandom([0.0]))
    scheduler.add(Check("a", prober, interval=10, timeout=1))

    run_virtual(run_for(scheduler, 25))

    assert prober.starts == pytest.approx([0, 10, 20])


def test_results_are_stamped_on_the_loops_clock(run_virtual: RunVirtual) -> None:
    prober = FakeProber(duration=0.25)
    recorder = Recorder()
    scheduler = Scheduler(recorder, rng=FixedRandom([0.5]))
    scheduler.add(Check("a", prober, interval=2, timeout=1))

    run_virtual(run_for(scheduler, 3.5))

    stamps = [(result.started_at, result.finished_at) for _key, result in recorder.results]
    assert stamps == [pytest.approx((1.0, 1.25)), pytest.approx((3.0, 3.25))]


def test_delay_from_on_result_overrides_and_counts_from_arrival(
    run_virtual: RunVirtual,
) -> None:
    prober = FakeProber(duration=0.1)
    scheduler = Scheduler(Recorder(delay=0.25), rng=FixedRandom([0.0]))
    scheduler.add(Check("a", prober, interval=10, timeout=1))

    run_virtual(run_for(scheduler, 1.2))

    assert prober.starts == pytest.approx([0.0, 0.35, 0.7, 1.05])


def test_every_result_reaches_on_result_with_its_check(run_virtual: RunVirtual) -> None:
    recorder = Recorder()
    scheduler = Scheduler(recorder, rng=FixedRandom([0.0, 0.5]))
    scheduler.add(Check("a", FakeProber(default=True), interval=1, timeout=1))
    scheduler.add(Check("b", FakeProber(default=False), interval=1, timeout=1))

    run_virtual(run_for(scheduler, 1.9))

    assert [(key, result.ok) for key, result in recorder.results] == [
        ("a", True),
        ("b", False),
        ("a", True),
        ("b", False),
    ]


def test_on_result_error_is_logged_and_the_check_goes_on(
    run_virtual: RunVirtual, caplog: pytest.LogCaptureFixture
) -> None:
    prober = FakeProber()

    def explode(check: Check, result: Result) -> float | None:
        raise RuntimeError("boom")

    scheduler = Scheduler(explode, rng=FixedRandom([0.0]))
    scheduler.add(Check("a", prober, interval=1, timeout=1))

    with caplog.at_level(logging.ERROR, logger="healthchecks.scheduler"):
        run_virtual(run_for(scheduler, 2.5))

    assert prober.starts == pytest.approx([0, 1, 2])
    assert "check 'a': on_result raised" in caplog.text


@dataclass
class BrokenProber:
    """Breaks the prober contract by raising."""

    calls: int = 0

    async def probe(self, timeout: float) -> Result:
        self.calls += 1
        raise ValueError("bad config")


def test_prober_error_becomes_a_failed_result(
    run_virtual: RunVirtual, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()
    prober = BrokenProber()
    scheduler = Scheduler(recorder, rng=FixedRandom([0.0]))
    scheduler.add(Check("a", prober, interval=1, timeout=1))

    with caplog.at_level(logging.ERROR, logger="healthchecks.scheduler"):
        run_virtual(run_for(scheduler, 1.5))

    assert prober.calls == 2
    assert [result.reason for _, result in recorder.results] == [
        "prober raised ValueError: bad config"
    ] * 2
    assert not any(result.ok for _, result in recorder.results)
    assert "check 'a': prober raised" in caplog.text


@dataclass
class HangingProber:
    """Breaks the prober contract by ignoring its timeout."""

    async def probe(self, timeout: float) -> Result:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def test_prober_ignoring_its_timeout_is_cut_off(run_virtual: RunVirtual) -> None:
    recorder = Recorder()
    scheduler = Scheduler(recorder, rng=FixedRandom([0.0]))
    scheduler.add(Check("a", HangingProber(), interval=10, timeout=1))

    run_virtual(run_for(scheduler, 5))

    assert [(result.ok, result.reason) for _, result in recorder.results] == [
        (False, "prober overran its 1.000s timeout")
    ]


def test_removed_check_is_not_probed_again(run_virtual: RunVirtual) -> None:
    kept, dropped = FakeProber(), FakeProber(duration=0.5)
    recorder = Recorder()
    scheduler = Scheduler(recorder, rng=FixedRandom([0.0, 0.0]))
    scheduler.add(Check("kept", kept, interval=1, timeout=1))
    scheduler.add(Check("dropped", dropped, interval=1, timeout=1))

    async def scenario() -> None:
        await scheduler.start()
        await asyncio.sleep(1.2)  # "dropped" is mid-probe
        scheduler.remove("dropped")
        await asyncio.sleep(3)
        await scheduler.stop()

    run_virtual(scenario())

    assert dropped.starts == pytest.approx([0, 1])
    assert [key for key, _ in recorder.results].count("dropped") == 1
    assert kept.starts == pytest.approx([0, 1, 2, 3, 4])
    assert list(scheduler.checks) == ["kept"]


def test_removing_an_unknown_check_is_an_error() -> None:
    with pytest.raises(KeyError):
        Scheduler(Recorder()).remove("nope")


def test_check_added_while_running_is_spread_from_the_add(run_virtual: RunVirtual) -> None:
    prober = FakeProber()
    scheduler = Scheduler(Recorder(), rng=FixedRandom([0.4]))

    async def scenario() -> None:
        await scheduler.start()
        await asyncio.sleep(3)
        scheduler.add(Check("late", prober, interval=10, timeout=1))
        await asyncio.sleep(14.5)
        await scheduler.stop()

    run_virtual(scenario())

    assert prober.starts == pytest.approx([7, 17])


def test_adding_the_same_key_replaces_the_check(run_virtual: RunVirtual) -> None:
    old, new = FakeProber(), FakeProber()
    scheduler = Scheduler(Recorder(), rng=FixedRandom([0.0, 0.0]))

    async def scenario() -> None:
        await scheduler.start()
        scheduler.add(Check("a", old, interval=1, timeout=1))
        await asyncio.sleep(1.5)
        scheduler.add(Check("a", new, interval=1, timeout=1))
        await asyncio.sleep(1.2)
        await scheduler.stop()

    run_virtual(scenario())

    assert old.starts == pytest.approx([0, 1])
    assert new.starts == pytest.approx([1.5, 2.5])
    assert scheduler.checks["a"].prober is new


def test_stop_ends_every_task_and_can_be_repeated(run_virtual: RunVirtual) -> None:
    prober = FakeProber(duration=0.5)
    recorder = Recorder()
    scheduler = Scheduler(recorder, rng=random.Random(1))
    for index in range(20):
        scheduler.add(Check(f"c{index}", prober, interval=1, timeout=1))

    async def scenario() -> tuple[int, set[asyncio.Task[object]]]:
        await scheduler.start()
        await asyncio.sleep(2.2)
        await scheduler.stop()
        await scheduler.stop()
        seen = len(recorder.results)
        await asyncio.sleep(5)
        return seen, asyncio.all_tasks() - {asyncio.current_task()}

    seen, leftover = run_virtual(scenario())

    assert leftover == set()
    assert not scheduler.running
    assert len(recorder.results) == seen
    assert prober.in_flight == 0


def test_stopped_scheduler_starts_again(run_virtual: RunVirtual) -> None:
    prober = FakeProber()
    scheduler = Scheduler(Recorder(), rng=FixedRandom([0.0, 0.0]))
    scheduler.add(Check("a", prober, interval=1, timeout=1))

    run_virtual(run_for(scheduler, 1.5))
    run_virtual(run_for(scheduler, 1.5))

    assert len(prober.starts) == 4


def test_concurrent_probes_are_bounded(run_virtual: RunVirtual) -> None:
    prober = FakeProber(duration=5)
    recorder = Recorder()
    scheduler = Scheduler(recorder, rng=FixedRandom([0.0] * 10), max_concurrency=3)
    for index in range(10):
        scheduler.add(Check(f"c{index}", prober, interval=60, timeout=6))

    run_virtual(run_for(scheduler, 30))

    assert prober.most_in_flight == 3
    assert len(recorder.results) == 10


def test_a_probe_kept_waiting_by_the_bound_is_late_by_its_wait(run_virtual: RunVirtual) -> None:
    slow, quick = FakeProber(duration=2), FakeProber()
    recorder = Recorder()
    scheduler = Scheduler(recorder, rng=FixedRandom([0.0, 0.0]), max_concurrency=1)
    scheduler.add(Check("slow", slow, interval=10, timeout=3))
    scheduler.add(Check("quick", quick, interval=10, timeout=3))

    run_virtual(run_for(scheduler, 3))

    assert quick.starts == [2.0]
    assert [round(r.late, 6) for key, r in recorder.results if key == "quick"] == [2.0]


def test_removing_a_probe_in_flight_frees_its_slot(run_virtual: RunVirtual) -> None:
    stuck, waiting = FakeProber(duration=100), FakeProber()
    scheduler = Scheduler(Recorder(), rng=FixedRandom([0.0, 0.0]), max_concurrency=1)
    scheduler.add(Check("stuck", stuck, interval=200, timeout=150))
    scheduler.add(Check("waiting", waiting, interval=200, timeout=150))

    async def scenario() -> None:
        await scheduler.start()
        await asyncio.sleep(1)
        scheduler.remove("stuck")
        await asyncio.sleep(1)
        await scheduler.stop()

    run_virtual(scenario())

    assert (stuck.starts, waiting.starts) == ([0.0], [1.0])


def test_idle_checks_hold_no_task(run_virtual: RunVirtual) -> None:
    scheduler = Scheduler(Recorder(), rng=random.Random(3))
    for index in range(1000):
        scheduler.add(Check(f"c{index}", FakeProber(), interval=10, timeout=1))

    async def scenario() -> int:
        await scheduler.start()
        await asyncio.sleep(0.001)
        # Every check waits in the one queue; only a probe being run is a task.
        tasks = len(asyncio.all_tasks()) - 1
        await scheduler.stop()
        return tasks

    assert run_virtual(scenario()) <= 1


def test_two_thousand_checks_all_keep_their_cadence(run_virtual: RunVirtual) -> None:
    prober = FakeProber()
    recorder = Recorder()
    scheduler = Scheduler(recorder, rng=random.Random(42))
    for index in range(2000):
        scheduler.add(Check(f"c{index}", prober, interval=1, timeout=0.5))

    # Offsets lie in [0, 1): the fifth probe of every check starts before 5 s, the sixth
    # at or after it.
    run_virtual(run_for(scheduler, 5))

    per_check: dict[str, int] = {}
    for key, _ in recorder.results:
        per_check[key] = per_check.get(key, 0) + 1
    assert len(recorder.results) == 10_000
    assert set(per_check.values()) == {5}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"interval": 0}, "interval 0 must be positive"),
        ({"timeout": -1}, "timeout -1 must be positive"),
    ],
)
def test_checks_that_would_spin_are_refused(fields: dict[str, float], message: str) -> None:
    values: dict[str, float] = {"interval": 1, "timeout": 1, **fields}
    with pytest.raises(ValueError, match=message):
        Check("a", FakeProber(), **values)


def test_concurrency_must_allow_a_probe() -> None:
    with pytest.raises(ValueError, match="max_concurrency 0"):
        Scheduler(Recorder(), max_concurrency=0)


def test_an_expedited_check_is_probed_now_and_keeps_its_cadence_from_there(
    run_virtual: RunVirtual,
) -> None:
    prober = FakeProber(duration=0.1)
    scheduler = Scheduler(Recorder(), rng=FixedRandom([0.9]))
    scheduler.add(Check("a", prober, interval=10, timeout=1))

    async def scenario() -> None:
        await scheduler.start()
        try:
            await asyncio.sleep(2.0)
            scheduler.expedite("a")
            await asyncio.sleep(0.05)
            scheduler.expedite("a")  # being probed: nothing more
            scheduler.expedite("gone")  # an unknown key: nothing
            await asyncio.sleep(11.0)
        finally:
            await scheduler.stop()

    run_virtual(scenario())

    assert prober.starts == pytest.approx([2.0, 12.0])


def test_a_stopped_scheduler_expedites_nothing(run_virtual: RunVirtual) -> None:
    prober = FakeProber()
    scheduler = Scheduler(Recorder(), rng=FixedRandom([0.5]))
    scheduler.add(Check("a", prober, interval=10, timeout=1))
    scheduler.expedite("a")

    run_virtual(run_for(scheduler, 4.0))

    assert prober.starts == []
