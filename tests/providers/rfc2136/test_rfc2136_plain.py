"""The provider's text-built record sets are exactly what the dnspython path builds."""

from __future__ import annotations

import dataclasses

import pytest
from rfc2136_samples import ORIGIN, mapping

from gtm.core.model import NEVER, Action, Locator, Mapping, State
from gtm.providers.rfc2136 import OWNER_PREFIX, RecordSet, zone_nodes
from gtm.providers.rfc2136_records import plain_records

MARKER = f"{OWNER_PREFIX}bind-main"


def through_dnspython(m: Mapping) -> set[RecordSet]:
    return {
        RecordSet.from_rdataset(owner, rrset)
        for owner, node in zone_nodes(m, ORIGIN, "bind-main").items()
        for rrset in node.values()
    }


def two_per_site(service: str) -> Mapping:
    """Two locators in one site sharing an address and port (one A, one SRV), one IPv6
    written long, a site that must never take traffic and one that is down."""
    locators = (
        Locator(f"{service}@a/1", "site-a", "192.0.2.1", 443, 1, 50, State.UP),
        Locator(f"{service}@a/2", "site-a", "192.0.2.1", 443, 1, 50, State.UP),
        Locator(f"{service}@b/1", "site-b", "2001:0db8:0000::0001", 8443, 2, 0, State.UP),
        Locator(f"{service}@c/1", "site-c", "198.51.100.9", 443, 3, 100, State.DOWN),
        Locator(f"{service}@lab/1", "lab", "203.0.113.4", 443, NEVER, 100, State.UP),
    )
    return Mapping(service, 7, 3, 15, "site-a", locators)


def all_down(action: Action) -> Mapping:
    down = tuple(dataclasses.replace(loc, state=State.DOWN) for loc in mapping("billing").locators)
    return dataclasses.replace(mapping("billing"), locators=down, action=action)


@pytest.mark.parametrize(
    "m",
    [
        mapping("billing"),
        mapping("Search", "gcp-euw1", version=12, epoch=4, ttl=5),
        two_per_site("svc-0042"),
        all_down(Action.STAY),
        all_down(Action.OPEN),
        all_down(Action.NONE),
        all_down(Action.NXDOMAIN),
        dataclasses.replace(mapping("billing"), active_site=None),
    ],
    ids=[
        "plain",
        "capitals",
        "shared-and-ipv6",
        "stay",
        "open",
        "no-action",
        "nxdomain",
        "no-site",
    ],
)
def test_text_built_records_equal_the_dnspython_ones(m: Mapping) -> None:
    built = plain_records(m, ORIGIN.to_text(), MARKER)

    assert built is not None
    assert len(built) == len(set(built))
    assert set(built) == through_dnspython(m)


@pytest.mark.parametrize(
    "m",
    [
        dataclasses.replace(
            mapping("billing"),
            locators=(Locator("billing@a/1", "site-a", "lb.example.net", 443, 1, 100, State.UP),),
        ),
        dataclasses.replace(mapping("billing"), active_site='we"ird'),
        mapping("bill.ing"),
    ],
    ids=["host-name", "quote-in-status", "dot-in-service"],
)
def test_what_text_cannot_say_plainly_is_left_to_dnspython(m: Mapping) -> None:
    assert plain_records(m, ORIGIN.to_text(), MARKER) is None
