"""Zone transfers over TCP: AXFR and IXFR of the zone to the secondaries ``dns.transfer`` allows.

gtm is then a hidden primary: BIND, Knot or NSD copy the zone, serve it to the world, and
follow each change by NOTIFY (:mod:`gtm.dns.notify`) and IXFR. Who may transfer and what
an IXFR holds are decided by :mod:`gtm.core.transfer`; this module parses the request,
renders the answer into as many signed TCP messages as it takes, and logs refusals.
"""

from __future__ import annotations

import ipaddress
import logging
import struct
import time
from collections.abc import Sequence
from typing import Any, cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rdataclass
import dns.rdtypes.ANY.TSIG
import dns.tsig
from dns.rcode import Rcode
from dns.rdatatype import RdataType

from gtm.config.provider_checks import tsig_key_material
from gtm.config.secrets import resolve_secret
from gtm.config.transfer import TransferTsig
from gtm.core.transfer import (
    Address,
    IxfrKind,
    Network,
    TransferVerdict,
    TsigState,
    transfer_verdict,
)
from gtm.dns.answers import HEADER_SIZE, TCP_SIZE, TSIG_FAILURES, ZoneAnswers, header_answer
from gtm.dns.versions import Difference, Record, ZoneVersions, record_wire
from gtm.errors import ConfigError
from gtm.logs import throttle

log = logging.getLogger(__name__)
throttle(log)

TSIG_FUDGE = 300
"""Seconds of clock difference a signature allows (RFC 8945's recommended value)."""
TSIG_RESERVE = 512
"""Bytes kept free at the end of each message for its TSIG record."""

_TRANSFER_TYPES = {int(RdataType.AXFR), int(RdataType.IXFR)}
_REFUSALS = {
    TransferVerdict.ADDRESS_REFUSED: (
        Rcode.REFUSED,
        "dns: %s of %s from %s refused with REFUSED: the address is not in dns.transfer.allow",
    ),
    TransferVerdict.KEY_MISSING: (
        Rcode.REFUSED,
        "dns: %s of %s from %s refused with REFUSED: not signed with the key of dns.transfer.tsig",
    ),
    TransferVerdict.TSIG_FAILED: (
        Rcode.NOTAUTH,
        "dns: %s of %s from %s refused with NOTAUTH: its TSIG does not verify with "
        "dns.transfer.tsig",
    ),
}
"""The answer to each refusal, and its log line: one kind of line each, so the throttle
that keeps a flood of refused requests out of the log holds back no other kind."""


def transfer_key(tsig: TransferTsig | None) -> dns.tsig.Key | None:
    """The key of ``dns.transfer.tsig``, its secret read; None when none is configured.

    Raises:
        ConfigError: The secret cannot be read or is not base64 key material.
    """
    if tsig is None:
        return None
    secret = resolve_secret(tsig.secret).get_secret_value()
    try:
        material = tsig_key_material(secret)
    except ValueError as exc:
        raise ConfigError(f"config: dns.transfer.tsig.secret ({tsig.secret}) {exc}") from exc
    return dns.tsig.Key(tsig.name, material, tsig.algorithm)


def transfer_type(wire: bytes) -> RdataType | None:
    """The question's type when ``wire`` is a query for AXFR or IXFR, else None.

    Reads the header and walks the question's labels without parsing the message, so
    every other TCP query pays a few bytes' look, not a dnspython parse.
    """
    if len(wire) < HEADER_SIZE or wire[2] & 0x80 or int.from_bytes(wire[4:6], "big") != 1:
        return None
    offset = HEADER_SIZE
    while offset < len(wire) and wire[offset] != 0:
        if wire[offset] & 0xC0:
            return None  # a compressed question is no transfer request we will parse
        offset += wire[offset] + 1
    if offset + 3 > len(wire):
        return None
    (qtype,) = struct.unpack_from("!H", wire, offset + 1)
    return RdataType(qtype) if qtype in _TRANSFER_TYPES else None


