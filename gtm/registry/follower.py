"""Keeps a registry's cache following the store, whoever wrote to it.

Another gtm, or a CLI command writing to the same store, changes mappings, intents and runs
behind this registry's back. One task per key prefix waits on :meth:`Store.watch` and hands
each new listing to the registry, which applies what is newer than its cache.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from typing import Protocol

from gtm.errors import GtmError
from gtm.registry.store import Entry, Store

log = logging.getLogger(__name__)

FOLLOW_WAIT = 30.0
"""Seconds one watch waits for a change before asking again (a Consul blocking query's
``wait``); the follower answers changes as they come, this only bounds a quiet call."""

FOLLOW_RETRY = 1.0
"""Seconds between watches while the store fails."""

FOLLOW_SLICE = 500
"""Entries of a long listing applied per turn of the loop: 10,000 mappings, each new one
decoded and announced, would otherwise hold the loop for one long turn."""


class Apply(Protocol):
    """Takes a listing and the store index it was read at; with ``partial``, a part of
    it (take what is new, drop nothing that is not listed)."""

    def __call__(self, index: int, entries: builtins.list[Entry], *, partial: bool = False) -> None:
        """Apply ``entries``."""


async def follow(store: Store, prefix: str, index: int, apply: Apply) -> None:
    """Apply every new listing of ``prefix`` after ``index`` until cancelled.

    A failing store is logged once per outage and asked again every ``FOLLOW_RETRY``
    seconds; an ``apply`` that raises is logged and the next listing is still applied.
    When the store's index goes backwards, the index is reset and the listing read again
    without waiting (as Consul's blocking queries require).
    """
    failing = False
    while True:
        try:
            seen, entries = await store.watch(prefix, index, FOLLOW_WAIT)
        except GtmError as exc:
            if not failing:
                log.warning("registry: cannot follow %s in the store: %s", prefix, exc)
                failing = True
            await asyncio.sleep(FOLLOW_RETRY)
            continue
        if failing:
            log.info("registry: following %s in the store again", prefix)
            failing = False
        if seen < index:
            # The store's index went backwards (Consul reaped tombstones, or the cluster
            # was rebuilt from a snapshot): start over, reading the whole listing at once.
            log.info(
                "registry: the store's index for %s went back from %d to %d; re-reading",
                prefix,
                index,
                seen,
            )
            index = 0
            continue
        if seen == index:
            continue  # the wait ran out with nothing new
        try:
            for start in range(0, len(entries) - FOLLOW_SLICE, FOLLOW_SLICE):
                apply(seen, entries[start : start + FOLLOW_SLICE], partial=True)
                await asyncio.sleep(0)
            # The whole listing last: what is left, and what it no longer holds.
            apply(seen, entries)
        except Exception:
            log.exception("registry: applying %s from the store failed", prefix)
        index = seen
