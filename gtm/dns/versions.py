"""The zone as records, version after version, so secondaries can copy it by IXFR.

The responder answers from mappings one name at a time; a secondary wants the whole
zone once (AXFR) and then only what changed since its serial (IXFR, RFC 1995). This
module keeps every service's records and, for each new serial, which records went and
which came, for the last few thousand versions.

Records are kept as their wire format, rendered once when their service changes: a
transfer is then a concatenation of bytes, where rendering each record with dnspython
took over a second for a zone of 1,000 services (8,000 records), all of it on the event
loop that also decides moves. They are also built as bytes (:func:`service_records`):
building a service's dnspython RRsets first cost about half a millisecond, a second
between a site of 1,000 services lost and the IXFR that tells the secondaries. The bytes
follow :func:`gtm.dns.records.service_nodes` name for name and record for record, which
a test checks over many mappings.
"""

from __future__ import annotations

import asyncio
import ipaddress
import struct
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import cast

import dns.name
import dns.rdata
import dns.rdataclass
from dns.rdatatype import RdataType

from gtm.core.model import Locator, Mapping, usable
from gtm.core.transfer import IxfrKind, condense, plan_ixfr
from gtm.dns.records import child_name, host_name, is_hidden, is_ip

Record = bytes
"""One resource record in wire format, its owner name uncompressed: equal bytes are equal
records (name, type, class, TTL and data), so sets of them can be compared."""


_A, _AAAA, _SRV, _TXT = (
    int(t) for t in (RdataType.A, RdataType.AAAA, RdataType.SRV, RdataType.TXT)
)
_IN = int(dns.rdataclass.IN)


def _rr(owner: bytes, rdtype: int, ttl: int, data: bytes) -> Record:
    return owner + struct.pack("!HHIH", rdtype, _IN, ttl, len(data)) + data


def _addresses(owner: bytes, ttl: int, locators: Iterable[Locator]) -> Iterator[Record]:
    for loc in locators:
        try:
            address = ipaddress.ip_address(loc.address)
        except ValueError:
            continue
        yield _rr(owner, _A if address.version == 4 else _AAAA, ttl, address.packed)


def _wire_name(name: dns.name.Name) -> bytes:
    return cast(bytes, name.to_wire())


def service_records(mapping: Mapping, origin: dns.name.Name) -> frozenset[Record]:
    """Every record a mapping puts in the zone, in wire format: the records of
    :func:`gtm.dns.records.service_nodes` (none for a hidden mapping, see
    :func:`gtm.dns.records.is_hidden`), built without dnspython's RRsets."""
    owner_name = child_name(origin, mapping.service)
    if owner_name is None or is_hidden(mapping):
        return frozenset()
    owner = _wire_name(owner_name)
    ttl = mapping.ttl
    status = (
        f"version={mapping.version}",
        f"epoch={mapping.epoch}",
        f"active={mapping.active_site or '-'}",
    )
    text = b"".join(len(part).to_bytes(1, "big") + part.encode() for part in status)
    records = {_rr(owner, _TXT, ttl, text), *_addresses(owner, ttl, mapping.best())}
    by_site: dict[bytes, list[Locator]] = {}
    for loc in usable(mapping.locators) or mapping.best():
        ip = is_ip(loc.address)
        target = child_name(owner_name, loc.site) if ip else host_name(loc.address)
        if target is None:
            continue
        wire = _wire_name(target)
        if ip:
            by_site.setdefault(wire, []).append(loc)
        data = struct.pack("!HHH", loc.priority, loc.weight, loc.port) + wire
        records.add(_rr(owner, _SRV, ttl, data))
    for site_owner, locators in by_site.items():
        records.update(_addresses(site_owner, ttl, locators))
    return frozenset(records)


def record_wire(name: dns.name.Name, ttl: int, rdata: dns.rdata.Rdata) -> Record:
    """The wire format of one record, its names uncompressed."""
    # Without a file to write to, both return the bytes (their type says "or None").
    data = cast(bytes, rdata.to_wire())
    head = struct.pack("!HHIH", rdata.rdtype, rdata.rdclass, ttl, len(data))
    return cast(bytes, name.to_wire()) + head + data


@dataclass(frozen=True)
class ZoneVersion:
    """What one change did to the zone: from serial ``start`` to serial ``end``."""

    start: int
    end: int
    removed: frozenset[Record]
    added: frozenset[Record]


@dataclass(frozen=True)
class Difference:
    """The records an IXFR removes and adds to bring a secondary up to date."""

    removed: set[Record]
    added: set[Record]
    versions: int
    """How many zone versions the difference spans."""


SETTLE_AT = 1024
"""Changes noted before they are built on their own, without a transfer asking."""