class ZoneTransfers:
    """Answers AXFR and IXFR requests for the zone of ``answers`` from ``versions``.

    AXFR sends the SOA, every record, and the SOA again. IXFR sends the SOA alone when
    the client is up to date, the condensed difference since its serial when the journal
    reaches back that far (RFC 1995 allows one difference for many versions), and
    otherwise the whole zone in AXFR form. Every message is signed when the request was.
    """

    def __init__(
        self,
        answers: ZoneAnswers,
        versions: ZoneVersions,
        *,
        allow: Sequence[Network],
        key: dns.tsig.Key | None,
    ) -> None:
        """Serve transfers of the zone ``answers`` serves.

        Args:
            answers: The zone's answers: its origin, apex and serial.
            versions: The zone's records and journal; ``answers`` records into it.
            allow: Networks whose clients may transfer; empty: no one.
            key: The key every request must be signed with; None: the address decides.
        """
        self._answers = answers
        self._versions = versions
        self._allow = tuple(allow)
        self._key = key

    async def respond(self, wire: bytes, client: str) -> list[bytes]:
        """The messages that answer one AXFR or IXFR request from ``client``.

        Args:
            wire: The request, without its TCP length prefix (see :func:`transfer_type`).
            client: The connection's source address.

        Returns:
            One message or more, in order; a refusal is one message with REFUSED or
            NOTAUTH. The zone is sent as it stands once every change recorded before the
            request is built (:meth:`ZoneVersions.settle`), at that serial, which changes
            made meanwhile may have passed: their NOTIFY brings the secondary back.
        """
        query: dns.message.Message | None = None
        try:
            query = dns.message.from_wire(wire, keyring=self._key)
        except TSIG_FAILURES:
            pass
        except (dns.exception.DNSException, ValueError):
            return [header_answer(wire, Rcode.FORMERR)]
        if query is None:
            tsig = TsigState.INVALID
        else:
            tsig = TsigState.VALID if query.had_tsig else TsigState.NONE
        verdict = transfer_verdict(
            client_address(client),
            self._allow,
            key_required=self._key is not None,
            tsig=tsig,
        )
        if query is None or verdict is not TransferVerdict.ALLOW:
            rcode, line = _REFUSALS[verdict]
            kind = getattr(transfer_type(wire), "name", "transfer")
            log.warning(line, kind, self._answers.origin, client)
            if query is None:
                return [header_answer(wire, rcode)]
            return _render(query, [], rcode)  # signed when the request was: RFC 8945
        question = query.question[0]
        if question.name != self._answers.origin or question.rdclass != dns.rdataclass.IN:
            # Not our zone (or a name inside it, which is no zone): as for queries outside it.
            return _render(query, [], Rcode.REFUSED)
        asked: int | None = None
        if question.rdtype == RdataType.IXFR:
            soa = next((r for r in query.authority if r.rdtype == RdataType.SOA and r), None)
            if soa is None:
                return _render(query, [], Rcode.FORMERR)
            asked = int(soa[0].serial)
        current = await self._versions.settle()
        # Nothing below awaits: the zone read is the one at ``current``.
        if asked is not None:
            return self._ixfr(query, client, asked, current)
        log.info("dns: AXFR of %s to %s at serial %d", self._answers.origin, client, current)
        return _render(query, self._whole_zone(current))

    def _ixfr(
        self, query: dns.message.Message, client: str, asked: int, current: int
    ) -> list[bytes]:
        found = self._versions.since(asked, current)
        origin = self._answers.origin
        if found is IxfrKind.CURRENT:
            log.info("dns: IXFR of %s to %s: up to date at serial %d", origin, client, asked)
            return _render(query, [self._soa(current)])
        if found is IxfrKind.FULL:
            log.info(
                "dns: IXFR of %s to %s from serial %d: not in the journal, the whole zone at %d",
                origin,
                client,
                asked,
                current,
            )
            return _render(query, self._whole_zone(current))
        assert isinstance(found, Difference)
        log.info(
            "dns: IXFR of %s to %s from serial %d to %d: %d version(s), %d record(s) removed, "
            "%d added",
            origin,
            client,
            asked,
            current,
            found.versions,
            len(found.removed),
            len(found.added),
        )
        head = self._soa(current)
        records = [head, self._soa(asked), *found.removed, head, *found.added, head]
        return _render(query, records)

    def _soa(self, serial: int) -> Record:
        soa = self._answers.apex[RdataType.SOA]
        return record_wire(soa.name, soa.ttl, soa[0].replace(serial=serial))

    def _whole_zone(self, serial: int) -> list[Record]:
        head = self._soa(serial)
        ns = self._answers.apex[RdataType.NS]
        servers = [record_wire(ns.name, ns.ttl, rdata) for rdata in ns]
        return [head, *servers, *self._versions.records(), head]


def client_address(client: str) -> Address:
    """The client's address as the allow list is written: an IPv4 client of a dual-stack
    socket (``::ffff:192.0.2.53``) as IPv4, and an unknown one as ``::`` (in no list but
    ``::/0``)."""
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return ipaddress.IPv6Address("::")
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _render(
    query: dns.message.Message, records: Sequence[Record], rcode: Rcode = Rcode.NOERROR
) -> list[bytes]:
    """``records`` in the answer sections of as few messages as hold them, each signed when
    ``query`` was (one TSIG chain across them, RFC 8945 section 5.3.1).

    Records are already in wire format (see :mod:`gtm.dns.versions`), so a message is
    their concatenation behind a header; only the question and the signature are built.
    """
    key = query.keyring if query.had_tsig else None
    flags = int(dns.flags.QR | dns.flags.AA | (query.flags & dns.flags.RD)) | int(rcode)
    question = query.question[0]
    asked = cast(bytes, question.name.to_wire()) + struct.pack(
        "!HH", question.rdtype, question.rdclass
    )
    room = TCP_SIZE - HEADER_SIZE - len(asked) - (TSIG_RESERVE if key is not None else 0)
    chunks: list[list[Record]] = [[]]
    size = 0
    for record in records:
        if size + len(record) > room and chunks[-1]:
            chunks.append([])
            size = 0
        chunks[-1].append(record)
        size += len(record)
    messages: list[bytes] = []
    ctx: Any = None
    for index, chunk in enumerate(chunks):
        first = index == 0
        header = struct.pack("!HHHHHH", query.id, flags, int(first), len(chunk), 0, 0)
        wire = header + (asked if first else b"") + b"".join(chunk)
        if key is not None:
            wire, ctx = _sign(wire, key, query, ctx, (query.mac or b"") if first else b"")
        messages.append(wire)
    return messages


def _sign(
    wire: bytes, key: dns.tsig.Key, query: dns.message.Message, ctx: Any, request_mac: bytes
) -> tuple[bytes, Any]:
    """``wire`` with a TSIG record appended, chained to the messages signed before it."""
    template = dns.rdtypes.ANY.TSIG.TSIG(  # type: ignore[no-untyped-call]
        dns.rdataclass.ANY, RdataType.TSIG, key.algorithm, 0, TSIG_FUDGE, b"", query.id, 0, b""
    )
    signed, ctx = dns.tsig.sign(  # type: ignore[no-untyped-call]
        wire, key, template, int(time.time()), request_mac, ctx, True
    )
    tsig = record_wire(key.name, 0, signed)
    additional = int.from_bytes(wire[10:12], "big") + 1
    return wire[:10] + additional.to_bytes(2, "big") + wire[12:] + tsig, ctx
