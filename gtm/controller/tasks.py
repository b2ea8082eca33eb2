"""Stopping background tasks for sure: cancel, wait, and cancel again if one lingers.

A cancellation can be lost when it races with the very wake-up a task was waiting for;
a stop that waited forever on such a task would hang gtm's shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

log = logging.getLogger(__name__)

ROUNDS = 5
"""Times a lingering task is cancelled again before it is given up on (and logged)."""


async def cancel_all(tasks: Iterable[asyncio.Task[None]], what: str, wait: float = 1.0) -> None:
    """Cancel ``tasks`` and wait until they end, cancelling again any that linger.

    Args:
        tasks: The tasks to stop.
        what: What they are, for the log line if some will not end.
        wait: Seconds to wait per round.
    """
    pending = {task for task in tasks if not task.done()}
    for _round in range(ROUNDS):
        if not pending:
            return
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=wait)
    if pending:
        log.warning(
            "%s: %d task(s) did not stop after %d cancellations", what, len(pending), ROUNDS
        )
