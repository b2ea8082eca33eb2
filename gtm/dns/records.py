"""The zone's content, derived from mappings: which names exist and what they hold.

Pure translation from the model to dnspython RRsets, kept apart from message handling so
the question "what does the zone say about billing?" has one answer and one place.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Iterable, Iterator
from collections.abc import Mapping as NodeView

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rrset
from dns.rdatatype import RdataType
from dns.rdtypes.ANY.TXT import TXT

from gtm.core.model import Action, Locator, Mapping, usable

Node = dict[RdataType, dns.rrset.RRset]
"""The RRsets one owner name holds, by type."""

Builders = dict[RdataType, Callable[[], dns.rrset.RRset]]
"""How to build each RRset one owner name holds, by type."""


class LazyNode(NodeView[RdataType, dns.rrset.RRset]):
    """The RRsets one owner name holds, each built the first time it is read.

    Building an RRset with dnspython costs far more than answering with it, and a
    question reads one type of one name: the built-in responder builds what is asked,
    not every record of a service that changed (a site lost changes a thousand).
    """

    def __init__(self, builders: Builders) -> None:
        self._builders = builders
        self._built: Node = {}

    def __getitem__(self, rdtype: RdataType) -> dns.rrset.RRset:
        built = self._built.get(rdtype)
        if built is None:
            built = self._built[rdtype] = self._builders[rdtype]()
        return built

    def __contains__(self, rdtype: object) -> bool:
        return rdtype in self._builders

    def __iter__(self) -> Iterator[RdataType]:
        return iter(self._builders)

    def __len__(self) -> int:
        return len(self._builders)


APEX_TTL = 300
"""TTL of the apex SOA and NS answers: the zone's shape changes rarely, its serial often."""

SOA_REFRESH = 3600
SOA_RETRY = 600
SOA_EXPIRE = 86400


def apex_node(origin: dns.name.Name, ns: Iterable[str], serial: int, negative_ttl: int) -> Node:
    """The SOA and NS RRsets at the zone apex.

    Args:
        origin: The zone's absolute name.
        ns: Name server names relative to the zone (``"ns1"``); the first is the SOA's
            primary name server.
        serial: The SOA serial.
        negative_ttl: The SOA minimum, which is how long resolvers cache a negative answer.
    """
    servers = [dns.name.from_text(name, origin) for name in ns]
    return {
        RdataType.SOA: soa_rrset(origin, servers[0], serial, negative_ttl, APEX_TTL),
        RdataType.NS: _rrset(origin, APEX_TTL, RdataType.NS, [str(name) for name in servers]),
    }


def soa_rrset(
    origin: dns.name.Name, mname: dns.name.Name, serial: int, negative_ttl: int, ttl: int
) -> dns.rrset.RRset:
    """The zone's SOA record with ``ttl``; negative answers carry it with ``negative_ttl``.

    The primary name server is ``mname``, the contact ``hostmaster.<zone>``; refresh,
    retry and expire only matter to secondaries, which this zone does not have.
    """
    rname = dns.name.from_text("hostmaster", origin)
    text = f"{mname} {rname} {serial % 2**32} {SOA_REFRESH} {SOA_RETRY} {SOA_EXPIRE} {negative_ttl}"
    return _rrset(origin, ttl, RdataType.SOA, [text])


def service_nodes(mapping: Mapping, origin: dns.name.Name) -> dict[dns.name.Name, Node]:
    """Every name a mapping puts in the zone, with its RRsets (see
    :func:`service_builders`)."""
    return {
        name: {rdtype: build() for rdtype, build in builders.items()}
        for name, builders in service_builders(mapping, origin).items()
    }


