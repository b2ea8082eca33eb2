"""What every provider is: observe an external system, diff it against the mappings, apply.

A provider makes one external system (an authoritative DNS server, Route 53, HAProxy, an
AWS load balancer) hold what the mappings say. It is split like octoDNS and dnspython:

- ``desired(mappings)`` is pure: the items (record sets, server weights, …) the system
  should hold for the services this provider manages, keyed by a stable string;
- ``observe()`` reads the items the system holds now, keyed the same way;
- :func:`diff` (pure, shared) turns the two into :class:`Change` values;
- ``apply(changes)`` sends them, in batches no larger than the capabilities allow,
  translated by a pure function (``build_update``, ``render_commands``, …) and carried by
  a thin transport.

The reconciler verifies by observing again and diffing: an empty diff means the system
holds the mappings. Providers never write to the registry and never decide anything.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Mapping as Lookup
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from gtm.core.model import Action, Mapping

Item = TypeVar("Item")


class ChangeKind(enum.StrEnum):
    """What a change does to one item."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Change(Generic[Item]):
    """One item to create, replace or delete; ``before`` is what was observed."""

    kind: ChangeKind
    key: str
    service: str
    before: Item | None
    after: Item | None

    def describe(self) -> str:
        """One line for ``gtm plan``: ``~ key: before -> after``."""
        sign = {"create": "+", "update": "~", "delete": "-"}[self.kind.value]
        if self.kind is ChangeKind.CREATE:
            return f"{sign} {self.key}: {render(self.after)}"
        if self.kind is ChangeKind.DELETE:
            return f"{sign} {self.key}: {render(self.before)}"
        return f"{sign} {self.key}: {render(self.before)} -> {render(self.after)}"


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a provider's system can do, as data the reconciler and planner read."""

    max_batch: int
    """Most changes one apply call sends in one request (message, API call, command set)."""
    weighted: bool = False
    """Whether the system splits traffic by weight (SRV, weighted records, LB weights)."""
    verify_by_query: bool = True
    """Whether reading back shows exactly what clients get (a DNS query, a stats socket)."""


@dataclass(frozen=True, slots=True)
class Owned(Generic[Item]):
    """An item with the service it belongs to, so safety rules can count per service."""

    service: str
    item: Item


class Provider(Protocol[Item]):
    """An actuator that makes one external system hold what the mappings say.

    Implementations must: derive ``desired`` purely from the mappings given (no I/O, no
    clock); key items identically in ``desired`` and ``observe`` so that an unchanged
    system diffs to nothing; only ever touch items of the services they manage; raise
    :class:`gtm.errors.Unavailable` subclasses for transient failures (the reconciler
    retries with backoff) and :class:`gtm.errors.Rejected` subclasses for permanent ones
    (a wrong key, a refused update), naming the system and the values involved.

    Implementations must not: block the event loop (run blocking clients in a thread);
    write to the registry; log secrets.
    """

    name: str
    """The provider's name from the config (``bind-main``)."""
    kind: str
    """The provider type (``rfc2136``, ``route53``, ``haproxy``, ``elbv2``)."""
    services: frozenset[str]
    """The services it manages."""
    capabilities: Capabilities

    def desired(self, mappings: Sequence[Mapping]) -> dict[str, Owned[Item]]:
        """The items the system should hold for ``mappings`` (of managed services)."""
        ...

    async def observe(self) -> dict[str, Owned[Item]]:
        """The items the system holds now for the managed services."""
        ...

    async def apply(self, changes: Sequence[Change[Item]]) -> None:
        """Make the system hold ``changes``, in batches of at most ``max_batch``."""
        ...

    async def close(self) -> None:
        """Release connections and clients."""
        ...


def diff(
    desired: Lookup[str, Owned[Item]],
    observed: Lookup[str, Owned[Item]],
    same: Callable[[Item, Item], bool] | None = None,
) -> list[Change[Item]]:
    """The changes that turn ``observed`` into ``desired``, sorted by key.

    Args:
        desired: Items the system should hold.
        observed: Items it holds.
        same: Equality of two items (default ``==``).
    """
    equal = same or (lambda a, b: a == b)
    changes: list[Change[Item]] = []
    for key in sorted(desired.keys() | observed.keys()):
        want, have = desired.get(key), observed.get(key)
        if want is not None and have is None:
            changes.append(Change(ChangeKind.CREATE, key, want.service, None, want.item))
        elif want is None and have is not None:
            changes.append(Change(ChangeKind.DELETE, key, have.service, have.item, None))
        elif want is not None and have is not None and not equal(want.item, have.item):
            changes.append(Change(ChangeKind.UPDATE, key, want.service, have.item, want.item))
    return changes


def batches(changes: Sequence[Change[Item]], size: int) -> list[list[Change[Item]]]:
    """``changes`` cut into lists of at most ``size``, keeping one service's changes together
    where they fit, so a batch never leaves a service half-moved when it can be avoided."""
    by_service: dict[str, list[Change[Item]]] = {}
    for change in changes:
        by_service.setdefault(change.service, []).append(change)
    result: list[list[Change[Item]]] = []
    current: list[Change[Item]] = []
    for group in by_service.values():
        if current and len(current) + len(group) > size:
            result.append(current)
            current = []
        for change in group:
            if len(current) == size:
                result.append(current)
                current = []
            current.append(change)
    if current:
        result.append(current)
    return result


@dataclass(frozen=True, slots=True)
class Refusal:
    """A change the safety rule refuses, with the numbers."""

    service: str
    removed: int
    message: str


def emptied(
    changes: Sequence[Change[Any]],
    observed: Lookup[str, Owned[Any]],
    mappings: Lookup[str, Mapping],
    provider: str,
    counts: Callable[[Any], bool] = lambda _item: True,
) -> list[Refusal]:
    """Services the changes would leave with no serving items, when that is not wanted.

    A service may be emptied only when its mapping says so on purpose (action NXDOMAIN,
    the ``all_down: closed`` rule). A service missing from the mappings, or one whose
    mapping still has somewhere to send traffic, must keep at least one item.

    Args:
        changes: The planned changes.
        observed: What the system holds now.
        mappings: Current mappings by service.
        provider: The provider's name, for the message.
        counts: Whether an item serves traffic (an A record does, a TXT does not).
    """
    before: dict[str, int] = {}
    for owned in observed.values():
        if counts(owned.item):
            before[owned.service] = before.get(owned.service, 0) + 1
    after = dict(before)
    for change in changes:
        if change.before is not None and counts(change.before):
            after[change.service] -= 1
        if change.after is not None and counts(change.after):
            after[change.service] = after.get(change.service, 0) + 1
    refusals = []
    for service, count in sorted(before.items()):
        if count == 0 or after.get(service, 0) > 0:
            continue
        mapping = mappings.get(service)
        if mapping is not None and mapping.action is Action.NXDOMAIN:
            continue
        rule = "it has no mapping" if mapping is None else f"its action is {mapping.action.value}"
        refusals.append(
            Refusal(
                service,
                count,
                f"{provider}: refusing to remove all {count} serving item(s) of {service}, "
                f"leaving 0 ({rule}; only all_down: closed may empty a service); "
                "use --force to apply anyway",
            )
        )
    return refusals


def render(item: object) -> str:
    """A short text form of an item for plans and journal entries."""
    describe = getattr(item, "describe", None)
    return str(describe()) if callable(describe) else str(item)


def managed(mappings: Iterable[Mapping], services: frozenset[str]) -> list[Mapping]:
    """The mappings of the services a provider manages (all, when ``services`` is empty)."""
    return [m for m in mappings if not services or m.service in services]
