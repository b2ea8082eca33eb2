"""The kinds of journal event, named once for the journal's API, the client and the CLI."""

from __future__ import annotations

import enum


class EventKind(enum.StrEnum):
    """What a journal event records."""

    MOVE = "move"
    """The controller moved a service (or changed where its traffic goes)."""
    RUN = "run"
    """A planned run (failover, failback, drill) started, stepped or ended."""
    PROVIDER = "provider"
    """A provider changed its system to hold the mappings."""
    DRIFT = "drift"
    """A provider's system held something the mappings do not say."""
    HEALTH = "health"
    """A locator's verdict changed (from and to in the reason, with why)."""
    BURST = "burst"
    """A service's burst began or ended, or its overspill site left (why, with the load)."""


EVENT_KINDS: tuple[str, ...] = tuple(kind.value for kind in EventKind)
"""Every kind's name, as the ``kind=`` filters (the API's and the CLI's) take them."""
