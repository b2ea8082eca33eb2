"""The small versioned key/value interface the registry keeps its documents in.

Keeping it to get, list, compare-and-set and delete lets an in-process dict, an embedded
SQLite file and a Consul KV cluster all serve the same registry.
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

    async def close(self) -> None:
        """Release the backend; later calls raise :class:`gtm.errors.StoreUnavailable`."""
        ...
