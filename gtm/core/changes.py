"""Planning a provider's work: the changes between two sets of items, cut into batches.

Every provider keys the items its system should hold and the items it holds the same way;
what to create, replace or delete follows from the two alone, and so does the safety rule
that refuses to leave a service with nothing to serve. These are decisions, so they live
in the core, pure, shared by the reconciler, the providers and the planned-failover
preview (octoDNS computes its plan the same way before any provider applies it).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from collections.abc import Mapping as Lookup
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from gtm.core.model import Action, Mapping

Item = TypeVar("Item")


class ChangeKind(enum.StrEnum):
    """What a change does to one item."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


_SIGNS = {ChangeKind.CREATE: "+", ChangeKind.UPDATE: "~", ChangeKind.DELETE: "-"}


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
        sign = _SIGNS[self.kind]
        if self.kind is ChangeKind.CREATE:
            return f"{sign} {self.key}: {render(self.after)}"
        if self.kind is ChangeKind.DELETE:
            return f"{sign} {self.key}: {render(self.before)}"
        return f"{sign} {self.key}: {render(self.before)} -> {render(self.after)}"


@dataclass(frozen=True, slots=True)
class Owned(Generic[Item]):
    """An item with the service it belongs to, so safety rules can count per service."""

    service: str
    item: Item


@dataclass(frozen=True, slots=True)
class Emptying:
    """A service that planned changes would leave with nothing to serve, refused."""

    service: str
    removed: int
    """Serving items the service holds now, all of which the changes would remove."""
    message: str
    """One line for the operator: the provider, the service, the numbers, what to do."""


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


def emptied(
    changes: Sequence[Change[Any]],
    observed: Lookup[str, Owned[Any]],
    mappings: Lookup[str, Mapping],
    provider: str,
    counts: Callable[[Any], bool] = lambda _item: True,
) -> list[Emptying]:
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
    refused = []
    for service, count in sorted(before.items()):
        if after.get(service, 0) > 0:
            continue
        mapping = mappings.get(service)
        if mapping is not None and mapping.action is Action.NXDOMAIN:
            continue
        rule = "it has no mapping" if mapping is None else f"its action is {mapping.action.value}"
        refused.append(
            Emptying(
                service,
                count,
                f"{provider}: refusing to remove all {count} serving item(s) of {service}, "
                f"leaving 0 ({rule}; only all_down: closed may empty a service); "
                "use --force to apply anyway",
            )
        )
    return refused


def render(item: object) -> str:
    """A short text form of an item for plans and journal entries."""
    describe = getattr(item, "describe", None)
    return str(describe()) if callable(describe) else str(item)
