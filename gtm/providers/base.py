"""What every provider is: observe an external system, diff it against the mappings, apply.

A provider makes one external system (an authoritative DNS server, Route 53, HAProxy, an
AWS load balancer) hold what the mappings say. It is split like octoDNS and dnspython:

- ``desired(mappings)`` is pure: the items (record sets, server weights, …) the system
  should hold for the services this provider manages, keyed by a stable string;
- ``observe()`` reads the items the system holds now, keyed the same way;
- :func:`gtm.core.changes.diff` (pure, shared) turns the two into ``Change`` values;
- ``apply(changes)`` sends them, in batches no larger than the capabilities allow,
  translated by a pure function (``build_update``, ``render_commands``, …) and carried by
  a thin transport.

The reconciler verifies by observing again and diffing: an empty diff means the system
holds the mappings. Providers never write to the registry and never decide anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from gtm.core.changes import Change, Owned
from gtm.core.model import Mapping

Item = TypeVar("Item")


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a provider's system can do, as data the reconciler and planner read."""

    max_batch: int
    """Most changes one apply call sends in one request (message, API call, command set)."""


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


class Verifying(Protocol[Item]):
    """A provider that can read back just what it changed, so a pass after a change costs
    what changed instead of a read of the whole system (the periodic resync still observes
    everything).

    Implementations must return, for every key of ``changes``, the item the system holds
    now (leaving out a key it no longer holds), read from the system or proved by it
    (an RFC 2136 server's serial showing every update was applied), never assumed.
    """

    async def verify(self, changes: Sequence[Change[Item]]) -> dict[str, Owned[Item]]:
        """The items the system holds now at the keys of ``changes`` (and possibly more)."""
        ...


def managed(mappings: Iterable[Mapping], services: frozenset[str]) -> list[Mapping]:
    """The mappings of the services a provider manages (all, when ``services`` is empty)."""
    return [m for m in mappings if not services or m.service in services]
