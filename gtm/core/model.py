"""The values every part of gtm speaks: locators, mappings, intents, events.

They are frozen dataclasses so the pure core can pass them around without copies, and
the same selection rule (``usable``/``best``) serves the DNS responder, the API, the
client library and the tests.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

NEVER = 255
"""Locator priority that means "never send traffic here" (as in LISP)."""


class State(enum.StrEnum):
    """Health of one locator as the controller publishes it."""

    UP = "up"
    DOWN = "down"
    UNKNOWN = "unknown"


class Action(enum.StrEnum):
    """What a mapping with no usable locator means to those who read it."""

    NONE = "none"
    """Normal: traffic goes to the best usable locators; none usable means no answer."""
    NXDOMAIN = "nxdomain"
    """All down and the rule is ``closed``: answer as if the name did not exist."""
    STAY = "stay"
    """All down and the rule is ``stay``: keep sending traffic to the active site."""
    OPEN = "open"
    """All down and the rule is ``open``: send traffic to every locator not at 255."""


@dataclass(frozen=True, slots=True)
class Locator:
    """One reachable replica endpoint of a service in one site."""

    id: str
    site: str
    address: str
    port: int
    priority: int = 1
    weight: int = 100
    state: State = State.UNKNOWN

    @property
    def usable(self) -> bool:
        """Whether the selection rule may send traffic here."""
        return self.priority < NEVER and self.state == State.UP


@dataclass(frozen=True, slots=True)
class Mapping:
    """The registry record for one service: where its traffic goes now, and why."""

    service: str
    version: int
    epoch: int
    ttl: int
    active_site: str | None
    locators: tuple[Locator, ...]
    action: Action = Action.NONE
    reason: str = ""
    updated_at: float = 0.0
    written_by: str = ""

    def best(self) -> tuple[Locator, ...]:
        """The locators traffic goes to: the selection rule, then the all-down action.

        Normally the usable locators of the lowest priority. When none is usable, the
        action decides: ``stay`` gives the active site's locators, ``open`` every locator
        below priority 255, anything else nothing.
        """
        chosen = best(self.locators)
        if chosen:
            return chosen
        if self.action is Action.STAY:
            return tuple(
                loc
                for loc in self.locators
                if loc.site == self.active_site and loc.priority < NEVER
            )
        if self.action is Action.OPEN:
            return tuple(loc for loc in self.locators if loc.priority < NEVER)
        return ()


def usable(locators: Iterable[Locator]) -> tuple[Locator, ...]:
    """Locators that may take traffic: priority below 255 and state up."""
    return tuple(loc for loc in locators if loc.usable)


def best(locators: Iterable[Locator]) -> tuple[Locator, ...]:
    """Usable locators of the best (lowest) priority, in their given order."""
    candidates = usable(locators)
    if not candidates:
        return ()
    top = min(loc.priority for loc in candidates)
    return tuple(loc for loc in candidates if loc.priority == top)


def shares(locators: Iterable[Locator]) -> dict[str, float]:
    """Traffic share of each locator id among ``locators`` by weight (all zero: equal)."""
    chosen = tuple(locators)
    total = sum(loc.weight for loc in chosen)
    if total == 0:
        return {loc.id: 1.0 / len(chosen) for loc in chosen} if chosen else {}
    return {loc.id: loc.weight / total for loc in chosen}


class IntentKind(enum.StrEnum):
    """Standing instructions an operator can give."""

    PIN = "pin"
    DRAIN = "drain"
    FREEZE = "freeze"
    SHIFT = "shift"
    """Send ``share`` percent of a service's traffic to ``site`` beside the active site."""
    TTL = "ttl"
    """Publish the service with a TTL of at most ``ttl`` seconds."""


@dataclass(frozen=True, slots=True)
class Intent:
    """An operator's standing instruction: who asked what, why, and until when.

    ``pin`` needs ``service`` and ``site``; ``drain`` needs ``site`` and applies to
    ``service`` only, or to every service when ``service`` is None; ``freeze`` applies to
    ``service``, or to every service when it is None; ``shift`` needs ``service``, ``site``
    and ``share`` (a planned failover ramps it); ``ttl`` needs ``service`` and ``ttl``.
    """

    id: str
    kind: IntentKind
    service: str | None = None
    site: str | None = None
    who: str = ""
    why: str = ""
    created_at: float = 0.0
    expires_at: float | None = None
    force: bool = False
    share: int | None = None
    ttl: int | None = None

    def active(self, now: float) -> bool:
        """Whether the intent still applies at ``now``."""
        return self.expires_at is None or now < self.expires_at

    def applies_to(self, service: str) -> bool:
        """Whether the intent concerns ``service``."""
        return self.service is None or self.service == service


@dataclass(frozen=True, slots=True)
class Event:
    """A journal entry: something that happened to a service, with measured timings.

    ``timeline`` maps a step name ("first_failed_probe", "verdict", "decision",
    "published", …) to the wall-clock time it happened, so durations can be derived.
    """

    kind: str
    service: str | None
    time: float
    reason: str
    seq: int = 0
    from_site: str | None = None
    to_site: str | None = None
    epoch: int | None = None
    version: int | None = None
    actor: str = "controller"
    timeline: dict[str, float] = field(default_factory=dict)
    votes: dict[str, dict[str, str]] = field(default_factory=dict)
    """For a move with several vantages: per locator whose verdict asked for it, each live
    vantage's vote (``up``, ``down``, ``unknown``, ``abstained``), by vantage name."""