class ZoneVersions:
    """Every service's records now, and the differences of the last ``limit`` versions.

    The owner of the serial (:class:`gtm.dns.answers.ZoneAnswers`) calls :meth:`start_at`
    once and :meth:`record` for every mapping change, with the serials its version starts
    and ends at, so versions chain: each starts where the one before ended. Changes
    recorded with the same two serials are one version.

    :meth:`record` only notes the change: building a service's records costs about half a
    millisecond, and a site of 1,000 services lost is 1,000 changes in a burst, which the
    event loop deciding them should not also pay for. :meth:`settle` builds what was
    noted in a worker thread; what it returns, and :meth:`records`, :meth:`since` and
    :attr:`journal` until the next ``await``, describe the zone at one serial.
    """

    def __init__(self, zone: str, mappings: Iterable[Mapping], *, limit: int) -> None:
        """Start from the current mappings, with an empty journal.

        Args:
            zone: The zone's name (``gtm.example.test.``).
            mappings: Every mapping the zone is made of now.
            limit: Versions kept for IXFR; older ones are forgotten, and a secondary
                that far behind gets the whole zone.
        """
        self._origin = dns.name.from_text(zone)
        self._records: dict[str, frozenset[Record]] = {}
        self._journal: deque[ZoneVersion] = deque(maxlen=limit)
        self._pending: list[tuple[Mapping, int | None, int]] = [(m, None, 0) for m in mappings]
        self._serial = 0
        self._lock = asyncio.Lock()
        self._settler: asyncio.Task[int] | None = None

    @property
    def journal(self) -> tuple[ZoneVersion, ...]:
        """The versions built, oldest first."""
        return tuple(self._journal)

    def start_at(self, serial: int) -> None:
        """Say which serial the zone has before any change is recorded."""
        self._serial = serial

    def record(self, mapping: Mapping, start: int, end: int) -> None:
        """Note that ``mapping`` changed, taking the zone from serial ``start`` to ``end``.

        Once :data:`SETTLE_AT` changes wait, they are built without waiting for a
        transfer to ask (when an event loop runs), so a zone no secondary copies does not
        keep every change it ever had.
        """
        self._pending.append((mapping, start, end))
        if len(self._pending) >= SETTLE_AT and self._settler is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._settler = loop.create_task(self.settle(), name="dns-zone-versions")
            self._settler.add_done_callback(self._settled)

    def _settled(self, task: asyncio.Task[int]) -> None:
        self._settler = None

    async def settle(self) -> int:
        """Build every change noted so far, off the event loop; the serial it brings.

        Changes noted while one batch is built are built next, so this returns once none
        is left; callers read the zone before they next await.
        """
        async with self._lock:
            while self._pending:
                batch, self._pending = self._pending, []
                await asyncio.to_thread(self._apply, batch)
            return self._serial

    def _apply(self, batch: list[tuple[Mapping, int | None, int]]) -> None:
        # Changes recorded with the same serials (none was read between them) are one
        # version, journaled once with their differences condensed.
        serials: tuple[int, int] | None = None
        diffs: list[tuple[frozenset[Record], frozenset[Record]]] = []
        last = self._journal[-1] if self._journal else None
        for mapping, start, end in batch:
            before = self._records.get(mapping.service, frozenset())
            after = self._set(mapping)
            if start is None:
                continue
            if serials != (start, end):
                self._close(serials, diffs)
                serials, diffs = (start, end), []
                if last is not None and (last.start, last.end) == serials:
                    self._journal.pop()  # the version goes on from an earlier batch
                    diffs.append((last.removed, last.added))
            diffs.append((before - after, after - before))
            self._serial = end
        self._close(serials, diffs)

    def _close(
        self,
        serials: tuple[int, int] | None,
        diffs: list[tuple[frozenset[Record], frozenset[Record]]],
    ) -> None:
        if serials is not None:
            removed, added = condense(diffs)
            self._journal.append(ZoneVersion(*serials, frozenset(removed), frozenset(added)))

    def records(self) -> Iterator[Record]:
        """Every record of the services' names (the apex is not among them), by service."""
        for records in self._records.values():
            yield from records

    def since(self, asked: int, current: int) -> Difference | IxfrKind:
        """What brings a secondary at serial ``asked`` to ``current``.

        Returns:
            The condensed difference when the journal reaches back to ``asked``;
            otherwise :attr:`IxfrKind.CURRENT` (nothing to send) or
            :attr:`IxfrKind.FULL` (send the whole zone).
        """
        journal = list(self._journal)
        plan = plan_ixfr(asked, current, [version.start for version in journal])
        if plan.kind is not IxfrKind.INCREMENTAL:
            return plan.kind
        kept = journal[plan.first :]
        removed, added = condense((version.removed, version.added) for version in kept)
        return Difference(removed, added, len(kept))

    def _set(self, mapping: Mapping) -> frozenset[Record]:
        records = service_records(mapping, self._origin)
        self._records[mapping.service] = records
        return records
