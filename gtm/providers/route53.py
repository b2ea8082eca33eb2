"""Route 53 as a provider: the service names in one hosted zone follow the mappings.

Records are computed purely from mappings (:func:`desired_records`), changes are turned
into ``ChangeResourceRecordSets`` requests purely (:func:`build_change_batches`, cut at
Route 53's per-request limits), and :class:`Route53` carries them with boto3 in a thread.

Every managed name also holds a status TXT record
``"gtm-owner=<provider name>" "version=N" "epoch=N" "active=site"``: it tells a reader which
mapping the records come from and who wrote them. The hosted zone is usually shared with
names gtm has nothing to do with (``www``, ``app``, mail), and a TXT beginning ``version=``
is common application data, so the provider claims only the names of its configured
services and, when it manages every service, the names carrying its own marker; see
:func:`managed_names`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from gtm.config.provider_checks import check_provider
from gtm.config.providers import Route53Provider
from gtm.core.changes import Change, ChangeKind, Owned
from gtm.core.model import Locator, Mapping, shares
from gtm.providers.aws import AwsUnavailable, Retry, call, make_client
from gtm.providers.base import Capabilities, managed

log = logging.getLogger(__name__)

MAX_RECORDS = 1000
"""ResourceRecord elements Route 53 accepts in one request; an UPSERT's count double."""
MAX_CHARS = 32000
"""Characters of all Value elements Route 53 accepts in one request; an UPSERT's count double."""
MAX_CHANGES = 100
"""Change elements per request. Older API references cap a request at 100; keeping to it
costs a few more requests for very large plans and cannot be refused by any version."""
MAX_WEIGHT = 100
"""Weight of a site that takes all the traffic (Route 53 allows 0 to 255)."""
OWNER_PREFIX = "gtm-owner="
"""How the first string of the status TXT the provider writes begins; the provider's name
follows (``"gtm-owner=r53-main"``)."""
INSYNC_TIMEOUT = 120.0
"""Longest wait for Route 53 to report a change INSYNC, when asked to wait."""
ADDRESS_TYPES = ("A", "AAAA")

Mode = Literal["plain", "weighted"]


@dataclass(frozen=True, slots=True)
class RecordSet:
    """One Route 53 resource record set, as gtm writes and reads it.

    ``values`` are sorted so that the order Route 53 returns them in never shows as a
    difference; ``set_identifier`` and ``weight`` are set only for weighted record sets.
    """

    name: str
    type: str
    ttl: int
    values: tuple[str, ...]
    set_identifier: str | None = None
    weight: int | None = None

    @property
    def key(self) -> str:
        """What identifies the record set in the zone: name, type and set identifier."""
        base = f"{self.name} {self.type}"
        return base if self.set_identifier is None else f"{base} {self.set_identifier}"

    def describe(self) -> str:
        """A short text form for plans: ``30 A 192.0.2.1 192.0.2.2 (weight 100)``."""
        text = f"{self.ttl} {self.type} {' '.join(self.values)}"
        return text if self.weight is None else f"{text} (weight {self.weight})"

    def to_api(self) -> dict[str, Any]:
        """The record set as a boto3 ``ResourceRecordSet``."""
        body: dict[str, Any] = {
            "Name": self.name,
            "Type": self.type,
            "TTL": self.ttl,
            "ResourceRecords": [{"Value": value} for value in self.values],
        }
        if self.set_identifier is not None:
            body["SetIdentifier"] = self.set_identifier
            body["Weight"] = self.weight
        return body

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> RecordSet | None:
        """The record set boto3 listed, or None when gtm does not write its kind.

        Alias records and routing policies other than simple and weighted (failover,
        latency, geolocation, health-checked sets, …) are someone else's: reading them
        as gtm's would make a plan delete them with fields it does not know.
        """
        if set(body) - _KNOWN_FIELDS or "ResourceRecords" not in body:
            return None
        return cls(
            name=body["Name"].lower(),
            type=body["Type"],
            ttl=int(body["TTL"]),
            values=tuple(sorted(record["Value"] for record in body["ResourceRecords"])),
            set_identifier=body.get("SetIdentifier"),
            weight=body.get("Weight"),
        )


_KNOWN_FIELDS = frozenset({"Name", "Type", "TTL", "ResourceRecords", "SetIdentifier", "Weight"})


