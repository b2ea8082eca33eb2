"""The RFC 2136 provider: an authoritative DNS server (BIND, Knot, PowerDNS) holds the records
gtm's own responder would serve, kept there with TSIG-signed dynamic updates.

Exceptions, as in :mod:`gtm.errors`::

    Unavailable
    ├── Rfc2136Unavailable    the server did not answer, or failed (SERVFAIL); retry
    └── PrerequisiteFailed    the zone changed between observe and apply; observe again
    Rejected
    └── Rfc2136Rejected       wrong key, refused update or transfer; fix the config

A failed prerequisite is retryable rather than a conflict (which :mod:`gtm.errors` counts
as permanent): the next pass observes the edit and diffs against it.

The zone is usually shared with names gtm has nothing to do with (``www``, ``app``, mail),
and a TXT beginning ``version=`` is common application data. So the provider claims only
the names of its configured services, and marks the status TXT it writes there with
``"gtm-owner=<provider name>"`` as its first string, which nothing else writes; see
:func:`managed_records`.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Awaitable, Iterator, Sequence
from collections.abc import Mapping as Lookup
from typing import TypeVar

import dns.asyncquery
import dns.exception
import dns.message
import dns.name
import dns.node
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.update
import dns.xfr
import dns.zone
from dns.rdtypes.ANY.TXT import TXT
from dns.rdtypes.txtbase import TXTBase

from gtm.config.provider_checks import check_provider, tsig_key_material
from gtm.config.providers import Rfc2136Provider
from gtm.config.secrets import resolve_secret
from gtm.core.changes import Change, Owned
from gtm.core.model import Action, Mapping
from gtm.dns.records import Node, service_nodes
from gtm.errors import ConfigError, Rejected, Unavailable
from gtm.providers.base import Capabilities, managed
from gtm.providers.rfc2136_records import plain_records
from gtm.providers.rfc2136_update import MAX_CHANGES, TYPES, RecordSet, Update, build_updates

__all__ = [
    "OWNER_PREFIX",
    "PrerequisiteFailed",
    "RecordSet",
    "Rfc2136",
    "Rfc2136Rejected",
    "Rfc2136Unavailable",
    "managed_records",
    "zone_nodes",
]

T = TypeVar("T")

SERIALS = 2**32
"""SOA serials count modulo 2**32 and compare by RFC 1982's arithmetic."""

_DRIFT = {dns.rcode.NXRRSET, dns.rcode.YXRRSET, dns.rcode.NXDOMAIN, dns.rcode.YXDOMAIN}
"""Rcodes that say a prerequisite did not hold (RFC 2136 section 3.2.5)."""

_PEER_TSIG = {
    dns.tsig.PeerBadKey: "BADKEY, the server does not know the key",
    dns.tsig.PeerBadSignature: "BADSIG, the signature does not match the server's secret",
    dns.tsig.PeerBadTime: "BADTIME, the clocks differ by more than the allowed fudge",
    dns.tsig.PeerBadTruncation: "BADTRUNC",
}
"""What the server's TSIG error means, for the message."""

OWNER_PREFIX = "gtm-owner="
"""How the first string of the status TXT the provider writes begins; the provider's name
follows (``gtm-owner=bind-main``)."""


class Rfc2136Unavailable(Unavailable):
    """The DNS server did not answer, closed the connection, or failed (SERVFAIL)."""


class PrerequisiteFailed(Unavailable):
    """A record set was not as observed when the update arrived: someone changed it.

    Nothing of that update message was applied; observing again shows the change.
    """


class Rfc2136Rejected(Rejected):
    """The server refused the update or transfer, or the key: retrying will not help."""


