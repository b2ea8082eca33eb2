"""Answers to DNS queries for the service zone, as bytes in and bytes out.

The responder's whole policy lives here without sockets, so every rule (REFUSED outside
the zone, NXDOMAIN with SOA, truncation, the answer cache) is testable with plain calls
and the server stays a thin I/O shell.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from collections.abc import Mapping as NodeView
from typing import Protocol

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rdataclass
import dns.rrset
import dns.tsig
from dns.rcode import Rcode
from dns.rdatatype import RdataType

from gtm.core.model import Mapping
from gtm.dns.cache import DEFAULT_BUDGET, AnswerCache, CacheKey
from gtm.dns.fast import address_answer, addresses, read_simple
from gtm.dns.records import (
    LazyNode,
    Node,
    apex_node,
    child_name,
    is_hidden,
    service_builders,
    soa_rrset,
)
from gtm.dns.versions import ZoneVersions
from gtm.errors import Unavailable

HEADER_SIZE = 12
CLASSIC_UDP_SIZE = 512
"""Largest UDP answer to a client that did not send EDNS (RFC 1035)."""
EDNS_PAYLOAD = 1232
"""UDP payload size we advertise: the DNS Flag Day 2020 size that avoids fragmentation."""
TCP_SIZE = 65535

ANY_PREFERENCE = (
    RdataType.SOA,
    RdataType.TXT,
    RdataType.A,
    RdataType.AAAA,
    RdataType.SRV,
    RdataType.NS,
)
"""ANY gets the first of these a name holds: one small RRset, as RFC 8482 allows, so the
zone is no amplifier and the TXT (version, epoch, active site) is what a service shows."""

_QR = int(dns.flags.QR)
_RD = int(dns.flags.RD)
_OPCODE_MASK = 0x7800

TSIG_FAILURES = (
    dns.message.UnknownTSIGKey,
    dns.tsig.BadSignature,
    dns.tsig.BadTime,
    dns.tsig.BadKey,
    dns.tsig.BadAlgorithm,
)
"""What dnspython raises for a signed message that does not verify with our key."""


class MappingSource(Protocol):
    """Where the responder reads mappings: the registry, or a fake in tests.

    Implementations must answer ``get`` from memory without blocking, since it runs on
    the event loop for every question not yet cached, and must call every subscribed
    callback after any mapping changes, with the new mapping. They must not call back
    before ``subscribe`` has returned.
    """

    def get(self, service: str) -> Mapping | None:
        """The current mapping of ``service``, or None when there is no such service."""
        ...

    def subscribe(self, callback: Callable[[Mapping], None]) -> Callable[[], None]:
        """Call ``callback`` on every change; return a function that stops the calls."""
        ...


class ZoneAnswers:
    """The authoritative answers of one zone, from the mappings of a source.

    Names: the apex holds SOA and NS; ``<service>`` holds A/AAAA, SRV and TXT, and each
    SRV target ``<site>.<service>`` holds A/AAAA (see :func:`records.service_nodes`).
    Anything else inside the zone is NXDOMAIN, and so is a service whose mapping has no
    locator to give and the ``nxdomain`` action. Names outside the zone are REFUSED: this
    is not a resolver.

    The SOA serial starts at the clock's Unix time in hundredths of a second (modulo 2**32,
    compared as RFC 1982 says). A change notification moves it on by at least one (to the
    clock's when that is higher) unless nothing has read it since the last move: changes
    nobody has seen a serial for share one, so a burst (a site of 1,000 services lost, the
    first mappings at start) is one zone version, not a thousand. The serial therefore
    grows within a run and across restarts unless more than a hundred versions a second
    were read: each such surplus puts it ahead of the clock, and a gtm restarted before
    the clock catches up would start below it, where secondaries would not follow until
    it did. A secondary also takes a serial as newer only while the two are less than
    2**31 apart (248 days).

    Answers are cached by question (see :class:`cache.AnswerCache`) and the cache is
    emptied on every change notification. Queries with EDNS options, several questions or
    another opcode are answered but not cached.

    A query signed with TSIG is answered signed when it verifies with ``keyring`` (the
    key secondaries use for their SOA queries) and NOTAUTH otherwise. With ``versions``,
    every change is also recorded there with the serials before and after it, for IXFR.
    """

    def __init__(
        self,
        zone: str,
        source: MappingSource,
        *,
        ns: tuple[str, ...] = ("ns1",),
        negative_ttl: int = 5,
        clock: Callable[[], float] = time.time,
        cache_budget: int = DEFAULT_BUDGET,
        keyring: dns.tsig.Key | None = None,
        versions: ZoneVersions | None = None,
    ) -> None:
        """Serve ``zone`` from ``source`` and subscribe to its changes.

        Args:
            zone: The zone's name, e.g. ``gtm.example.test.`` (the final dot is optional).
            source: Where mappings come from.
            ns: Name server names relative to the zone; the first is the SOA's primary.
            negative_ttl: Seconds resolvers may cache NXDOMAIN and NODATA answers.
            clock: Wall-clock time, read for the initial serial and on changes.
            cache_budget: Bytes of cached answers to keep (see :class:`AnswerCache`).
            keyring: The TSIG key signed queries are checked with; None: signed queries
                are answered NOTAUTH.
            versions: Where each change is recorded for zone transfers, if anywhere; it
                must hold the source's mappings as they are now.

        Raises:
            ValueError: ``ns`` is empty, or ``zone`` is the root, which would make every
                name ours.
        """
        if not ns:
            raise ValueError("dns: a zone needs at least one name server, got ns=()")
        self._origin = dns.name.from_text(zone)
        self._origin_labels = tuple(label.lower() for label in self._origin.labels[:-1])
        if self._origin == dns.name.root:
            raise ValueError(f"dns: will not answer for the root zone, got zone={zone!r}")
        self._source = source
        self._ns = ns
        self._mname = dns.name.from_text(ns[0], self._origin)
        self._negative_ttl = negative_ttl
        self._clock = clock
        self._serial = _clock_serial(clock())
        # Whether anything has read the serial since it last moved (the start counts as
        # read: a restarted gtm's first serial is announced), and the serial the version
        # being made began at.
        self._serial_read = True
        self._version_start = self._serial
        self._cache = AnswerCache(cache_budget)
        self._keyring = keyring
        self._versions = versions
        # Zone content is built once per change: building RRsets costs far more than
        # parsing a query, and a flood of new questions should not rebuild it each time.
        # A change rebuilds only its own service's names, and the apex (its SOA carries
        # the serial) once it is next asked for: a site lost is a thousand changes in a
        # burst, and rebuilding the whole zone for each would be O(zone) per change.
        self._services: dict[str, dict[dns.name.Name, LazyNode] | Rcode] = {}
        self._read: dict[str, Mapping] = {}
        self._apex_built: tuple[Node, dns.rrset.RRset] | None = None
        if versions is not None:
            versions.start_at(self.serial)
        self._unsubscribe = source.subscribe(self._changed)

    @property
    def origin(self) -> dns.name.Name:
        """The zone's absolute name."""
        return self._origin

    @property
    def serial(self) -> int:
        """The SOA serial now; once read, the next change moves it."""
        self._serial_read = True
        return self._serial % 2**32

    @property
    def apex(self) -> Node:
        """The SOA (with the serial now) and NS RRsets at the apex."""
        return self._built_apex()[0]

    @property
    def cached_answers(self) -> int:
        """How many answers the cache holds now."""
        return len(self._cache)

    def close(self) -> None:
        """Stop following the source's changes."""
        self._unsubscribe()

    def respond(self, wire: bytes, *, max_udp: int | None) -> bytes | None:
        """The answer to one query message.

        Args:
            wire: The query as received, without a TCP length prefix.
            max_udp: Our ceiling for a UDP answer in bytes, further limited by the
                client's EDNS payload size (512 without EDNS); None for TCP, where only
                the 65535-byte message limit applies.

        Returns:
            The answer's bytes; TC is set when it did not fit. None when nothing must be
            sent: fewer bytes than a header, or a response (QR set), which answering could
            turn into a loop between two servers.
        """
        key: CacheKey = (max_udp, wire[2:])
        tail = self._cache.lookup(key)
        if tail is not None:
            return wire[:2] + tail
        generation = self._cache.generation
        fast = self._answer_fast(wire, max_udp)
        if fast is not None:
            answer, cacheable, owner = fast
        else:
            answer, cacheable, owner = self._answer(wire, max_udp)
        if answer is not None and cacheable:
            self._cache.store(key, answer[2:], generation, owner)
        return answer

    def _changed(self, mapping: Mapping) -> None:
        if self._serial_read:
            self._version_start = self._serial
            self._serial = max(self._serial + 1, _clock_serial(self._clock()))
            self._serial_read = False
        if self._versions is not None:
            self._versions.record(mapping, self._version_start % 2**32, self._serial % 2**32)
        self._services.pop(mapping.service, None)
        self._read.pop(mapping.service, None)
        self._apex_built = None
        self._cache.invalidate(mapping.service)

    def _built_apex(self) -> tuple[Node, dns.rrset.RRset]:
        """The apex RRsets, and the SOA that negative answers carry in their authority,
        at the serial now (built on first use after a change).

        That SOA's TTL is the negative TTL, as RFC 2308 asks.
        """
        if self._apex_built is None:
            negative = soa_rrset(
                self._origin, self._mname, self.serial, self._negative_ttl, self._negative_ttl
            )
            apex = apex_node(self._origin, self._ns, self.serial, self._negative_ttl)
            self._apex_built = (apex, negative)
        return self._apex_built

    def _answer_fast(
        self, wire: bytes, max_udp: int | None
    ) -> tuple[bytes | None, bool, str | None] | None:
        """A service's A or AAAA answered in bytes (see :mod:`gtm.dns.fast`); None when
        the question is not that simple or the answer not positive: the full path then
        answers, and both give the same bytes."""
        query = read_simple(wire)
        if query is None or len(query.labels) != len(self._origin_labels) + 1:
            return None
        if query.labels[1:] != self._origin_labels:
            return None
        try:
            service = query.labels[0].decode("ascii")
            mapping = self._mapping(service)
        except (UnicodeDecodeError, Unavailable):
            return None
        if mapping is None or child_name(self._origin, mapping.service) is None:
            return None
        data = addresses(mapping.best(), query.rdtype)
        if not data:
            return None
        if max_udp is None:
            limit = TCP_SIZE
        else:
            limit = min(
                max_udp,
                CLASSIC_UDP_SIZE if query.payload is None else max(query.payload, CLASSIC_UDP_SIZE),
            )
        answer = address_answer(query, data, mapping.ttl, limit, EDNS_PAYLOAD)
        return None if answer is None else (answer, True, service)

    def _answer(self, wire: bytes, max_udp: int | None) -> tuple[bytes | None, bool, str | None]:
        """Build the answer the slow way; also say whether it may be cached, and whose
        records alone it holds (see :class:`AnswerCache`), if one service's."""
        if len(wire) < HEADER_SIZE:
            return None, False, None
        flags = int.from_bytes(wire[2:4], "big")
        if flags & _QR:
            return None, False, None
        if dns.opcode.from_flags(flags) != dns.opcode.QUERY:
            return header_answer(wire, Rcode.NOTIMP), False, None
        try:
            query = dns.message.from_wire(wire, keyring=self._keyring)
        except TSIG_FAILURES:
            return header_answer(wire, Rcode.NOTAUTH), False, None
        except Exception:
            # The bytes are the client's: whatever dnspython rejects them with, the
            # client sent a malformed message and the answer is FORMERR.
            return header_answer(wire, Rcode.FORMERR), False, None
        if len(query.question) != 1:
            return header_answer(wire, Rcode.FORMERR), False, None
        response = dns.message.make_response(query, our_payload=EDNS_PAYLOAD)
        cacheable = not query.options and not query.had_tsig
        owner: str | None = None
        if query.edns > 0:
            response.set_rcode(Rcode.BADVERS)
        else:
            question = query.question[0]
            try:
                owner = self._fill(response, question.name, question.rdtype, question.rdclass)
            except Unavailable:
                # The source could not say: SERVFAIL makes resolvers try again, and the
                # store may come back without a change notification, so no caching.
                response.set_rcode(Rcode.SERVFAIL)
                cacheable = False
        if max_udp is None:
            limit = TCP_SIZE
        else:
            asked = max(query.payload, CLASSIC_UDP_SIZE) if query.edns >= 0 else CLASSIC_UDP_SIZE
            limit = min(max_udp, asked)
        # Records go out in the mapping's order rather than dnspython's default shuffle:
        # a cached answer would freeze one shuffle anyway, and a fixed order lets a cached
        # answer be checked against a fresh one.
        wire_out = response.to_wire(max_size=limit, prefer_truncation=True, want_shuffle=False)
        return wire_out, cacheable, owner

    def _fill(
        self,
        response: dns.message.Message,
        qname: dns.name.Name,
        rdtype: RdataType,
        rdclass: dns.rdataclass.RdataClass,
    ) -> str | None:
        """Put the rcode and records for one question into ``response``; the service
        whose records alone it holds, if one's."""
        if (
            rdclass != dns.rdataclass.IN
            or not qname.is_subdomain(self._origin)
            or rdtype in (RdataType.AXFR, RdataType.IXFR)
        ):
            # Transfers are refused here: they are served over TCP, to the clients
            # dns.transfer allows, by gtm.dns.transfer; never over UDP.
            response.set_rcode(Rcode.REFUSED)
            return None
        found, service = self._lookup(qname)
        if found is Rcode.SERVFAIL:
            response.set_rcode(Rcode.SERVFAIL)
            return None
        response.flags |= dns.flags.AA
        if isinstance(found, Rcode):
            response.set_rcode(found)
            response.authority.append(self._built_apex()[1])
            return None
        rrset = _pick(found, rdtype)
        if rrset is None:
            response.authority.append(self._built_apex()[1])
            return None
        response.answer.append(rrset)
        return service

    def _lookup(
        self, qname: dns.name.Name
    ) -> tuple[NodeView[RdataType, dns.rrset.RRset] | Rcode, str | None]:
        """The RRsets at ``qname`` (inside the zone), or the rcode that says why none;
        and the service the name belongs to, if one."""
        labels = qname.relativize(self._origin).labels
        if not labels:
            return self.apex, None
        if len(labels) > 2:
            return Rcode.NXDOMAIN, None
        try:
            service = labels[-1].decode("ascii").lower()
        except UnicodeDecodeError:
            return Rcode.NXDOMAIN, None
        content = self._services.get(service)
        if content is None:
            mapping = self._mapping(service)
            if mapping is None:
                # Not remembered: names that do not exist are unbounded, services are not.
                return Rcode.NXDOMAIN, None
            content = self._service_content(mapping)
            self._services[service] = content
        if isinstance(content, Rcode):
            return content, service
        return content.get(qname, Rcode.NXDOMAIN), service

    def _mapping(self, service: str) -> Mapping | None:
        """The source's mapping of ``service``, read once per change of it."""
        mapping = self._read.get(service)
        if mapping is None:
            mapping = self._source.get(service)
            if mapping is not None:
                # Not remembered when absent: names that do not exist are unbounded.
                self._read[service] = mapping
        return mapping

    def _service_content(self, mapping: Mapping) -> dict[dns.name.Name, LazyNode] | Rcode:
        """A service's names, or the rcode its all-down action gives every one of them;
        each RRset is built when first asked for."""
        if is_hidden(mapping):
            return Rcode.NXDOMAIN
        builders = service_builders(mapping, self._origin)
        return {name: LazyNode(node) for name, node in builders.items()}


SERIAL_SCALE = 100
"""Serial units per second of the clock."""


def _clock_serial(now: float) -> int:
    return int(now * SERIAL_SCALE)


def _pick(node: NodeView[RdataType, dns.rrset.RRset], rdtype: RdataType) -> dns.rrset.RRset | None:
    """The RRset that answers ``rdtype`` at a name, ANY included."""
    if rdtype == RdataType.ANY:
        return next((node[t] for t in ANY_PREFERENCE if t in node), None)
    return node.get(rdtype)


def header_answer(wire: bytes, rcode: Rcode) -> bytes:
    """An answer made of a header alone: for queries too broken, odd or refused to echo.

    It keeps the ID, opcode and RD of the query so the client can match it.
    """
    flags = int.from_bytes(wire[2:4], "big")
    answer_flags = _QR | (flags & (_OPCODE_MASK | _RD)) | int(rcode)
    return wire[:2] + struct.pack("!HHHHH", answer_flags, 0, 0, 0, 0)
