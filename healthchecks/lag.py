"""How late the event loop runs, and how many descriptors the process holds.

Probes share the loop and the descriptor table with everything else in the process, so a
blocked loop or an exhausted table makes healthy targets look dead. These gauges measure
both, so whoever owns the results can tell its own sickness from the targets'.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import resource
from collections.abc import Callable

from healthchecks.clock import Clock, LoopClock

log = logging.getLogger(__name__)

FD_DIR = "/proc/self/fd"
"""Where Linux lists the process's open descriptors."""


class LagMonitor:
    """Sleeps ``interval`` at a time on the injected clock and reports how late it woke.

    The lag is the time between when a sleep was due to end and when the task ran again:
    zero on an idle loop, the length of the stall when something blocked the loop.

    Args:
        on_lag: Called with every measurement, in seconds; must be quick and not raise.
        interval: Seconds between measurements.
        clock: Where the time is read; the loop's clock unless given.
    """

    def __init__(
        self,
        on_lag: Callable[[float], None],
        *,
        interval: float = 0.05,
        clock: Clock | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"lag monitor: interval {interval} must be positive")
        self._on_lag = on_lag
        self._interval = interval
        self._clock: Clock = clock if clock is not None else LoopClock()
        self._task: asyncio.Task[None] | None = None
        self._due: float | None = None

    @property
    def interval(self) -> float:
        """Seconds between measurements: a stall may begin that long before it is due."""
        return self._interval

    def overdue(self) -> float:
        """How late the monitor's current sleep already is: a stall not yet measured.

        When the loop resumes after a stall, callbacks that were due during it run in
        deadline order, so a probe's timeout may be handled before the monitor wakes;
        asking here first tells that probe's owner the loop was stalled.

        Returns:
            Seconds past the end of the current sleep; 0 when it is not over yet or the
            monitor is not running.
        """
        if self._due is None:
            return 0.0
        return max(0.0, self._clock.monotonic() - self._due)

    async def start(self) -> None:
        """Start measuring; does nothing when already started."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="loop-lag")

    async def stop(self) -> None:
        """Stop measuring; safe to call twice."""
        task, self._task = self._task, None
        self._due = None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            self._due = due = self._clock.monotonic() + self._interval
            await asyncio.sleep(self._interval)
            try:
                self._on_lag(max(0.0, self._clock.monotonic() - due))
            except Exception:
                log.exception("lag monitor: on_lag raised")


def descriptors_in_use() -> int | None:
    """How many descriptors the process holds; None when listing them needs one too many.

    Returns:
        The count, or None when the process is out of descriptors (listing them failed
        with EMFILE or ENFILE). Where the system does not list them (no ``/proc``), 0.
    """
    try:
        return len(os.listdir(FD_DIR))
    except OSError as exc:
        return None if exc.errno in (errno.EMFILE, errno.ENFILE) else 0


def descriptor_limit() -> int:
    """The soft ``RLIMIT_NOFILE``: how many descriptors the process may hold."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20
