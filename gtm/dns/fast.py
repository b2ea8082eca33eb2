"""The common question, a service's A or AAAA, answered straight in bytes.

Through dnspython a fresh answer costs half a millisecond to a millisecond (parsing the
query into objects, building the RRset, rendering the reply), and a site lost makes every
moved name's answer fresh at once, while resolvers ask for all of them. This reads the
few bytes such a question is made of and writes the reply as dnspython would have
written it, byte for byte; anything else (other types, EDNS options, TSIG, a name the
zone does not hold, a negative answer) is left to the full path.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from gtm.core.model import Locator

HEADER = struct.Struct("!HHHHHH")
"""Id, flags, and the four section counts."""
_A, _AAAA, _OPT, _IN = 1, 28, 41, 1
_QR, _AA, _RD = 0x8000, 0x0400, 0x0100
_QUERY_MASK = 0xFECF
"""Flags a plain query must not carry: QR, opcode, AA, TC, RA, Z, rcode (RD, AD and CD it
may; the reply copies RD alone, as dnspython's does)."""
_RR = struct.Struct("!HHHIH")
"""A compressed owner (a pointer), type, class, TTL, data length."""
_POINTER_TO_QUESTION = 0xC00C
_OPT_RR = struct.Struct("!BHHIH")
"""Root owner, type OPT, class (payload size), TTL (rcode, version, flags), no data."""


@dataclass(frozen=True, slots=True)
class SimpleQuery:
    """A query of one name's A or AAAA, with at most a bare EDNS OPT."""

    id: int
    rd: bool
    labels: tuple[bytes, ...]
    """The name's labels, lower-cased, without the root."""
    rdtype: int
    question: bytes
    """The question section as the client wrote it."""
    payload: int | None
    """The client's EDNS payload size; None without EDNS."""


def read_simple(wire: bytes) -> SimpleQuery | None:
    """The query in ``wire`` when it is a simple one (see :class:`SimpleQuery`), else None.

    Simple means: a query (QR clear, opcode QUERY, no AA/TC/RA/Z or rcode bits), one
    question of class IN and type A or AAAA, its name without compression, no answer or
    authority records, and either no additional record or one OPT of version 0 with no
    options and a root owner (its flags are not copied to the reply).
    """
    if len(wire) < HEADER.size:
        return None
    ident, flags, qdcount, ancount, nscount, arcount = HEADER.unpack_from(wire)
    if flags & _QUERY_MASK or qdcount != 1 or ancount or nscount or arcount > 1:
        return None
    labels: list[bytes] = []
    at = HEADER.size
    while True:
        if at >= len(wire):
            return None
        length = wire[at]
        if length == 0:
            at += 1
            break
        if length > 63 or at + 1 + length > len(wire):
            return None  # a compression pointer, an extended label, or cut short
        labels.append(wire[at + 1 : at + 1 + length].lower())
        at += 1 + length
    if at + 4 > len(wire):
        return None
    rdtype, rdclass = struct.unpack_from("!HH", wire, at)
    if rdclass != _IN or rdtype not in (_A, _AAAA):
        return None
    question = wire[HEADER.size : at + 4]
    at += 4
    payload: int | None = None
    if arcount:
        if len(wire) != at + _OPT_RR.size:
            return None
        owner, kind, size, ttl, rdlength = _OPT_RR.unpack_from(wire, at)
        if owner or kind != _OPT or ttl & 0xFFFF0000 or rdlength:
            return None  # not a bare OPT of version 0
        payload = size
    elif at != len(wire):
        return None
    return SimpleQuery(ident, bool(flags & _RD), tuple(labels), rdtype, question, payload)


def addresses(locators: Iterable[Locator], rdtype: int) -> list[bytes]:
    """The A (or AAAA) data of ``locators``' IP literals, in order, each once."""
    version = 4 if rdtype == _A else 6
    found: dict[bytes, None] = {}
    for locator in locators:
        try:
            address = ipaddress.ip_address(locator.address)
        except ValueError:
            continue
        if address.version == version:
            found[address.packed] = None
    return list(found)


def address_answer(
    query: SimpleQuery, data: list[bytes], ttl: int, limit: int, payload: int
) -> bytes | None:
    """The authoritative answer holding ``data`` as the RRset of the question's name and
    type; None when it would not fit in ``limit`` bytes (the full path truncates).

    Args:
        query: The question.
        data: The records' data, in the order they are to go out; not empty.
        ttl: Their TTL.
        limit: The largest answer the client takes.
        payload: The EDNS payload size we advertise, when the query had EDNS.
    """
    flags = _QR | _AA | (_RD if query.rd else 0)
    edns = query.payload is not None
    parts = [
        HEADER.pack(query.id, flags, 1, len(data), 0, 1 if edns else 0),
        query.question,
    ]
    for rdata in data:
        parts.append(_RR.pack(_POINTER_TO_QUESTION, query.rdtype, _IN, ttl, len(rdata)))
        parts.append(rdata)
    if edns:
        parts.append(_OPT_RR.pack(0, _OPT, payload, 0, 0))
    answer = b"".join(parts)
    return answer if len(answer) <= limit else None
