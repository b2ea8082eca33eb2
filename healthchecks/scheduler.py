"""Runs thousands of checks, each on its own cadence, without them all firing at once.

The checks wait in one queue ordered by when each is due, and one timer on the event
loop's clock wakes the scheduler at the earliest; it then starts every probe that is due
by that moment, however many. Thousands of checks therefore cost one timer, not one
sleeping task and one timer each, and a loop that woke late starts everything it owes at
once. A bound on the probes in flight keeps a burst of slow targets from opening
thousands of sockets at the same moment: a due probe waits for a free slot, and the wait
counts as lateness. Whoever owns the scheduler decides, through the value ``on_result``
returns, when each check is probed next (a quick recheck of an unconfirmed failure is
such a decision); without one the check keeps its cadence.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

from healthchecks.clock import Clock, LoopClock
from healthchecks.reasons import describe_local_fault
from healthchecks.result import Prober, Result, Stopwatch

log = logging.getLogger(__name__)

OVERRUN_GRACE = 0.5
"""A prober that breaks its promise to honour the timeout is given this fraction of the
timeout again, plus ``OVERRUN_FLOOR`` seconds, to finish before the scheduler cancels it."""

OVERRUN_FLOOR = 0.1


@dataclass(frozen=True)
class Check:
    """One target to probe, and how often.

    Attributes:
        key: Unique name of the check within its scheduler.
        prober: What probes the target.
        interval: Seconds from the start of one probe to the start of the next.
        timeout: Seconds each probe is allowed.
    """

    key: str
    prober: Prober
    interval: float
    timeout: float

    def __post_init__(self) -> None:
        """Refuse intervals and timeouts that would spin or never run."""
        if self.interval <= 0:
            raise ValueError(f"check {self.key!r}: interval {self.interval} must be positive")
        if self.timeout <= 0:
            raise ValueError(f"check {self.key!r}: timeout {self.timeout} must be positive")


OnResult = Callable[[Check, Result], float | None]
"""Receives every result; returns the delay until the check's next probe, or None."""


