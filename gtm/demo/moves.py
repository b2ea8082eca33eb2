"""One line per move, as the demo prints them: the registry tells, nobody polls.

A :class:`MoveLog` subscribes to the registry, so it hears every mapping the moment it is
stored, and writes a line whenever a service's active site changes:

    10:31:02  billing  aws-use1 → gcp-euw1  (aws-use1 is down (0/1 locators up, min 1); …)
"""

from __future__ import annotations

import time
from collections.abc import Callable

from gtm.core.model import Mapping
from gtm.registry.registry import Registry

NOWHERE = "none"
"""Shown for a service with no active site (every site down and ``all_down: closed``)."""


def move_line(before: str | None, mapping: Mapping, width: int = 0) -> str:
    """The line for ``mapping``'s service moving from ``before`` to its active site.

    The time is when gtm decided (``updated_at``, local time); the reason is gtm's own.
    The service name is padded to ``width``, so the lines of several services align.
    """
    at = time.strftime("%H:%M:%S", time.localtime(mapping.updated_at or time.time()))
    return (
        f"{at}  {mapping.service:<{width}}  {before or NOWHERE} → "
        f"{mapping.active_site or NOWHERE}  ({mapping.reason or 'no reason given'})"
    )


class MoveLog:
    """Writes a :func:`move_line` for every change of a service's active site.

    The active sites known when it starts are the baseline: only later moves are
    written. Use as a context manager, or call :meth:`close` to stop listening.

    Args:
        registry: The registry to follow.
        write: Where each line goes (the demo passes ``print``).
    """

    def __init__(self, registry: Registry, write: Callable[[str], None]) -> None:
        self._write = write
        self._active = {mapping.service: mapping.active_site for mapping in registry.mappings()}
        self._width = max(map(len, self._active), default=0)
        self._unsubscribe = registry.subscribe(self._heard)

    def _heard(self, mapping: Mapping) -> None:
        service = mapping.service
        known = service in self._active
        before = self._active.get(service)
        self._active[service] = mapping.active_site
        # A service's first placement is not a move; neither is a change that keeps
        # its site (a weight, a TTL, a locator's state).
        if known and before != mapping.active_site:
            self._write(move_line(before, mapping, self._width))

    def close(self) -> None:
        """Stop listening; safe to repeat."""
        self._unsubscribe()

    def __enter__(self) -> MoveLog:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