def absolute(zone: str) -> str:
    """``zone`` as Route 53 lists names: lower case with the final dot."""
    return zone.strip(".").lower() + "."


def desired_records(mapping: Mapping, zone: str, mode: Mode, owner: str) -> list[RecordSet]:
    """The record sets ``billing.<zone>`` should hold for ``mapping``.

    ``plain``: one A and/or AAAA record set with the addresses of ``mapping.best()``.
    ``weighted``: per address family that ``best()`` uses, one weighted record set per
    site that has addresses of that family, identified by the site's name and weighted
    by the site's share of the traffic (0 for sites without any). A site's set lists the
    addresses traffic goes to there, or all its addresses when it gets none, so that it
    is ready when its weight rises. Either way, nothing in ``best()`` (a closed service)
    means no address record set at all: in a weighted set, all weights 0 would make
    Route 53 answer with every address instead of none. Addresses that are host names
    are left out: A and AAAA records hold IP addresses only.

    Args:
        mapping: The service's mapping.
        zone: The zone, absolute (``example.com.``).
        mode: ``plain`` or ``weighted``.
        owner: Who the status TXT is marked as written by: the provider's name.
    """
    name = f"{mapping.service}.{zone}"
    records = [RecordSet(name, "TXT", mapping.ttl, (_txt(mapping, owner),))]
    chosen = mapping.best()
    for rtype in ADDRESS_TYPES:
        family = [loc for loc in chosen if _rtype(loc) == rtype]
        if not family:
            continue
        if mode == "plain":
            records.append(RecordSet(name, rtype, mapping.ttl, _addresses(family)))
        else:
            records.extend(_weighted(mapping, name, rtype, family))
    return records


def _weighted(
    mapping: Mapping, name: str, rtype: str, family: Sequence[Locator]
) -> list[RecordSet]:
    """One weighted record set per site with ``rtype`` addresses; ``family`` is the part of
    ``best()`` of that type."""
    by_site: dict[str, float] = {}
    by_id = shares(family)
    for loc in family:
        by_site[loc.site] = by_site.get(loc.site, 0.0) + by_id[loc.id]
    records = []
    for site in dict.fromkeys(loc.site for loc in mapping.locators):
        present = [loc for loc in mapping.locators if loc.site == site and _rtype(loc) == rtype]
        if not present:
            continue
        serving = [loc for loc in family if loc.site == site]
        share = by_site.get(site, 0.0)
        records.append(
            RecordSet(
                name,
                rtype,
                mapping.ttl,
                _addresses(serving or present),
                set_identifier=site,
                # A site with any share keeps at least weight 1: rounding must not take
                # traffic away from it.
                weight=max(1, round(MAX_WEIGHT * share)) if share > 0 else 0,
            )
        )
    return records


def _txt(mapping: Mapping, owner: str) -> str:
    parts = [_marker(owner), f"version={mapping.version}", f"epoch={mapping.epoch}"]
    if mapping.active_site is not None:
        parts.append(f"active={mapping.active_site}")
    return " ".join(f'"{part}"' for part in parts)


def _marker(owner: str) -> str:
    return f"{OWNER_PREFIX}{owner}"


def managed_names(
    records: Sequence[RecordSet], zone: str, services: frozenset[str], owner: str, *, every: bool
) -> frozenset[str]:
    """The names among ``records`` the provider owns, absolute.

    The names of the configured ``services`` are managed whatever they hold: a record
    edited by hand there is drift to repair, and the status TXT without a marker that
    earlier versions wrote is taken over (rewritten with the marker on the next pass).
    When the provider manages ``every`` service, a name whose TXT starts with this owner's
    marker is managed too: a service it wrote and no longer has a mapping for. Every other
    name is left alone, whatever it holds: ``www``, an application's ``TXT "version=1.4.2"``,
    another provider's marked names.

    Args:
        records: The record sets the zone holds.
        zone: The zone, absolute (``example.com.``).
        services: The configured services.
        owner: The provider's name, as its marker carries it.
        every: Whether the provider manages every service (its ``services`` is empty).
    """
    names = {f"{service}.{zone}" for service in services}
    if every:
        first = f'"{_marker(owner)}"'
        names.update(
            record.name
            for record in records
            if record.type == "TXT"
            and any(value == first or value.startswith(f"{first} ") for value in record.values)
        )
    return frozenset(names)