class Rfc2136:
    """Keeps the records of the managed services in one zone of an RFC 2136 server.

    ``observe`` reads the zone with one TSIG-signed AXFR over TCP rather than a query per
    name: a single round trip whatever the number of services, and it shows names gtm
    does not expect (a site child left behind, a record added by hand), which queries for
    known names would miss. The server must allow the key to transfer the zone
    (``allow-transfer { key "gtm-key."; };``).

    ``apply`` sends update messages over one TCP connection, one after the other, each
    checked against what was observed (see :func:`gtm.providers.rfc2136_update.build_updates`).
    Messages already sent stay applied when a later one fails; the next pass observes and
    carries on. ``verify`` proves a pass's updates are served by the zone's serial, one
    query, instead of transferring the zone again: the cost of a pass follows what changed.
    """

    kind = "rfc2136"

    def __init__(self, name: str, config: Rfc2136Provider, zone: str) -> None:
        """A provider for ``zone`` on the server ``config`` names.

        Args:
            name: The provider's name in the config (``bind-main``).
            config: Its config section.
            zone: The zone to update (``gtm.example.test.``).

        Raises:
            ConfigError: An option is unusable (the checks of ``gtm config check``), or
                the TSIG secret cannot be resolved or is not base64.
        """
        check_provider(f"rfc2136 {name}", config)
        self.name = name
        self.services = frozenset(config.services)
        self.owner = name
        """Who the provider marks its names as written by (``gtm-owner=<owner>``): its
        name in the config, the same on every instance that shares the config."""
        # The services of the mappings ``desired`` was last given: with ``services`` empty,
        # the names ``observe`` claims besides those carrying the owner's marker.
        self._known: frozenset[str] = frozenset()
        self.capabilities = Capabilities(max_batch=MAX_CHANGES)
        self.origin = dns.name.from_text(zone)
        self._origin_text = self.origin.to_text()
        self._marker = f"{OWNER_PREFIX}{name}"
        # dnspython connects to addresses only; "localhost" is the one name Listen allows.
        host = "127.0.0.1" if config.server.host == "localhost" else config.server.host
        self._host, self._port = host, config.server.port
        self._where = str(config.server)
        self._timeout = config.timeout
        self._max_message = config.max_message
        self._key: dns.tsig.Key | None = None
        self._records: dict[str, tuple[Mapping, list[RecordSet]]] = {}
        # The serial the zone holds at least once the last apply's updates are in.
        self._expected: int | None = None
        if config.tsig is not None:
            secret = resolve_secret(config.tsig.secret).get_secret_value()
            try:
                material = tsig_key_material(secret)
            except ValueError as exc:
                raise ConfigError(
                    f"rfc2136 {name}: tsig.secret ({config.tsig.secret}) {exc}"
                ) from exc
            self._key = dns.tsig.Key(config.tsig.name, material, config.tsig.algorithm)

    def desired(self, mappings: Sequence[Mapping]) -> dict[str, Owned[RecordSet]]:
        """The record sets of the managed services, keyed ``"<owner> <TYPE>"``.

        Each service's records are built once per mapping content: a pass after one
        service moved rebuilds that service only, not the whole zone; and they are built
        as text (:mod:`.rfc2136_records`), so a thousand services moving at once cost
        milliseconds, not the seconds dnspython's objects take. The cache compares
        whole mappings, not versions: a preview (``--dry-run``) keeps the current version
        with other locators, and must get the records of its own locators.
        """
        items: dict[str, Owned[RecordSet]] = {}
        wanted = managed(mappings, self.services)
        self._known = frozenset(mapping.service for mapping in wanted)
        for mapping in wanted:
            cached = self._records.get(mapping.service)
            if cached is None or cached[0] != mapping:
                records = plain_records(mapping, self._origin_text, self._marker)
                if records is None:
                    records = [
                        RecordSet.from_rdataset(owner, rrset)
                        for owner, node in zone_nodes(mapping, self.origin, self.owner).items()
                        for rrset in node.values()
                    ]
                cached = self._records[mapping.service] = (mapping, records)
            for record in cached[1]:
                items[record.key] = Owned(mapping.service, record)
        return items

    async def observe(self) -> dict[str, Owned[RecordSet]]:
        """The A, AAAA, SRV and TXT record sets the server holds for the managed services.

        The managed services are those of :func:`managed_records`; with ``services``
        empty, the configured ones are the services of the mappings :meth:`desired` was
        last given, so a pass calls ``desired`` first, as the reconciler does.

        The transfer and its parsing run in a worker thread: for a zone of thousands of
        record sets they take seconds of CPU, which must not stall the probes and the DNS
        responder sharing the event loop.

        Raises:
            Rfc2136Unavailable: The server did not answer the transfer.
            Rfc2136Rejected: The server refused the transfer or the key.
        """
        return await asyncio.to_thread(self._transfer)

    def _transfer(self) -> dict[str, Owned[RecordSet]]:
        zone = dns.zone.Zone(self.origin, relativize=False)
        query, _ = dns.xfr.make_query(zone, serial=None, keyring=self._key)
        with self._translated("transfer"):
            dns.query.inbound_xfr(self._host, zone, query, port=self._port, timeout=self._timeout)
        configured = self.services or self._known
        every = not self.services
        return managed_records(zone.nodes, self.origin, configured, self.owner, every=every)

    async def apply(self, changes: Sequence[Change[RecordSet]]) -> None:
        """Send ``changes`` in as few update messages as ``max_message`` allows, one after
        the other on one TCP connection.

        The zone's SOA serial is read first: BIND raises it at least once per update it
        applies, which is what :meth:`verify` checks afterwards.

        Raises:
            PrerequisiteFailed: A record set changed since it was observed; that message
                was not applied.
            Rfc2136Unavailable: The server did not answer or failed.
            Rfc2136Rejected: The server refused the update or the key, or a change is too
                large for ``max_message``.
        """
        self._expected = None
        # Translating thousands of changes is CPU work: off the event loop, while the
        # serial is asked for.
        building = asyncio.ensure_future(
            asyncio.to_thread(build_updates, self.origin, changes, self._key, self._max_message)
        )
        try:
            before = await self._serial()
        finally:
            try:
                updates = await building
            except ValueError as exc:
                raise Rfc2136Rejected(f"rfc2136 {self.name}: {exc}") from exc
        with self._translated("update"):
            reader, writer = await self._timed(asyncio.open_connection(self._host, self._port))
            try:
                for update in updates:
                    writer.write(struct.pack("!H", len(update.wire)) + update.wire)
                    size = struct.unpack("!H", await self._timed(reader.readexactly(2)))[0]
                    data = await self._timed(reader.readexactly(size))
                    answer = dns.message.from_wire(data, keyring=self._key, request_mac=update.mac)
                    if answer.id != struct.unpack("!H", update.wire[:2])[0]:
                        raise EOFError("the answer is to another message")
                    self._check(update, answer.rcode())
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
        self._expected = (before + len(updates)) % SERIALS

    async def verify(self, changes: Sequence[Change[RecordSet]]) -> dict[str, Owned[RecordSet]]:
        """The changed record sets, proved held by the zone's serial: one query, whatever
        the number of changes.

        Every update :meth:`apply` sent was checked against what was observed, and the
        server answered NOERROR, so it applied each one whole; a serial raised at least
        once per update shows the zone being served holds them all. The periodic resync
        reads the whole zone and finds anything else.

        Raises:
            Rfc2136Unavailable: The server did not answer, or its serial is below what the
                updates sent should have raised it to.
        """
        expected = self._expected
        serial = await self._serial()
        if expected is None or (serial - expected) % SERIALS >= SERIALS // 2:
            raise Rfc2136Unavailable(
                f"rfc2136 {self.name}: zone {self.origin} on {self._where} is at serial {serial}"
                f", below the {expected} the applied updates should have raised it to"
            )
        return {
            change.key: Owned(change.service, change.after)
            for change in changes
            if change.after is not None
        }

    async def close(self) -> None:
        """Nothing to release: every pass opens and closes its own TCP connection."""

    async def _serial(self) -> int:
        """The zone's SOA serial, asked over TCP."""
        query = dns.message.make_query(self.origin, dns.rdatatype.SOA)
        with self._translated("serial query"):
            answer = await dns.asyncquery.tcp(
                query, self._host, timeout=self._timeout, port=self._port
            )
        for rrset in answer.answer:
            if rrset.rdtype == dns.rdatatype.SOA:
                return int(next(iter(rrset)).serial)
        raise Rfc2136Unavailable(
            f"rfc2136 {self.name}: {self._where} holds no SOA for {self.origin}"
            f" ({dns.rcode.to_text(answer.rcode())}); is it authoritative for the zone?"
        )

    async def _timed(self, work: Awaitable[T]) -> T:
        """``work``, or dnspython's Timeout after the provider's ``timeout``."""
        try:
            async with asyncio.timeout(self._timeout):
                return await work
        except TimeoutError as exc:
            raise dns.exception.Timeout() from exc  # type: ignore[no-untyped-call]

    def _check(self, update: Update, rcode: dns.rcode.Rcode) -> None:
        """Raise the error ``rcode`` means for ``update``; return on NOERROR."""
        if rcode == dns.rcode.NOERROR:
            return
        head = f"rfc2136 {self.name}: update of zone {self.origin} "
        text = dns.rcode.to_text(rcode)
        if rcode in _DRIFT:
            keys = list(dict.fromkeys(update.keys))
            shown = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
            raise PrerequisiteFailed(
                f"{head}not applied by {self._where}: {text}, a record set is no longer as "
                f"observed (one of {shown}); it was changed by someone else, observe again"
            )
        if rcode == dns.rcode.SERVFAIL:
            raise Rfc2136Unavailable(f"{head}failed on {self._where}: SERVFAIL")
        raise Rfc2136Rejected(f"{head}refused by {self._where}: {text}{_hint(rcode)}")

    @contextlib.contextmanager
    def _translated(self, action: str) -> Iterator[None]:
        """Turn dnspython and socket errors of ``action`` into gtm's, naming the server."""
        head = f"rfc2136 {self.name}: {action} of zone {self.origin}"
        key = self._key.name if self._key is not None else None
        try:
            yield
        except dns.tsig.PeerError as exc:
            why = _PEER_TSIG.get(type(exc), type(exc).__name__)
            raise Rfc2136Rejected(
                f"{head} refused by {self._where}: NOTAUTH (TSIG key {key} not accepted: "
                f"{why}); check tsig.name and tsig.secret"
            ) from exc
        except (dns.tsig.BadSignature, dns.tsig.BadKey, dns.message.UnknownTSIGKey) as exc:
            raise Rfc2136Rejected(
                f"{head}: the answer of {self._where} is not signed with TSIG key {key} "
                f"({type(exc).__name__}); check tsig.name and tsig.secret"
            ) from exc
        except dns.tsig.BadTime as exc:
            raise Rfc2136Rejected(
                f"{head}: the answer of {self._where} is signed at a time too far from this "
                "host's clock; check both clocks"
            ) from exc
        except dns.xfr.TransferError as exc:
            rcode = dns.rcode.Rcode.make(exc.rcode)
            text = dns.rcode.to_text(rcode)
            if rcode == dns.rcode.SERVFAIL:
                raise Rfc2136Unavailable(f"{head} failed on {self._where}: SERVFAIL") from exc
            hint = f"; allow the key to transfer the zone (allow-transfer {{ key {key}; }})"
            if rcode == dns.rcode.NOTAUTH:
                hint = "; is the server primary for the zone?"
            raise Rfc2136Rejected(f"{head} refused by {self._where}: {text}{hint}") from exc
        except dns.exception.Timeout as exc:
            raise Rfc2136Unavailable(
                f"{head}: {self._where} did not answer within {self._timeout:g}s"
            ) from exc
        except (OSError, EOFError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "closed"
            raise Rfc2136Unavailable(f"{head}: cannot reach {self._where}: {reason}") from exc
        except dns.exception.DNSException as exc:
            raise Rfc2136Unavailable(
                f"{head}: {self._where} sent an answer that cannot be used: {exc}"
            ) from exc


def zone_nodes(mapping: Mapping, origin: dns.name.Name, owner: str) -> dict[dns.name.Name, Node]:
    """The names and record sets ``mapping`` puts in the zone: what the built-in responder
    serves, with the status TXT marked as written by ``owner``.

    The responder answers NXDOMAIN for every name of a service with no locator to give and
    the ``nxdomain`` action; on an authoritative server that means the names hold nothing.
    SERVFAIL cannot be stored in a zone; such a mapping keeps only its status TXT, and the
    reconciler's safety rule refuses to remove the addresses it had.
    """
    if not mapping.best() and mapping.action is Action.NXDOMAIN:
        return {}
    nodes = service_nodes(mapping, origin)
    marker = f"{OWNER_PREFIX}{owner}".encode()
    for node in nodes.values():
        status = node.get(dns.rdatatype.TXT)
        if status is not None:
            node[dns.rdatatype.TXT] = dns.rrset.from_rdata(
                status.name,
                status.ttl,
                *(TXT(r.rdclass, r.rdtype, (marker, *r.strings)) for r in status),
            )
    return nodes


def managed_records(
    nodes: Lookup[dns.name.Name, dns.node.Node],
    origin: dns.name.Name,
    services: frozenset[str],
    owner: str,
    *,
    every: bool = False,
) -> dict[str, Owned[RecordSet]]:
    """The A, AAAA, SRV and TXT record sets of the managed services among a zone's nodes.

    A service owns ``<service>.<zone>`` and the site names ``<site>.<service>.<zone>``
    below it. The names of the configured ``services`` are managed whatever they hold: a
    record edited by hand there is drift to repair, and the bare ``version=`` status TXT
    earlier versions wrote is taken over (rewritten with the marker on the next pass).
    When the provider manages ``every`` service, a name whose TXT starts with this
    owner's marker ``gtm-owner=<owner>`` is managed too: a service gtm wrote and no longer
    has a mapping for. Every other name is left alone, whatever it holds: the zone's name
    servers, ``www``, an application's ``TXT "version=1.4.2"``.

    Args:
        nodes: Absolute owner names and their nodes, as a zone transfer gives them.
        origin: The zone's name.
        services: The configured services.
        owner: The provider's owner name, as its marker carries it.
        every: Whether the provider manages every service (its ``services`` option is
            empty), so that names carrying its marker are its own.
    """
    marker = f"{OWNER_PREFIX}{owner}".encode()
    by_label: dict[str, list[tuple[dns.name.Name, dns.node.Node]]] = {}
    marked: set[str] = set()
    for name, node in nodes.items():
        labels = name.relativize(origin).labels if name.is_subdomain(origin) else ()
        if not 1 <= len(labels) <= 2 or name == origin:
            continue
        service = labels[-1].decode("ascii", "replace").lower()
        by_label.setdefault(service, []).append((name, node))
        txt = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.TXT)
        if every and len(labels) == 1 and txt is not None and any(_marked(r, marker) for r in txt):
            marked.add(service)
    items: dict[str, Owned[RecordSet]] = {}
    for service in sorted((services | marked) & by_label.keys()):
        for name, node in by_label[service]:
            for rdataset in node.rdatasets:
                if dns.rdatatype.to_text(rdataset.rdtype) in TYPES:
                    record = RecordSet.from_rdataset(name, rdataset)
                    items[record.key] = Owned(service, record)
    return items


def _marked(rdata: object, marker: bytes) -> bool:
    """Whether a TXT record is the status record of the owner ``marker`` names."""
    return isinstance(rdata, TXTBase) and bool(rdata.strings) and rdata.strings[0] == marker


def _hint(rcode: dns.rcode.Rcode) -> str:
    """What to check after a refusal, by rcode."""
    if rcode in (dns.rcode.NOTAUTH, dns.rcode.REFUSED):
        return "; the server does not let this key update the zone (check tsig and update-policy)"
    if rcode == dns.rcode.NOTZONE:
        return "; a name is outside the zone (check the provider's zone)"
    return ""
