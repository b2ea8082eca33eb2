"""A store that lives in the process, for tests, demos and single-shot runs.

Every method runs to completion without yielding to the event loop, which is what makes
its compare-and-set atomic without a lock.
"""

from __future__ import annotations

import builtins

from gtm.errors import StoreUnavailable
from gtm.registry.store import Entry


class MemoryStore:
    """A :class:`gtm.registry.store.Store` backed by a dict; forgotten when the process ends."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}
        self._last_index = 0
        self._closed = False

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
        return entry

    async def delete(self, key: str, index: int | None = None) -> bool:
        """Remove ``key``; with ``index``, only if the key still has that index."""
        self._check_open()
        current = self._entries.get(key)
        if current is None or (index is not None and current.index != index):
            return False
        del self._entries[key]
        return True

    async def close(self) -> None:
        """Drop every entry; later calls raise StoreUnavailable."""
        self._closed = True
        self._entries.clear()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("memory store: closed")
