"""Long work on the event loop in slices, with a turn of the loop between them, so that
probes, DNS answers and the lag monitor run while a thousand items are handled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import TypeVar

T = TypeVar("T")


async def in_slices(items: Sequence[T], size: int) -> AsyncIterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size``, yielding a turn of the loop
    before every slice but the first.

    Args:
        items: What to hand out.
        size: The most items in one slice; at least 1.
    """
    for start in range(0, len(items), size):
        if start:
            await asyncio.sleep(0)
        yield items[start : start + size]