def service_builders(mapping: Mapping, origin: dns.name.Name) -> dict[dns.name.Name, Builders]:
    """Every name a mapping puts in the zone, with how to build its RRsets.

    ``<service>`` holds A/AAAA for the locators traffic goes to (``mapping.best()``), an SRV
    per locator a client may fail over to, and a TXT with version, epoch and active site.
    Each SRV target ``<site>.<service>`` holds A/AAAA for that site's SRV locators. SRV
    lists the usable locators; when none is usable it lists ``best()``, so under the
    ``stay`` and ``open`` actions SRV clients are sent where A clients are.

    Locators whose address is a host name rather than an IP literal cannot be A/AAAA data:
    they appear only in SRV, with the host name as target. A service or site name that is
    not a DNS label has no name in the zone.

    Args:
        mapping: The registry record of one service.
        origin: The zone's absolute name.
    """
    owner = child_name(origin, mapping.service)
    if owner is None:
        return {}
    node = _address_builders(owner, mapping.ttl, mapping.best())
    status = (
        f"version={mapping.version}",
        f"epoch={mapping.epoch}",
        f"active={mapping.active_site or '-'}",
    )
    node[RdataType.TXT] = functools.partial(_status_rrset, owner, mapping.ttl, status)
    nodes = {owner: node}
    srv_texts: list[str] = []
    by_site: dict[dns.name.Name, list[Locator]] = {}
    for loc in usable(mapping.locators) or mapping.best():
        target = child_name(owner, loc.site) if is_ip(loc.address) else host_name(loc.address)
        if target is None:
            continue
        if is_ip(loc.address):
            by_site.setdefault(target, []).append(loc)
        srv_texts.append(f"{loc.priority} {loc.weight} {loc.port} {target}")
    if srv_texts:
        node[RdataType.SRV] = functools.partial(
            _rrset, owner, mapping.ttl, RdataType.SRV, srv_texts
        )
    for site_owner, locs in by_site.items():
        nodes[site_owner] = _address_builders(site_owner, mapping.ttl, locs)
    return nodes


def is_hidden(mapping: Mapping) -> bool:
    """Whether the mapping's all-down action takes every one of its names out of the zone."""
    return not mapping.best() and mapping.action is Action.NXDOMAIN


def child_name(parent: dns.name.Name, label: str) -> dns.name.Name | None:
    """``label`` under ``parent``, or None when ``label`` cannot be one DNS label."""
    try:
        return dns.name.Name((label.encode("ascii"), *parent.labels))
    except (UnicodeError, dns.exception.DNSException):
        return None


def host_name(address: str) -> dns.name.Name | None:
    """A host name as an absolute DNS name, or None when it is not a valid one."""
    try:
        return dns.name.from_text(address)
    except dns.exception.DNSException:
        return None


def _address_builders(owner: dns.name.Name, ttl: int, locators: Iterable[Locator]) -> Builders:
    """A and AAAA RRsets for the IP literals among ``locators`` (absent when empty)."""
    texts: dict[RdataType, list[str]] = {RdataType.A: [], RdataType.AAAA: []}
    for loc in locators:
        try:
            address = ipaddress.ip_address(loc.address)
        except ValueError:
            continue
        texts[RdataType.A if address.version == 4 else RdataType.AAAA].append(str(address))
    return {
        rdtype: functools.partial(_rrset, owner, ttl, rdtype, t) for rdtype, t in texts.items() if t
    }


def is_ip(address: str) -> bool:
    """Whether ``address`` is an IP literal (an A/AAAA record) rather than a host name."""
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def _status_rrset(owner: dns.name.Name, ttl: int, status: tuple[str, ...]) -> dns.rrset.RRset:
    return dns.rrset.from_rdata(owner, ttl, TXT(dns.rdataclass.IN, RdataType.TXT, status))


def _rrset(owner: dns.name.Name, ttl: int, rdtype: RdataType, texts: list[str]) -> dns.rrset.RRset:
    return dns.rrset.from_rdata_list(
        owner,
        ttl,
        [dns.rdata.from_text(dns.rdataclass.IN, rdtype, text) for text in texts],
    )
