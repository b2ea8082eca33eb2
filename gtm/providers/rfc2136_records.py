"""A mapping's record sets as presentation text, built without dnspython objects.

When a site is lost every service's records change at once, and building them through
dnspython rdata (:func:`gtm.providers.rfc2136.zone_nodes`) costs milliseconds per service:
seconds for a thousand. The record sets the provider compares and sends are plain text
(:class:`~gtm.providers.rfc2136_update.RecordSet`), so the common mapping (IP literal
locators, plain names) is written straight as that text, the same text dnspython would
print; anything less common (a host name locator, a name needing escapes) returns None
and takes the dnspython path. A test holds both paths to the same answer.
"""

from __future__ import annotations

import ipaddress
import re

import dns.ipv6

from gtm.core.model import Action, Locator, Mapping, usable
from gtm.providers.rfc2136_update import RecordSet

_PLAIN = re.compile(r"[A-Za-z0-9_-]{1,63}\Z")
"""A label printed as itself in presentation form, needing no escape."""

_PLAIN_TEXT = re.compile(r"[ -!#-\[\]-~]*\Z")
"""A TXT string printed as itself between quotes: printable ASCII but ``"`` and ``\\``."""


def plain_records(mapping: Mapping, origin: str, marker: str) -> list[RecordSet] | None:
    """The record sets :func:`~gtm.providers.rfc2136.zone_nodes` gives ``mapping``, as text.

    Args:
        mapping: The service's mapping.
        origin: The zone's absolute name as dnspython prints it (``gtm.example.test.``).
        marker: The status TXT's first string (``gtm-owner=<owner>``).

    Returns:
        The record sets, or None when the mapping needs the general path: a locator
        whose address is a host name, or a service, site or status text that is not
        plain.
    """
    best = mapping.best()
    if not best and mapping.action is Action.NXDOMAIN:
        return []
    status = (marker, f"version={mapping.version}", f"epoch={mapping.epoch}")
    active = f"active={mapping.active_site or '-'}"
    if not _PLAIN.match(mapping.service) or not all(
        _PLAIN_TEXT.match(text) for text in (*status, active)
    ):
        return None
    owner = f"{mapping.service}.{origin}"
    ttl = mapping.ttl
    records = _addresses(owner.lower(), ttl, best)
    if records is None:
        return None
    txt = " ".join(f'"{text}"' for text in (*status, active))
    records.append(RecordSet(owner.lower(), "TXT", ttl, (txt,)))
    srv: set[str] = set()
    by_site: dict[str, list[Locator]] = {}
    for loc in usable(mapping.locators) or best:
        if not _PLAIN.match(loc.site):
            return None
        target = f"{loc.site}.{owner}"
        by_site.setdefault(target, []).append(loc)
        srv.add(f"{loc.priority} {loc.weight} {loc.port} {target}")
    if srv:
        records.append(RecordSet(owner.lower(), "SRV", ttl, tuple(sorted(srv))))
    for target, locs in by_site.items():
        site_records = _addresses(target.lower(), ttl, locs)
        if site_records is None:
            return None
        records += site_records
    return records


def _addresses(
    owner: str, ttl: int, locators: tuple[Locator, ...] | list[Locator]
) -> list[RecordSet] | None:
    """The A and AAAA record sets of ``locators`` at ``owner``; None for a host name."""
    texts: dict[str, set[str]] = {"A": set(), "AAAA": set()}
    for loc in locators:
        try:
            address = ipaddress.ip_address(loc.address)
        except ValueError:
            return None
        if address.version == 4:
            texts["A"].add(str(address))
        else:
            texts["AAAA"].add(dns.ipv6.inet_ntoa(address.packed))
    return [
        RecordSet(owner, rdtype, ttl, tuple(sorted(found)))
        for rdtype, found in texts.items()
        if found
    ]
