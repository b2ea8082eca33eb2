"""One clock for everything that times or orders events: the event loop's.

Deadlines, probe timing, verdicts and flap damping compare times with each other, so they
read a monotonic clock that never steps; a wall clock can jump (NTP, a suspended VM) and
would put a verdict before the probe that caused it. Wall time is only for people: the
journal and the screen, and a monotonic time becomes one in :func:`wall_times`, nowhere else.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Protocol


class Clock(Protocol):
    """Where async code reads the time.

    Implementations must return from ``monotonic`` the time the event loop sleeps on
    (``loop.time()``), so a deadline computed from it is one ``asyncio.sleep`` reaches;
    it must never go backwards. ``wall`` is seconds since the epoch, for display only,
    and must not be compared with ``monotonic``. Neither may block or do I/O.
    """

    def monotonic(self) -> float:
        """Seconds on the event loop's clock: for deadlines, durations and ordering."""
        ...

    def wall(self) -> float:
        """Seconds since the epoch: for the journal and the screen."""
        ...


class LoopClock:
    """The real clock: the running loop's time, and the system's wall clock.

    Outside a running loop ``monotonic`` reads ``time.monotonic()``, which is what the
    default event loop's clock is.

    Args:
        wall: The wall clock; ``time.time`` unless a test fixes it.
    """

    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall

    def monotonic(self) -> float:
        """The running event loop's time."""
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:
            return time.monotonic()

    def wall(self) -> float:
        """Seconds since the epoch."""
        return self._wall()


def wall_times(clock: Clock, times: Mapping[str, float]) -> dict[str, float]:
    """Monotonic times read from ``clock``, as the wall-clock times they happened at.

    The one place a monotonic time becomes a wall time: the offset between the two clocks
    is read once, so times converted together keep their order and their distances
    whatever the wall clock did while they were taken.

    Args:
        clock: The clock the times were read from.
        times: Times read from ``clock.monotonic()``, by name.

    Returns:
        The same names, in seconds since the epoch.
    """
    offset = clock.wall() - clock.monotonic()
    return {name: value + offset for name, value in times.items()}


def wall_time(clock: Clock, monotonic: float) -> float:
    """One time read from ``clock.monotonic()``, as seconds since the epoch.

    The same conversion as :func:`wall_times`, without a mapping around it: it runs for
    every probe result.
    """
    return monotonic + (clock.wall() - clock.monotonic())
