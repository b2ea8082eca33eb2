"""Wake-ups for long polls: one shared event per watched key, however many wait on it.

A watch on ``billing`` from thousands of sidecars costs one :class:`asyncio.Event` plus a
timer each, and a change wakes them all with a single ``set``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Signal:
    event: asyncio.Event = field(default_factory=asyncio.Event)
    waiters: int = 0


class Watchers:
    """Tasks waiting for a key to change, grouped by key.

    A woken waiter must look at the current value again: a wake-up says "something
    changed", not "what you wanted happened".
    """

    def __init__(self) -> None:
        self._signals: dict[str, _Signal] = {}

    async def wait(self, key: str, timeout: float) -> bool:
        """Block until ``wake(key)`` or ``timeout`` seconds pass.

        Returns:
            True when woken, False when the timeout expired first.
        """
        signal = self._signals.get(key)
        if signal is None:
            signal = self._signals[key] = _Signal()
        signal.waiters += 1
        try:
            async with asyncio.timeout(timeout):
                await signal.event.wait()
        except TimeoutError:
            return False
        finally:
            signal.waiters -= 1
            # Forget keys nobody waits on, so polls for names that never appear (typos,
            # probes from scanners) do not accumulate.
            if signal.waiters == 0 and self._signals.get(key) is signal:
                del self._signals[key]
        return True

    def wake(self, key: str) -> None:
        """Wake every task waiting on ``key``; later waiters wait for the next change."""
        signal = self._signals.pop(key, None)
        if signal is not None:
            signal.event.set()

    def wake_all(self) -> None:
        """Wake every waiting task, whatever its key."""
        signals, self._signals = self._signals, {}
        for signal in signals.values():
            signal.event.set()
