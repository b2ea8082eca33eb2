"""Record sets and their changes as RFC 2136 update messages: a pure translator, no I/O.

Kept apart from the transport so that what is sent (prerequisites, packing under a size
limit) is tested by reading messages, without a server.

The messages are written as bytes directly (RFC 1035 4.1, RFC 2136 2), then signed with
dnspython's TSIG: building them through dnspython's rdata and message objects took
seconds of CPU for a thousand moved services (parsing each record's text, hashing it into
a set, rendering it with name compression), while the bytes of an A, AAAA, SRV or TXT
record are a few ``struct.pack`` calls. Owner names end in a pointer to the zone name
(offset 12), the one compression used; record data is never compressed (RFC 2782 forbids
it for SRV targets). Record data gtm does not write itself in plain form (a TXT edited by
hand with escapes) is rendered by dnspython, so any observed record can be a
prerequisite.
"""

from __future__ import annotations

import functools
import random
import re
import socket
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.tsig
from dns.rdtypes.ANY.TSIG import TSIG

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


@dataclass(frozen=True, slots=True)
class Update:
    """One update message ready to send.

    Attributes:
        wire: The message, signed when a key was given.
        mac: The signature's MAC, which the server's signed answer must cite (empty when
            unsigned).
        keys: The record sets it changes (``"<owner> <TYPE>"``), in order, for messages.
    """

    wire: bytes
    mac: bytes
    keys: tuple[str, ...]


_OPCODE_UPDATE = 5 << 11
_IN, _NONE, _ANY = 1, 254, 255
_TYPE_CODES = {"A": 1, "SRV": 33, "TXT": 16, "AAAA": 28}
_POINTER_TO_ZONE = b"\xc0\x0c"
"""A compression pointer to the zone name, which the zone section holds at offset 12."""
_PLAIN_LABELS = re.compile(r"([A-Za-z0-9_-]{1,63}\.)+\Z")
_PLAIN_STRINGS = re.compile(r'"[ -!#-\[\]-~]*"( "[ -!#-\[\]-~]*")*\Z')
FUDGE = 300
"""Seconds of clock difference a TSIG signature tolerates (dnspython's default too)."""


def build_updates(
    zone: dns.name.Name,
    changes: Sequence[Change[RecordSet]],
    keyring: dns.tsig.Key | None,
    max_message: int,
) -> list[Update]:
    """The update messages that carry ``changes``, each at most ``max_message`` bytes.

    Each change is guarded by a prerequisite on what was observed: an update or delete
    requires the record set to hold exactly the observed records (RFC 2136 2.4.2, "RRset
    exists, value dependent"; the TTL is not compared, the protocol has no way to); a
    create requires the record set to be absent (2.4.3). A record set edited by hand after
    it was observed makes the server refuse the whole message instead of gtm overwriting
    the edit without having seen it.

    One service's changes go in one message whenever they fit in one, and the server
    applies a message all or nothing, so a service moves in one step. Otherwise changes
    fill each message in order until the next would overflow it, or until it holds
    :data:`MAX_CHANGES`. Sizes are exact, the signature included.

    Args:
        zone: The zone being updated.
        changes: The changes, as :func:`gtm.providers.base.diff` makes them.
        keyring: The TSIG key that signs the messages, or None to send them unsigned.
        max_message: Largest message in bytes, TSIG record included.

    Raises:
        ValueError: One change alone does not fit in ``max_message`` bytes, or names a
            record set outside ``zone``.
    """
    zone_wire = zone.to_wire() or b""
    zone_text = zone.to_text()
    signature = _signature_size(keyring)
    room = max_message - signature - 12 - len(zone_wire) - 4
    groups: dict[str, list[_Piece]] = {}
    for change in changes:
        groups.setdefault(change.service, []).append(_piece(zone, zone_text, change))
    drafts: list[list[_Piece]] = []
    draft: list[_Piece] = []
    size = 0
    for group in groups.values():
        whole = sum(piece.size for piece in group)
        overflows = size + whole > room or len(draft) + len(group) > MAX_CHANGES
        if draft and overflows and whole <= room and len(group) <= MAX_CHANGES:
            drafts.append(draft)  # the service fits a message of its own: start one
            draft, size = [], 0
        for piece in group:
            if draft and (size + piece.size > room or len(draft) >= MAX_CHANGES):
                drafts.append(draft)
                draft, size = [], 0
            if piece.size > room:
                needs = max_message - room + piece.size
                raise ValueError(
                    f"the change {piece.key} needs {needs} bytes, more than the max_message"
                    f" of {max_message}"
                )
            draft.append(piece)
            size += piece.size
    if draft:
        drafts.append(draft)
    return [_message(zone_wire, pieces, keyring) for pieces in drafts]


@dataclass(frozen=True, slots=True)
class _Piece:
    """One change as the bytes of its prerequisite and update records."""

    key: str
    prerequisites: tuple[bytes, ...]
    updates: tuple[bytes, ...]

    @property
    def size(self) -> int:
        return sum(map(len, self.prerequisites)) + sum(map(len, self.updates))


