"""A gtm killed in the middle of a run leaves no intent behind once the run is rolled back.

The kill is a store that stops answering (as a process that died would stop writing) right
after it stored the first intent of a run; a real store cannot stop between two writes
on demand. gtm then starts again on the store as it was left.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Sequence

from clockbed import SERVICE, bed, sleep_until
from virtual_time import RunVirtual, VirtualClock

from gtm.core.model import Intent, Mapping
from gtm.core.runbook import Run, RunKind, RunOptions, RunState
from gtm.registry.registry import INTENTS
from gtm.registry.store import Entry, Store, Write, Written
from gtm.registry.stores.memory import MemoryStore


class KilledAfterIntent:
    """A store that hangs forever once it has stored an intent; ``close`` keeps the data."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self._dead = asyncio.Event()
        self._never = asyncio.Event()

    @property
    def dead(self) -> asyncio.Event:
        """Set once the intent is stored: from then on nothing reaches the store."""
        return self._dead

    async def get(self, key: str) -> Entry | None:
        await self._alive()
        return await self._inner.get(key)

    async def list(self, prefix: str) -> builtins.list[Entry]:
        await self._alive()
        return await self._inner.list(prefix)

    async def cas(self, key: str, value: bytes, index: int) -> Entry | None:
        await self._alive()
        entry = await self._inner.cas(key, value, index)
        if entry is not None and key.startswith(INTENTS):
            self._dead.set()
        return entry

    async def commit(self, writes: Sequence[Write]) -> builtins.list[Written]:
        await self._alive()
        return await self._inner.commit(writes)

    async def delete(self, key: str, index: int | None = None) -> bool:
        await self._alive()
        return await self._inner.delete(key, index)

    async def watch(
        self, prefix: str, index: int, timeout: float
    ) -> tuple[int, builtins.list[Entry]]:
        await self._alive()
        return await self._inner.watch(prefix, index, timeout)

    async def close(self) -> None:
        """Leave the data where it is, for the next start."""

    async def _alive(self) -> None:
        if self._dead.is_set():
            await self._never.wait()


def test_a_run_killed_after_storing_an_intent_removes_it_when_rolled_back(
    run_virtual: RunVirtual,
) -> None:
    clock = VirtualClock()

    async def scenario() -> tuple[Run, list[Intent], Mapping | None]:
        data = MemoryStore()
        killed = KilledAfterIntent(data)
        async with bed(clock=clock, store=killed) as first:
            await sleep_until(5.0)
            started = await first.runbooks.begin(
                RunKind.FAILOVER, SERVICE, "site-c", "patching", "ops", RunOptions(hold=0.0)
            )
            await killed.dead.wait()
        async with bed(clock=clock, store=data) as second:
            run = await second.runbooks.finished(second.runbooks.get(started.id))
            await sleep_until(clock.monotonic() + 5.0)
            return run, second.registry.intents(), second.registry.get(SERVICE)

    run, intents, mapping = run_virtual(scenario())

    assert run.state is RunState.ROLLED_BACK, run.outcome
    assert intents == []
    assert mapping is not None
    assert mapping.active_site == "site-a", mapping.reason