def _rtype(locator: Locator) -> str | None:
    try:
        version = ipaddress.ip_address(locator.address).version
    except ValueError:
        return None
    return "A" if version == 4 else "AAAA"


def _addresses(locators: Sequence[Locator]) -> tuple[str, ...]:
    return tuple(sorted({str(ipaddress.ip_address(loc.address)) for loc in locators}))


@dataclass(slots=True)
class _Batch:
    changes: list[dict[str, Any]] = field(default_factory=list)
    records: int = 0
    chars: int = 0

    def fits(self, count: int, records: int, chars: int, max_changes: int) -> bool:
        return (
            len(self.changes) + count <= max_changes
            and self.records + records <= MAX_RECORDS
            and self.chars + chars <= MAX_CHARS
        )


def build_change_batches(
    zone_id: str, changes: Sequence[Change[RecordSet]], max_changes: int = MAX_CHANGES
) -> list[dict[str, Any]]:
    """``ChangeResourceRecordSets`` requests (boto3 keyword arguments) for ``changes``.

    A create or update is an UPSERT, which also succeeds when someone created the record
    set meanwhile; a delete carries the observed record set, as Route 53 only deletes an
    exact match. A service's deletes go before its upserts, so that a record set can be
    replaced by one of another routing policy (plain to weighted) in the same request,
    and a service's changes share a request whenever they fit, so Route 53 applies them
    as one transaction. Each request stays within :data:`MAX_RECORDS` ResourceRecord
    elements, :data:`MAX_CHARS` characters of values (an UPSERT counting twice for
    both) and ``max_changes`` changes.

    Args:
        zone_id: The hosted zone's id.
        changes: Changes from :func:`gtm.providers.base.diff`.
        max_changes: Most Change elements per request.
    """
    groups: dict[str, list[Change[RecordSet]]] = {}
    for change in changes:
        groups.setdefault(change.service, []).append(change)
    batches: list[_Batch] = []
    current = _Batch()
    for group in groups.values():
        group.sort(key=lambda change: change.kind is not ChangeKind.DELETE)
        costs = [_cost(change) for change in group]
        total_records = sum(records for records, _ in costs)
        total_chars = sum(chars for _, chars in costs)
        if current.changes and not current.fits(
            len(group), total_records, total_chars, max_changes
        ):
            batches.append(current)
            current = _Batch()
        for change, (records, chars) in zip(group, costs, strict=True):
            if current.changes and not current.fits(1, records, chars, max_changes):
                batches.append(current)
                current = _Batch()
            current.changes.append(_api_change(change))
            current.records += records
            current.chars += chars
    if current.changes:
        batches.append(current)
    return [
        {
            "HostedZoneId": zone_id,
            "ChangeBatch": {
                "Comment": f"gtm: {len(batch.changes)} change(s), request {n} of {len(batches)}",
                "Changes": batch.changes,
            },
        }
        for n, batch in enumerate(batches, 1)
    ]


def _record_of(change: Change[RecordSet]) -> RecordSet:
    record = change.before if change.kind is ChangeKind.DELETE else change.after
    assert record is not None, f"{change.kind.value} change {change.key} has no record set"
    return record


def _cost(change: Change[RecordSet]) -> tuple[int, int]:
    record = _record_of(change)
    factor = 1 if change.kind is ChangeKind.DELETE else 2
    return factor * len(record.values), factor * sum(len(value) for value in record.values)


def _api_change(change: Change[RecordSet]) -> dict[str, Any]:
    action = "DELETE" if change.kind is ChangeKind.DELETE else "UPSERT"
    return {"Action": action, "ResourceRecordSet": _record_of(change).to_api()}


