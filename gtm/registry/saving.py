"""Saves of one document at a time per key, with the save in flight visible to readers.

A store that works off the event loop makes every save take real time, during which other
tasks run. A task that reads a run while another task of the same registry is saving it
must build on that save, as it did when saves completed without yielding: otherwise it
writes back a stale copy, loses the compare-and-set to its own registry, or undoes the
other save (an abort written over a run's final state would leave it running forever).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Saves(Generic[T]):
    """This registry's saves of one kind of document, in the order they were asked for."""

    def __init__(self) -> None:
        self._pending: dict[str, T] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def pending(self, key: str) -> T | None:
        """The newest value a save of ``key`` is under way for, or None."""
        return self._pending.get(key)

    @contextlib.asynccontextmanager
    async def saving(self, key: str, value: T) -> AsyncIterator[None]:
        """Wait for the earlier saves of ``key``, then hold the key while ``value`` is saved.

        From the call on, :meth:`pending` answers ``value`` until a later save replaces it
        or this one ends, whether it succeeds or fails.
        """
        self._pending[key] = value
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                yield
        finally:
            if self._pending.get(key) is value:  # no later save is waiting
                del self._pending[key]
                del self._locks[key]