class Scheduler:
    """Probes every added check on its cadence and hands each result to ``on_result``.

    Timing rules:

    * Spread: a check's first probe runs at a random offset in ``[0, interval)`` after
      ``start`` (or after ``add`` once started).
    * Cadence: the next probe is due ``interval`` after the previous one was due to
      start, so probe duration does not stretch the cadence; a probe that overruns its
      slot is followed at once by the next, never overlapped by it.
    * Override: when ``on_result`` returns a number, the next probe runs that many
      seconds after the result arrived. The scheduler has no recheck rule of its own:
      when to re-probe a failure quickly is the caller's judgement, returned here.
    * Expedite: :meth:`expedite` moves a check's next probe to now, when the caller
      judges it should be probed sooner (its site is suspected lost).
    * Time: every probe is stamped (``started_at``, ``finished_at``, and ``late``: how
      long after its slot it started) and every slot is computed on the injected clock,
      whose monotonic time is the loop's.

    ``on_result`` runs synchronously on the event loop and should be quick. An exception
    from it or from a prober is logged and the check carries on. All methods must be
    called from the event loop the scheduler runs on.
    """

    def __init__(
        self,
        on_result: OnResult,
        *,
        rng: random.Random | None = None,
        max_concurrency: int = 256,
        clock: Clock | None = None,
    ) -> None:
        """Create a stopped scheduler with no checks.

        Args:
            on_result: Called with every result; see the class docstring for the delay
                it may return.
            rng: Source of the first-probe offsets; seed one for reproducible runs.
            max_concurrency: Most probes in flight at once.
            clock: Where the time is read; the loop's clock unless given.
        """
        if max_concurrency < 1:
            raise ValueError(f"scheduler: max_concurrency {max_concurrency} must be at least 1")
        self._on_result = on_result
        self._rng = rng if rng is not None else random.Random()
        self._clock: Clock = clock if clock is not None else LoopClock()
        self._max_concurrency = max_concurrency
        self._checks: dict[str, Check] = {}
        # Due checks: (due, ticket, check); an entry counts only while its ticket is the
        # one in _queued, so replacing or removing a check never searches the heap.
        self._queue: list[tuple[float, int, Check]] = []
        self._queued: dict[str, int] = {}
        self._tickets = itertools.count()
        self._probing: dict[str, asyncio.Task[None]] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.TimerHandle | None = None
        self._wake_at = math.inf

    @property
    def checks(self) -> Mapping[str, Check]:
        """The checks by key, as a read-only snapshot."""
        return MappingProxyType(dict(self._checks))

    @property
    def running(self) -> bool:
        """Whether the scheduler has been started and not stopped since."""
        return self._loop is not None

    def add(self, check: Check) -> None:
        """Schedule a check, replacing any check with the same key.

        Args:
            check: The check; once started, its first probe runs at a random offset
                within its interval.
        """
        if check.key in self._checks:
            self.remove(check.key)
        self._checks[check.key] = check
        if self._loop is not None:
            self._enqueue(check, self._first_due(check))

    def remove(self, key: str) -> None:
        """Stop probing a check; a probe in flight is cancelled and reports nothing.

        Args:
            key: The key of the check.

        Raises:
            KeyError: No check has that key.
        """
        del self._checks[key]
        self._queued.pop(key, None)
        task = self._probing.pop(key, None)
        if task is not None:
            task.cancel()
            # Kept until done so that stop() can wait for it too.
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)
            self._arm()  # its slot is free for a check kept waiting by the bound

    def expedite(self, key: str) -> None:
        """Probe a check now rather than at its next slot; its cadence carries on from now.

        Does nothing while the scheduler is stopped, for a check being probed, or for a
        key it does not have (the check may have been removed since it was named).

        Args:
            key: The key of the check.
        """
        check = self._checks.get(key)
        if check is None or self._loop is None or key in self._probing:
            return
        self._enqueue(check, self._clock.monotonic())

    async def start(self) -> None:
        """Start probing every check; does nothing when already started."""
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        for check in self._checks.values():
            self._enqueue(check, self._first_due(check))

    async def stop(self) -> None:
        """Cancel every probe and wait until all have ended; the checks stay added.

        Idempotent; the scheduler can be started again afterwards.
        """
        if self._wake is not None:
            self._wake.cancel()
        self._wake, self._wake_at = None, math.inf
        self._queue.clear()
        self._queued.clear()
        tasks = [*self._probing.values(), *self._retiring]
        self._probing.clear()
        self._loop = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _first_due(self, check: Check) -> float:
        return self._clock.monotonic() + self._rng.random() * check.interval

    def _enqueue(self, check: Check, due: float) -> None:
        ticket = next(self._tickets)
        self._queued[check.key] = ticket
        heapq.heappush(self._queue, (due, ticket, check))
        self._arm()

    def _arm(self) -> None:
        """Set the one timer for the earliest due check, unless it is already set sooner."""
        if self._loop is None or not self._queue or len(self._probing) >= self._max_concurrency:
            return
        due = self._queue[0][0]
        if due < self._wake_at:
            if self._wake is not None:
                self._wake.cancel()
            self._wake_at = due
            self._wake = self._loop.call_at(due, self._fire)

    def _fire(self) -> None:
        """Start every probe due by now, as far as the bound on probes in flight allows."""
        self._wake, self._wake_at = None, math.inf
        loop = self._loop
        if loop is None:
            return
        now = self._clock.monotonic()
        queue = self._queue
        while queue and len(self._probing) < self._max_concurrency:
            due, ticket, check = queue[0]
            if self._queued.get(check.key) != ticket:
                heapq.heappop(queue)  # replaced or removed since it was queued
                continue
            if due > now:
                break
            heapq.heappop(queue)
            del self._queued[check.key]
            self._probing[check.key] = loop.create_task(self._run(check, due), name=check.key)
        self._arm()

    async def _run(self, check: Check, due: float) -> None:
        result = await self._probe(check, due)
        delay = self._deliver(check, result)
        if self._probing.get(check.key) is not asyncio.current_task():
            return  # removed, replaced or stopped while its result was delivered
        del self._probing[check.key]
        arrived = result.finished_at
        if delay is not None:
            self._enqueue(check, arrived + max(0.0, delay))
        else:
            self._enqueue(check, max(due + check.interval, arrived))

    async def _probe(self, check: Check, due: float) -> Result:
        started = self._clock.monotonic()
        result = await self._attempt(check)
        # Stamped here, on the one clock, whatever clock the prober used. Lateness
        # (a stalled loop, no free slot) is the scheduler's own, never the target's.
        return Result(
            ok=result.ok,
            latency=result.latency,
            reason=result.reason,
            started_at=started,
            finished_at=self._clock.monotonic(),
            late=max(0.0, started - due),
            fault=result.fault,
            release=result.release,
        )

    async def _attempt(self, check: Check) -> Result:
        watch = Stopwatch()
        deadline = check.timeout * (1 + OVERRUN_GRACE) + OVERRUN_FLOOR
        try:
            async with asyncio.timeout(deadline):
                return await check.prober.probe(check.timeout)
        except TimeoutError:
            log.warning("check %r: prober overran its %.3fs timeout", check.key, check.timeout)
            return watch.result(False, f"prober overran its {check.timeout:.3f}s timeout")
        except Exception as exc:
            fault = describe_local_fault(exc)
            if fault:
                # The process is short of descriptors: one line, not a traceback per probe.
                log.warning("check %r: prober failed for want of resources: %s", check.key, fault)
                return replace(watch.result(False, f"prober failed: {fault}"), fault=fault)
            log.exception("check %r: prober raised", check.key)
            return watch.result(False, f"prober raised {type(exc).__name__}: {exc}")

    def _deliver(self, check: Check, result: Result) -> float | None:
        try:
            return self._on_result(check, result)
        except Exception:
            log.exception("check %r: on_result raised; the default delay applies", check.key)
            return None