class Route53:
    """A Route 53 hosted zone whose service names follow the mappings.

    Args:
        name: The provider's name from the config.
        config: Its settings.
        zone: The zone the service names are in (the config's ``zone``, else gtm's).
        retry: How long to keep trying a throttled request before reporting the
            provider unavailable.

    Raises:
        ConfigError: An option is unusable (the checks of ``gtm config check``), or the
            credentials' secret references cannot be resolved.
    """

    kind = "route53"

    def __init__(
        self, name: str, config: Route53Provider, zone: str, retry: Retry | None = None
    ) -> None:
        check_provider(f"route53 {name}", config)
        self.name = name
        self.services = frozenset(config.services)
        # The services of the mappings ``desired`` was last given: with ``services`` empty,
        # the names ``observe`` claims besides those carrying the provider's marker.
        self._known: frozenset[str] = frozenset()
        self.mode: Mode = config.mode
        self.zone = absolute(config.zone or zone)
        self.zone_id = config.hosted_zone_id
        self.wait_insync = config.wait_insync
        self.capabilities = Capabilities(max_batch=MAX_CHANGES)
        self.retry = retry or Retry()
        self.client = make_client(
            "route53",
            region=config.region,
            endpoint_url=config.endpoint_url,
            credentials=config.credentials,
            timeout=config.timeout,
        )

    def _what(self, operation: str) -> str:
        return f"route53 {self.name}: {operation} on hosted zone {self.zone_id} ({self.zone})"

    def desired(self, mappings: Sequence[Mapping]) -> dict[str, Owned[RecordSet]]:
        """The record sets the zone should hold for the managed services' mappings."""
        items: dict[str, Owned[RecordSet]] = {}
        wanted = managed(mappings, self.services)
        self._known = frozenset(mapping.service for mapping in wanted)
        for mapping in wanted:
            for record in desired_records(mapping, self.zone, self.mode, self.name):
                items[record.key] = Owned(mapping.service, record)
        return items

    async def observe(self) -> dict[str, Owned[RecordSet]]:
        """The A, AAAA and TXT record sets the zone holds at the managed names.

        The managed names are those of :func:`managed_names`; with ``services`` empty, the
        configured services are those of the mappings :meth:`desired` was last given, so a
        pass calls ``desired`` first, as the reconciler does.
        """
        listed = await call(self._list, self._what("ListResourceRecordSets"), self.retry)
        records = [
            record
            for body in listed
            if (record := RecordSet.from_api(body)) is not None
            and record.type in (*ADDRESS_TYPES, "TXT")
            and record.name.endswith("." + self.zone)
        ]
        names = managed_names(
            records,
            self.zone,
            self.services or self._known,
            self.name,
            every=not self.services,
        )
        return {
            record.key: Owned(record.name[: -len(self.zone) - 1], record)
            for record in records
            if record.name in names
        }

    def _list(self) -> list[dict[str, Any]]:
        paginator = self.client.get_paginator("list_resource_record_sets")
        return [
            body
            for page in paginator.paginate(HostedZoneId=self.zone_id)
            for body in page["ResourceRecordSets"]
        ]

    async def apply(self, changes: Sequence[Change[RecordSet]]) -> None:
        """Send ``changes`` in as few requests as Route 53's limits allow, in order.

        A throttled request is retried with backoff; a request Route 53 refuses stops
        the apply (those before it stay applied; the next pass observes and diffs again).
        With ``wait_insync``, returns only once Route 53 reports every request INSYNC.
        """
        requests = build_change_batches(self.zone_id, changes, self.capabilities.max_batch)
        ids: list[str] = []
        for n, request in enumerate(requests, 1):
            answer = await call(
                partial(self.client.change_resource_record_sets, **request),
                self._what(f"ChangeResourceRecordSets (request {n} of {len(requests)})"),
                self.retry,
            )
            ids.append(answer["ChangeInfo"]["Id"])
            log.debug(
                "route53 %s: sent request %d of %d: %s",
                self.name,
                n,
                len(requests),
                ids[-1],
                extra={"provider": self.name},
            )
        if self.wait_insync and ids:
            await self._wait_insync(ids)

    async def _wait_insync(self, ids: list[str]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + INSYNC_TIMEOUT
        pause = 0.5
        pending = list(ids)
        while pending:
            still = []
            for change_id in pending:
                answer = await call(
                    partial(self.client.get_change, Id=change_id),
                    self._what(f"GetChange {change_id}"),
                    self.retry,
                )
                if answer["ChangeInfo"]["Status"] != "INSYNC":
                    still.append(change_id)
            pending = still
            if not pending:
                return
            if loop.time() + pause > deadline:
                raise AwsUnavailable(
                    f"{self._what('GetChange')}: {len(pending)} change(s) still PENDING after "
                    f"{INSYNC_TIMEOUT:.0f} s: {', '.join(pending[:3])}",
                    "PENDING",
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, 5.0)

    async def close(self) -> None:
        """Close the client's connections."""
        self.client.close()
