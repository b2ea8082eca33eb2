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

from gtm.core.changes import Change, ChangeKind

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
    fill each message in order until the next would overflow it, or until it holds
    :data:`MAX_CHANGES`. Sizes are upper bounds computed without rendering (see
    :class:`_Draft`), so a message is never larger than the limit once rendered and signed.

    Args:
        zone: The zone being updated.
        changes: The changes, as :func:`gtm.providers.base.diff` makes them.
        keyring: The TSIG key that signs the messages, or None to send them unsigned.
        max_message: Largest message in bytes, TSIG record included.

    Raises:
        ValueError: One change alone does not fit in ``max_message`` bytes, or names a
            record set outside ``zone``.
    """
    # The TSIG record's length does not depend on the time it is signed at, so signing an
    # empty message once measures it; the messages are signed again when sent.
    base = len(_message(zone, keyring).to_wire())
    groups: dict[str, list[_Piece]] = {}
    for change in changes:
        groups.setdefault(change.service, []).append(_Piece.of(zone, change))

    drafts: list[_Draft] = []
    draft = _Draft(zone, base, max_message)
    for group in groups.values():
        if draft.pieces and not draft.fits(group) and draft.fresh().fits(group):
            drafts.append(draft)
            draft = draft.fresh()
        for piece in group:
            if draft.pieces and not draft.fits([piece]):
                drafts.append(draft)
                draft = draft.fresh()
            if not draft.fits([piece]):
                raise ValueError(
                    f"the change {piece.key} needs {base + draft.cost([piece])[0]} bytes, "
                    f"more than the max_message of {max_message}"
                )
            draft.take(piece)
    if draft.pieces:
        drafts.append(draft)
    return [d.message(keyring) for d in drafts]


POINTER_REACH = 0x3FFF
"""Highest message offset a compression pointer can point at (RFC 1035 4.1.4)."""


@dataclass(frozen=True, slots=True)
class _Piece:
    """One change translated into record sets, with what sizing them needs."""

    key: str
    suffixes: tuple[tuple[bytes, ...], ...]
    """The owner name's suffixes below the zone, longest (the owner) first, lowercase."""
    prefixes: tuple[int, ...]
    """Bytes of the labels in front of each suffix, then of all the labels."""
    prerequisite: list[dns.rrset.RRset]
    update: list[dns.rrset.RRset]
    prerequisite_data: list[int]
    """Data bytes of each prerequisite RR (0 for the RR of an absent or delete)."""
    update_data: list[int]

    @classmethod
    def of(cls, zone: dns.name.Name, change: Change[RecordSet]) -> _Piece:
        """``change`` translated once, through a message of its own."""
        single = _message(zone, None)
        add_change(single, change)
        record = change.after or change.before
        assert record is not None
        name = record.name()
        if not name.is_subdomain(zone):
            raise ValueError(f"the change {change.key} is outside the zone {zone}")
        # Wire labels without the zone's: (b"aws-use1", b"billing") for a site name.
        relative = [label.lower() for label in name.relativize(zone).labels]
        return cls(
            key=change.key,
            suffixes=tuple(tuple(relative[i:]) for i in range(len(relative))),
            prefixes=tuple(
                sum(len(label) + 1 for label in relative[:i]) for i in range(len(relative) + 1)
            ),
            prerequisite=list(single.prerequisite),
            update=list(single.update),
            prerequisite_data=_data_sizes(single.prerequisite),
            update_data=_data_sizes(single.update),
        )


class _Draft:
    """An update message being filled, with an upper bound of its size once rendered.

    The bound follows how dnspython compresses names: every owner name can end in a
    pointer to the zone name, which the zone section holds at offset 12; a name (or a
    suffix of it, such as a service's name in its site names) written at an offset a
    pointer can reach is a pointer wherever it comes again. Only offsets in the
    prerequisite section, which are known as changes are added, are relied on. A, AAAA,
    SRV and TXT data is never compressed. The true size is therefore at most the bound.
    """

    def __init__(self, zone: dns.name.Name, base: int, limit: int) -> None:
        self.zone = zone
        self.base = base
        self.limit = limit
        self.pieces: list[_Piece] = []
        self.size = base
        # Prerequisites start after the header (12 bytes) and the zone section.
        self.prerequisites_end = 12 + len(zone.to_wire() or b"") + 4
        self.written: set[tuple[bytes, ...]] = set()

    def fresh(self) -> _Draft:
        """An empty draft for the same zone and limit."""
        return _Draft(self.zone, self.base, self.limit)

    def fits(self, pieces: Sequence[_Piece]) -> bool:
        """Whether ``pieces`` can all join this message."""
        if len(self.pieces) + len(pieces) > MAX_CHANGES:
            return False
        return self.size + self.cost(pieces)[0] <= self.limit

    def take(self, piece: _Piece) -> None:
        """Add one change to this message."""
        size, prerequisites, written = self.cost([piece])
        self.pieces.append(piece)
        self.size += size
        self.prerequisites_end += prerequisites
        self.written |= written

    def cost(self, pieces: Sequence[_Piece]) -> tuple[int, int, set[tuple[bytes, ...]]]:
        """Bytes ``pieces`` add, of which in prerequisites, and the names they write where
        a pointer can reach them."""
        size = prerequisites = 0
        written: set[tuple[bytes, ...]] = set()
        for piece in pieces:
            for in_prerequisites, datas in (
                (True, piece.prerequisite_data),
                (False, piece.update_data),
            ):
                for data in datas:
                    # The longest suffix already written ends the name in a pointer.
                    cut = next(
                        (
                            i
                            for i, suffix in enumerate(piece.suffixes)
                            if suffix in self.written or suffix in written
                        ),
                        len(piece.suffixes),
                    )
                    record = piece.prefixes[cut] + 2 + 10 + data
                    if in_prerequisites:
                        at = self.prerequisites_end + prerequisites
                        written.update(
                            suffix
                            for i, suffix in enumerate(piece.suffixes[:cut])
                            if at + piece.prefixes[i] <= POINTER_REACH
                        )
                        prerequisites += record
                    size += record
        return size, prerequisites, written

    def message(self, keyring: dns.tsig.Key | None) -> dns.update.UpdateMessage:
        """The update message holding this draft's changes, in order."""
        message = _message(self.zone, keyring)
        for piece in self.pieces:
            message.prerequisite.extend(piece.prerequisite)
            message.update.extend(piece.update)
        return message


def _data_sizes(rrsets: Sequence[dns.rrset.RRset]) -> list[int]:
    """Data bytes of each RR of ``rrsets``; a record set with no data is one empty RR."""
    return [size for rrset in rrsets for size in [len(rd.to_wire() or b"") for rd in rrset] or [0]]


def _message(zone: dns.name.Name, keyring: dns.tsig.Key | None) -> dns.update.UpdateMessage:
    if keyring is None:
        return dns.update.UpdateMessage(zone)
    return dns.update.UpdateMessage(
        zone, keyring=keyring, keyname=keyring.name, keyalgorithm=keyring.algorithm
    )
