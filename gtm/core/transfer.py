"""Zone transfer decisions: who may transfer, what an IXFR holds, how serials compare.

The DNS responder feeds secondaries (BIND, Knot, NSD) by AXFR and IXFR. Whether a client
may have the zone, and whether its serial can be brought up to date from the journal of
zone versions or needs the whole zone, are questions with one answer each, kept here
without sockets so they are table-tested.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

SERIAL_BITS = 32
SERIAL_MODULUS = 2**SERIAL_BITS
_HALF = 2 ** (SERIAL_BITS - 1)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Record = TypeVar("Record")


def serial_after(a: int, b: int) -> bool:
    """Whether serial ``a`` is newer than ``b`` under RFC 1982 arithmetic (32 bits).

    Serials wrap around: 1 is after 4294967295. Two serials exactly half the space apart
    are not comparable; neither is after the other.
    """
    a %= SERIAL_MODULUS
    b %= SERIAL_MODULUS
    return (a < b and b - a > _HALF) or (a > b and a - b < _HALF)


class TsigState(Enum):
    """What the request's TSIG said when it was parsed."""

    NONE = "none"
    """Not signed."""
    VALID = "valid"
    """Signed with a key we hold, and the signature and time verify."""
    INVALID = "invalid"
    """Signed with a key we do not hold, or the signature or time does not verify."""


class TransferVerdict(Enum):
    """Whether a transfer is served, and if not, why."""

    ALLOW = "allow"
    ADDRESS_REFUSED = "address-refused"
    """The client's address is in none of the allowed networks (answered REFUSED)."""
    KEY_MISSING = "key-missing"
    """A key is required and the request is not signed (answered REFUSED)."""
    TSIG_FAILED = "tsig-failed"
    """The request's TSIG failed, RFC 8945: a bad key, signature or time (NOTAUTH)."""


def transfer_verdict(
    client: Address,
    allow: Iterable[Network],
    *,
    key_required: bool,
    tsig: TsigState,
) -> TransferVerdict:
    """Whether ``client`` may transfer the zone.

    A failed signature is refused whatever the address, so a secondary with a wrong key
    says so in its log. Otherwise the address must be inside one of ``allow`` (none: no
    one may transfer), and with ``key_required`` the request must carry a valid TSIG.

    Args:
        client: The source address of the TCP connection.
        allow: Networks that may transfer.
        key_required: Whether a TSIG key is configured for transfers.
        tsig: What the request's signature said.
    """
    if tsig is TsigState.INVALID:
        return TransferVerdict.TSIG_FAILED
    if not any(client in network for network in allow):
        return TransferVerdict.ADDRESS_REFUSED
    if key_required and tsig is not TsigState.VALID:
        return TransferVerdict.KEY_MISSING
    return TransferVerdict.ALLOW


class IxfrKind(Enum):
    """How an IXFR request is answered (RFC 1995)."""

    CURRENT = "current"
    """The client's serial is ours or newer: the answer is our SOA alone."""
    INCREMENTAL = "incremental"
    """The journal holds every version since the client's serial: the differences."""
    FULL = "full"
    """The client's serial is older than the journal (or unknown): the whole zone."""


@dataclass(frozen=True)
class IxfrPlan:
    """The answer to an IXFR request: its kind and, when incremental, where to start."""

    kind: IxfrKind
    first: int = 0
    """Index in the journal of the first version to send (INCREMENTAL only)."""


def plan_ixfr(asked: int, current: int, starts: Sequence[int]) -> IxfrPlan:
    """How to bring a client at serial ``asked`` up to ``current``.

    Args:
        asked: The serial of the SOA in the request's authority section.
        current: The zone's serial now.
        starts: The serial each journal version starts from, oldest first; version ``i``
            goes from ``starts[i]`` to ``starts[i + 1]`` (the last one to ``current``).

    Returns:
        CURRENT when ``asked`` is ``current`` or newer; INCREMENTAL from the version that
        starts at ``asked`` when the journal holds one; FULL otherwise, as RFC 1995
        allows when the differences are no longer kept.
    """
    asked %= SERIAL_MODULUS
    current %= SERIAL_MODULUS
    if asked == current or serial_after(asked, current):
        return IxfrPlan(IxfrKind.CURRENT)
    for index, start in enumerate(starts):
        if start % SERIAL_MODULUS == asked:
            return IxfrPlan(IxfrKind.INCREMENTAL, index)
    return IxfrPlan(IxfrKind.FULL)


def condense(
    diffs: Iterable[tuple[Collection[Record], Collection[Record]]],
) -> tuple[set[Record], set[Record]]:
    """One difference (removed, added) equal to applying ``diffs`` in order.

    Each diff must be exact for the state it applies to: it removes only records present
    and adds only records absent, as the difference of two zone versions is. A record
    added then removed appears in neither result; one removed then added back, in
    neither too, so a secondary is never asked to delete what it will not have.

    Args:
        diffs: ``(removed, added)`` per version, oldest first.

    Returns:
        ``(removed, added)`` from the state before the first diff to the state after
        the last; disjoint, and exact in the same sense.
    """
    removed: set[Record] = set()
    added: set[Record] = set()
    for gone, new in diffs:
        for record in gone:
            if record in added:
                added.discard(record)
            else:
                removed.add(record)
        for record in new:
            if record in removed:
                removed.discard(record)
            else:
                added.add(record)
    return removed, added
