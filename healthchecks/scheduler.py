"""Runs thousands of checks, each on its own cadence, without them all firing at once.

Each check gets one task that sleeps on the event loop's clock between probes; a
semaphore bounds how many probes are in flight, so a burst of slow targets cannot open
thousands of sockets at the same moment. Whoever owns the scheduler decides, through the
value ``on_result`` returns, when each check is probed next (a quick recheck of an
unconfirmed failure is such a decision); without one the check keeps its cadence.
"""

from __future__ import annotations

import asyncio
import logging
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
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots = asyncio.Semaphore(max_concurrency)

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
            self._spawn(self._loop, check)

    def remove(self, key: str) -> None:
        """Stop probing a check; a probe in flight is cancelled and reports nothing.

        Args:
            key: The key of the check.

        Raises:
            KeyError: No check has that key.
        """
        del self._checks[key]
        task = self._tasks.pop(key, None)
        if task is not None:
            task.cancel()
            # Kept until done so that stop() can wait for it too.
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def start(self) -> None:
        """Start probing every check; does nothing when already started."""
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        # A semaphore binds to the loop it first waits on; a fresh one lets a stopped
        # scheduler start again on another loop.
        self._slots = asyncio.Semaphore(self._max_concurrency)
        for check in self._checks.values():
            self._spawn(self._loop, check)

    async def stop(self) -> None:
        """Cancel every probe and wait until all have ended; the checks stay added.

        Idempotent; the scheduler can be started again afterwards.
        """
        tasks = [*self._tasks.values(), *self._retiring]
        self._tasks.clear()
        self._loop = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, loop: asyncio.AbstractEventLoop, check: Check) -> None:
        first = self._clock.monotonic() + self._rng.random() * check.interval
        self._tasks[check.key] = loop.create_task(self._run(check, first), name=check.key)

    async def _run(self, check: Check, due: float) -> None:
        while True:
            await asyncio.sleep(max(0.0, due - self._clock.monotonic()))
            result = await self._probe(check, due)
            arrived = result.finished_at
            delay = self._deliver(check, result)
            if delay is not None:
                due = arrived + max(0.0, delay)
            else:
                due = max(due + check.interval, arrived)

    async def _probe(self, check: Check, due: float) -> Result:
        async with self._slots:
            started = self._clock.monotonic()
            result = await self._attempt(check)
            # Stamped here, on the one clock, whatever clock the prober used. Lateness
            # (a stalled loop, a full semaphore) is the scheduler's own, never the target's.
            return replace(
                result,
                started_at=started,
                finished_at=self._clock.monotonic(),
                late=max(0.0, started - due),
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
