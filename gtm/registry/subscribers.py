"""Synchronous change callbacks that cannot break the write that triggered them.

A subscriber is someone else's code (the DNS responder's cache, the controller); when it
raises, the registry logs it and carries on, because the write is already durable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Subscribers(Generic[T]):
    """Callbacks for one kind of change, called in the order they subscribed.

    Args:
        topic: What the callbacks hear about, for log messages (``mappings``, ``intents``).
    """

    def __init__(self, topic: str) -> None:
        self._topic = topic
        # Keyed by a token rather than the callback, so subscribing the same function
        # twice gives two independent subscriptions.
        self._callbacks: dict[object, Callable[[T], None]] = {}

    def add(self, callback: Callable[[T], None]) -> Callable[[], None]:
        """Subscribe ``callback``; returns a function that unsubscribes it (safe to repeat)."""
        token = object()
        self._callbacks[token] = callback

        def unsubscribe() -> None:
            self._callbacks.pop(token, None)

        return unsubscribe

    def notify(self, value: T) -> None:
        """Call every subscriber with ``value``, logging and skipping those that raise."""
        # A copy, so a callback may unsubscribe itself or others while we iterate.
        for callback in list(self._callbacks.values()):
            try:
                callback(value)
            except Exception:
                log.exception("registry: a %s subscriber (%r) failed", self._topic, callback)