def _piece(zone: dns.name.Name, zone_text: str, change: Change[RecordSet]) -> _Piece:
    record = change.after or change.before
    assert record is not None
    owner = _owner(zone, zone_text, record.owner)
    rdtype = _type_code(record.rdtype)
    if change.kind is ChangeKind.CREATE:
        assert change.after is not None
        absent = (_rr(owner, rdtype, _NONE, 0, b""),)
        return _Piece(change.key, absent, _rrs(owner, change.after, _IN, change.after.ttl))
    assert change.before is not None
    present = _rrs(owner, change.before, _IN, 0)
    drop = (_rr(owner, rdtype, _ANY, 0, b""),)
    if change.kind is ChangeKind.UPDATE:
        assert change.after is not None
        return _Piece(change.key, present, drop + _rrs(owner, change.after, _IN, change.after.ttl))
    return _Piece(change.key, present, drop)


def _owner(zone: dns.name.Name, zone_text: str, owner: str) -> bytes:
    """``owner`` on the wire: its labels below the zone, then a pointer to the zone."""
    if owner == zone_text.lower():
        return _POINTER_TO_ZONE
    suffix = "." + zone_text.lower()
    if owner.endswith(suffix) and _PLAIN_LABELS.match(owner[: -len(suffix)] + "."):
        labels = owner[: -len(suffix)].split(".")
    else:
        name = dns.name.from_text(owner)
        if not name.is_subdomain(zone):
            raise ValueError(f"the change {owner} is outside the zone {zone}")
        labels = [label.decode("latin-1") for label in name.relativize(zone).labels]
    return b"".join(bytes([len(label)]) + label.encode("latin-1") for label in labels) + (
        _POINTER_TO_ZONE
    )


def _rrs(owner: bytes, record: RecordSet, rdclass: int, ttl: int) -> tuple[bytes, ...]:
    rdtype = _type_code(record.rdtype)
    return tuple(
        _rr(owner, rdtype, rdclass, ttl, _rdata(record.rdtype, text)) for text in record.rdatas
    )


def _rr(owner: bytes, rdtype: int, rdclass: int, ttl: int, rdata: bytes) -> bytes:
    return owner + struct.pack("!HHIH", rdtype, rdclass, ttl, len(rdata)) + rdata


def _type_code(rdtype: str) -> int:
    return _TYPE_CODES.get(rdtype) or int(dns.rdatatype.from_text(rdtype))


@functools.lru_cache(maxsize=65536)
def _rdata(rdtype: str, text: str) -> bytes:
    """The wire form of one record's data given in presentation form."""
    try:
        if rdtype == "A":
            return socket.inet_pton(socket.AF_INET, text)
        if rdtype == "AAAA":
            return socket.inet_pton(socket.AF_INET6, text)
        if rdtype == "SRV":
            priority, weight, port, target = text.split(" ")
            if _PLAIN_LABELS.match(target):
                labels = target[:-1].split(".")
                name = b"".join(bytes([len(x)]) + x.encode() for x in labels) + b"\0"
                return struct.pack("!HHH", int(priority), int(weight), int(port)) + name
        if rdtype == "TXT" and _PLAIN_STRINGS.match(text):
            strings = [part.encode() for part in text[1:-1].split('" "')]
            if all(len(string) <= 255 for string in strings):
                return b"".join(bytes([len(string)]) + string for string in strings)
    except (OSError, ValueError):
        pass  # not in the plain form: dnspython reads it, or says what is wrong
    parsed = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype), text)
    return parsed.to_wire() or b""


def _message(zone_wire: bytes, pieces: Sequence[_Piece], keyring: dns.tsig.Key | None) -> Update:
    prerequisites = [rr for piece in pieces for rr in piece.prerequisites]
    updates = [rr for piece in pieces for rr in piece.updates]
    message_id = random.randrange(65536)
    header = struct.pack(
        "!HHHHHH", message_id, _OPCODE_UPDATE, 1, len(prerequisites), len(updates), 0
    )
    wire = b"".join([header, zone_wire, struct.pack("!HH", 6, _IN), *prerequisites, *updates])
    keys = tuple(piece.key for piece in pieces)
    if keyring is None:
        return Update(wire, b"", keys)
    signed, mac = sign(wire, keyring, message_id)
    return Update(signed, mac, keys)


def sign(wire: bytes, keyring: dns.tsig.Key, message_id: int) -> tuple[bytes, bytes]:
    """``wire`` with a TSIG record signed by ``keyring`` now, and the signature's MAC."""
    template = TSIG(  # type: ignore[no-untyped-call]
        dns.rdataclass.ANY, dns.rdatatype.TSIG, keyring.algorithm, 0, FUDGE, b"", message_id, 0, b""
    )
    tsig, _ = dns.tsig.sign(  # type: ignore[no-untyped-call]
        wire, keyring, template, int(time.time()), None
    )
    rdata = tsig.to_wire() or b""
    record = (keyring.name.to_wire() or b"") + struct.pack(
        "!HHIH", dns.rdatatype.TSIG, dns.rdataclass.ANY, 0, len(rdata)
    )
    additional = struct.unpack("!H", wire[10:12])[0] + 1
    return wire[:10] + struct.pack("!H", additional) + wire[12:] + record + rdata, tsig.mac


def _signature_size(keyring: dns.tsig.Key | None) -> int:
    """Bytes a TSIG record adds to a message (its length does not depend on the time)."""
    if keyring is None:
        return 0
    empty = struct.pack("!HHHHHH", 0, _OPCODE_UPDATE, 0, 0, 0, 0)
    return len(sign(empty, keyring, 0)[0]) - len(empty)
