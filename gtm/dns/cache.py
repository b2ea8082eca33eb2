"""Finished answers by question, so a repeated query costs a dict lookup, not a DNS parse.

Most traffic is the same few questions asked over and over; building each answer with
dnspython takes tens of microseconds, copying a cached one well under one.
"""

from __future__ import annotations

CacheKey = tuple[int | None, bytes]
"""The UDP size limit (None for TCP) and the query's bytes after its ID."""

DEFAULT_BUDGET = 4 * 1024 * 1024
"""Bytes of answers kept before the cache starts over; bounds memory under random names."""


class AnswerCache:
    """Response bytes after the ID, keyed by the query bytes after the ID.

    The key holds the whole query but its ID: flags (RD, CD, opcode), the question as
    spelled (so the echoed case is right) and the OPT record with its payload size. Two
    queries with the same key get the same answer but for the ID, so a hit only needs
    the ID put back in front.

    A new answer is stored only if no invalidation happened while it was being built
    (``generation`` did not move), so a change notification racing with a slow answer
    cannot leave the old data behind.

    An answer may be stored as one service's: it holds that service's records and nothing
    else of the zone (no SOA), so a change of another service leaves it valid. A change
    of one service forgets that service's answers and the zone's other ones (the apex,
    negative answers, whose SOA carries the serial), not every service's: a site lost is
    a thousand changes in a burst, and emptying the whole cache for each would rebuild
    every answer of the zone a thousand times.
    """

    def __init__(self, budget: int = DEFAULT_BUDGET) -> None:
        """Create an empty cache.

        Args:
            budget: Bytes of keys and answers to hold; when a new entry would pass it the
                cache is emptied, which costs one slow answer per live question.
        """
        self._budget = budget
        self._size = 0
        self._entries: dict[CacheKey, bytes] = {}
        self._owned: dict[str | None, list[CacheKey]] = {}
        self.generation = 0
        """Bumped by every :meth:`invalidate`; read it before building an answer."""

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, key: CacheKey) -> bytes | None:
        """The cached answer without its ID, or None."""
        return self._entries.get(key)

    def store(
        self, key: CacheKey, tail: bytes, generation: int, service: str | None = None
    ) -> None:
        """Keep ``tail`` (an answer without its ID) built while at ``generation``; as
        ``service``'s when it holds that service's records only."""
        if generation != self.generation or key in self._entries:
            return
        cost = len(key[1]) + len(tail)
        if self._size + cost > self._budget:
            self._clear()
            if cost > self._budget:
                return
        self._entries[key] = tail
        self._owned.setdefault(service, []).append(key)
        self._size += cost

    def invalidate(self, service: str | None = None) -> None:
        """Forget the answers the data behind them changed: ``service``'s and the zone's
        (every answer when ``service`` is None)."""
        self.generation += 1
        if service is None:
            self._clear()
            return
        for owner in (service, None):
            for key in self._owned.pop(owner, ()):
                tail = self._entries.pop(key, None)
                if tail is not None:
                    self._size -= len(key[1]) + len(tail)

    def _clear(self) -> None:
        self._entries = {}
        self._owned = {}
        self._size = 0
