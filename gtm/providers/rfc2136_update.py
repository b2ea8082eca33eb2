"""Record sets and their changes as RFC 2136 update messages: a pure translator, no I/O.

Kept apart from the transport so that what is sent (prerequisites, packing under a size
limit) is tested by reading messages, without a server.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.update

from gtm.providers.base import Change, ChangeKind

TYPES = frozenset({"A", "AAAA", "SRV", "TXT"})
"""The record types gtm writes; others at the same names are left alone."""

MAX_CHANGES = 1000
"""Most changes in one update message, whatever their size, so that one message stays a
bounded amount of work for the server (BIND applies and journals it as one transaction)."""


@dataclass(frozen=True, slots=True)
class RecordSet:
    """All records of one type at one name, as plain text so that equality is exact.

    Attributes:
        owner: Absolute owner name, lowercase (``billing.gtm.example.test.``).
        rdtype: Record type (``A``, ``AAAA``, ``SRV``, ``TXT``).
        ttl: Time to live in seconds.
        rdatas: The records' data in presentation form, sorted; names absolute.
    """

    owner: str
    rdtype: str
    ttl: int
    rdatas: tuple[str, ...]

    @classmethod
    def from_rdataset(cls, owner: dns.name.Name, rdataset: dns.rdataset.Rdataset) -> RecordSet:
        """The record set of ``rdataset`` at ``owner`` (an absolute name)."""
        return cls(
            owner=owner.to_text().lower(),
            rdtype=dns.rdatatype.to_text(rdataset.rdtype),
            ttl=rdataset.ttl,
            rdatas=tuple(sorted(rdata.to_text() for rdata in rdataset)),
        )

    @property
    def key(self) -> str:
        """``"<owner> <TYPE>"``: how desired and observed record sets are matched."""
        return f"{self.owner} {self.rdtype}"

    def name(self) -> dns.name.Name:
        """The owner as a dnspython name."""
        return dns.name.from_text(self.owner)

    def rdata_objects(self) -> list[dns.rdata.Rdata]:
        """The records' data as dnspython rdata."""
        rdtype = dns.rdatatype.from_text(self.rdtype)
        return [dns.rdata.from_text(dns.rdataclass.IN, rdtype, text) for text in self.rdatas]

    def describe(self) -> str:
        """One line for plans: ``A 30 192.0.2.10 192.0.2.11``."""
        return f"{self.rdtype} {self.ttl} {' '.join(self.rdatas)}"


def add_change(message: dns.update.UpdateMessage, change: Change[RecordSet]) -> None:
    """Append one change to ``message``, guarded by a prerequisite on what was observed.

    An update or delete requires the record set to hold exactly the observed records
    (RFC 2136 2.4.2, "RRset exists, value dependent"; the TTL is not compared, the protocol
    has no way to); a create requires the record set to be absent (2.4.3). A record set
    edited by hand after it was observed makes the server refuse the whole message
    instead of gtm overwriting the edit without having seen it.
    """
    if change.kind is ChangeKind.CREATE:
        assert change.after is not None
        name = change.after.name()
        message.absent(name, change.after.rdtype)
        message.add(name, change.after.ttl, *change.after.rdata_objects())
        return
    assert change.before is not None
    name = change.before.name()
    message.present(name, *change.before.rdata_objects())
    if change.kind is ChangeKind.UPDATE:
        assert change.after is not None
        message.replace(name, change.after.ttl, *change.after.rdata_objects())
    else:
        message.delete(name, change.before.rdtype)


def build_updates(
    zone: dns.name.Name,
    changes: Sequence[Change[RecordSet]],
    keyring: dns.tsig.Key | None,
    max_message: int,
) -> list[dns.update.UpdateMessage]:
    """The update messages that carry ``changes``, each at most ``max_message`` bytes.

    One service's changes go in one message whenever they fit in one, and the server
    applies a message all or nothing, so a service moves in one step. Otherwise changes
    fill each message in order until the next would overflow it.

    The size of a change is measured by rendering it alone in a message with the zone
    section; in a shared message name compression can only make it smaller, so the sum is
    an upper bound. The TSIG record is accounted for by signing an empty message once
    (only its length is used; the messages are signed again when sent).

    Args:
        zone: The zone being updated.
        changes: The changes, as :func:`gtm.providers.base.diff` makes them.
        keyring: The TSIG key that signs the messages, or None to send them unsigned.
        max_message: Largest message in bytes, TSIG record included.

    Raises:
        ValueError: One change alone does not fit in ``max_message`` bytes.
    """
    base = len(_message(zone, keyring).to_wire())
    unsigned_base = len(_message(zone, None).to_wire())
    groups: dict[str, list[tuple[Change[RecordSet], int]]] = {}
    for change in changes:
        single = _message(zone, None)
        add_change(single, change)
        cost = len(single.to_wire()) - unsigned_base
        if base + cost > max_message:
            raise ValueError(
                f"the change {change.key} needs {base + cost} bytes, more than the "
                f"max_message of {max_message}"
            )
        groups.setdefault(change.service, []).append((change, cost))

    messages: list[dns.update.UpdateMessage] = []
    current: list[Change[RecordSet]] = []
    size = base

    def flush() -> None:
        nonlocal current, size
        if current:
            message = _message(zone, keyring)
            for change in current:
                add_change(message, change)
            messages.append(message)
        current, size = [], base

    for group in groups.values():
        group_cost = sum(cost for _, cost in group)
        fits_alone = base + group_cost <= max_message and len(group) <= MAX_CHANGES
        overflows = size + group_cost > max_message or len(current) + len(group) > MAX_CHANGES
        if fits_alone and overflows:
            flush()
        for change, cost in group:
            if size + cost > max_message or len(current) == MAX_CHANGES:
                flush()
            current.append(change)
            size += cost
    flush()
    return messages


def _message(zone: dns.name.Name, keyring: dns.tsig.Key | None) -> dns.update.UpdateMessage:
    if keyring is None:
        return dns.update.UpdateMessage(zone)
    return dns.update.UpdateMessage(
        zone, keyring=keyring, keyname=keyring.name, keyalgorithm=keyring.algorithm
    )
