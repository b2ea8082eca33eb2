"""The small versioned key/value interface the registry keeps its documents in.

Keeping it to get, list, compare-and-set, delete and watch lets an in-process dict, an
embedded SQLite file and a Consul KV cluster all serve the same registry.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored value with the index of the write that produced it.

    Attributes:
        key: Where the value is stored, e.g. ``mappings/billing``.
        value: The stored bytes (a JSON document for the registry).
        index: Modify index: positive, and larger than every index the store handed out
            before this write.
    """

    key: str
    value: bytes
    index: int


class Store(Protocol):
    """A versioned key/value store whose every write is a compare-and-set.

    Implementations must:

    - make ``cas`` and ``delete`` atomic: the condition is checked and the write applied
      as one step, so of two writers holding the same index exactly one wins;
    - give every successful write an index larger than any index handed out before, and
      never hand out an index again, even after the key is deleted or the store reopened;
    - for persistent stores, have the write durable by the time ``cas`` or ``delete``
      returns, so a version the registry published cannot come back after a crash;
    - return ``list`` results sorted by key (code point order);
    - give a delete an index too (larger than any before), so ``watch`` sees it;
    - raise :class:`gtm.errors.StoreUnavailable` when the backend fails or after
      ``close``, with the store's location in the message.

    Implementations must not report a failed condition as an error (``cas`` returns None
    and ``delete`` returns False), interpret the stored bytes, or retry a write on their
    own: the caller decides what a lost race means.
    """

    async def get(self, key: str) -> Entry | None:
        """The entry at ``key``, or None when there is none."""
        ...

    async def list(self, prefix: str) -> builtins.list[Entry]:
        """Every entry whose key starts with ``prefix``, sorted by key."""
        ...

    async def cas(self, key: str, value: bytes, index: int) -> Entry | None:
        """Write ``value`` at ``key`` if the key is still as the caller last saw it.

        Args:
            key: Where to write.
            value: What to write.
            index: 0 to create the key only if it is absent; otherwise the index the key
                must still have for the write to replace it.

        Returns:
            The new entry, or None when the condition failed and nothing was written.
        """
        ...

    async def delete(self, key: str, index: int | None = None) -> bool:
        """Remove ``key``; with ``index``, only if the key still has that index.

        Returns:
            True when an entry was removed, False when there was none or its index differed.
        """
        ...

    async def watch(
        self, prefix: str, index: int, timeout: float
    ) -> tuple[int, builtins.list[Entry]]:
        """Block until the store changes after ``index``, then list ``prefix``.

        This is a Consul blocking query on a KV prefix (``?recurse&index=N&wait=Ds``,
        answered with ``X-Consul-Index``): the answer is the *whole* listing, not a list
        of changes, so a deleted key shows as one that is no longer listed and no
        tombstones need keeping. Callers find what changed by comparing the listing
        with what they hold; an entry whose index is above the ``index`` they passed
        was written since.

        Args:
            prefix: The keys to list (``mappings/``).
            index: The index of the caller's last answer (0 before the first); the call
                answers at once when the store is already past it.
            timeout: Seconds to wait for a change before answering anyway; 0 reads the
                listing and its index without waiting.

        Returns:
            The store's index as of the listing, to pass to the next call, and every
            entry under ``prefix`` sorted by key. The call may return before
            ``timeout`` although nothing under ``prefix`` changed (a write elsewhere
            in the store, as Consul may): callers must not assume a change.
        """
        ...

    async def close(self) -> None:
        """Release the backend; later calls raise :class:`gtm.errors.StoreUnavailable`."""
        ...
