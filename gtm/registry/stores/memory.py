"""A store that lives in the process, for tests, demos and single-shot runs.

Every method but ``watch`` runs to completion without yielding to the event loop, which is
what makes its compare-and-set atomic without a lock. Registries sharing one memory store
see each other's writes through ``watch``, woken by the write itself.
"""

from __future__ import annotations

import asyncio
import builtins

from gtm.errors import StoreUnavailable
from gtm.registry.store import Entry


class MemoryStore:
    """A :class:`gtm.registry.store.Store` backed by a dict; forgotten when the process ends."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}
        self._last_index = 0
        self._closed = False
        self._changed: asyncio.Event | None = None

    async def get(self, key: str) -> Entry | None:
        """The entry at ``key``, or None when there is none."""
        self._check_open()
        return self._entries.get(key)

    async def list(self, prefix: str) -> builtins.list[Entry]:
        """Every entry whose key starts with ``prefix``, sorted by key."""
        self._check_open()
        return [self._entries[key] for key in sorted(self._entries) if key.startswith(prefix)]

    async def cas(self, key: str, value: bytes, index: int) -> Entry | None:
        """Write ``value`` at ``key`` if its index is still ``index`` (0: absent)."""
        self._check_open()
        current = self._entries.get(key)
        current_index = 0 if current is None else current.index
        if current_index != index:
            return None
        self._last_index += 1
        entry = Entry(key, value, self._last_index)
        self._entries[key] = entry
        self._notify()
        return entry

    async def delete(self, key: str, index: int | None = None) -> bool:
        """Remove ``key``; with ``index``, only if the key still has that index."""
        self._check_open()
        current = self._entries.get(key)
        if current is None or (index is not None and current.index != index):
            return False
        del self._entries[key]
        self._last_index += 1  # a delete has an index too, so watchers see it
        self._notify()
        return True

    async def watch(
        self, prefix: str, index: int, timeout: float
    ) -> tuple[int, builtins.list[Entry]]:
        """Wait until a write takes the store past ``index``, then list ``prefix``."""
        self._check_open()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._last_index <= index and not self._closed:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            if self._changed is None:
                self._changed = asyncio.Event()
            try:
                async with asyncio.timeout(remaining):
                    await self._changed.wait()
            except TimeoutError:
                break
        return self._last_index, await self.list(prefix)

    async def close(self) -> None:
        """Drop every entry and release watchers; later calls raise StoreUnavailable."""
        self._closed = True
        self._entries.clear()
        self._notify()

    def _notify(self) -> None:
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("memory store: closed")
