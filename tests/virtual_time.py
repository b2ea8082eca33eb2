"""An event loop whose clock jumps instead of waiting, and the gtm clock that reads it.

A 30-second probe interval runs in a millisecond, and every time a test sees (loop time,
the scheduler's stamps, the controller's timeline) is exact, so tests can state the order
and the distance of events without timing thresholds.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable, Coroutine
from typing import Any

EPOCH = 1_800_000_000.0
"""Wall-clock time of virtual time 0 on a ``VirtualClock``."""


class _VirtualSelector(selectors.DefaultSelector):
    """Turns every wait for a timer into an instant jump of the virtual clock."""

    def __init__(self, clock: list[float]) -> None:
        super().__init__()
        self._clock = clock

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        events: list[tuple[Any, int]] = super().select(0)
        if events or timeout == 0:
            return events
        if timeout is None:
            # Nothing is scheduled, so only I/O can wake the loop (a thread handing back
            # a result). Tests on this loop do no network I/O: a long silence is a hang.
            events = super().select(5.0)
            if not events:
                raise RuntimeError("virtual time: the loop has nothing left to run")
            return events
        self._clock[0] += timeout
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock advances only when every task is waiting on a timer."""

    def __init__(self) -> None:
        self._virtual_now = [0.0]
        self.iterations = 0
        super().__init__(_VirtualSelector(self._virtual_now))

    def time(self) -> float:
        """The virtual time, starting at 0."""
        return self._virtual_now[0]

    def _run_once(self) -> None:
        # Counts turns of the loop, so a test can say "in the same turn" or "the next".
        self.iterations += 1
        super()._run_once()  # type: ignore[misc]


class VirtualClock:
    """The clock gtm reads, on a ``VirtualTimeLoop``: monotonic is the loop's time, and
    the wall clock runs in step with it from ``EPOCH`` (or wherever a test sets it)."""

    def __init__(self, epoch: float = EPOCH) -> None:
        self.epoch = epoch

    def monotonic(self) -> float:
        """The running loop's virtual time."""
        return asyncio.get_running_loop().time()

    def wall(self) -> float:
        """``epoch`` plus the virtual time."""
        return self.epoch + self.monotonic()


RunVirtual = Callable[[Coroutine[Any, Any, Any]], Any]


def run_virtual(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to completion on a fresh ``VirtualTimeLoop``."""
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        return runner.run(coroutine)
