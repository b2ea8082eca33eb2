"""Which record sets the provider wants and which it sees as its own: pure, no server."""

from __future__ import annotations

import dataclasses

import dns.zone
import pytest
from rfc2136_samples import ORIGIN, ZONE, mapping

from gtm.config.providers import Rfc2136Provider
from gtm.core.changes import Owned, diff
from gtm.core.model import Action, State
from gtm.providers.rfc2136 import RecordSet, Rfc2136, managed_records

BILLING = {
    "billing.gtm.example.test. A": ("A", ("192.0.2.10",)),
    "billing.gtm.example.test. AAAA": ("AAAA", ("2001:db8::10",)),
    "billing.gtm.example.test. SRV": (
        "SRV",
        (
            "1 100 443 aws-use1.billing.gtm.example.test.",
            "2 100 443 gcp-euw1.billing.gtm.example.test.",
            "3 100 443 dc-paris.billing.gtm.example.test.",
        ),
    ),
    "billing.gtm.example.test. TXT": (
        "TXT",
        ('"gtm-owner=bind-main" "version=1" "epoch=1" "active=aws-use1"',),
    ),
    "aws-use1.billing.gtm.example.test. A": ("A", ("192.0.2.10",)),
    "aws-use1.billing.gtm.example.test. AAAA": ("AAAA", ("2001:db8::10",)),
    "gcp-euw1.billing.gtm.example.test. A": ("A", ("198.51.100.20",)),
    "dc-paris.billing.gtm.example.test. A": ("A", ("203.0.113.30",)),
}
"""What the built-in responder serves for ``mapping("billing")``, written out, with the
status TXT marked as the provider's."""


def provider(services: list[str]) -> Rfc2136:
    config = Rfc2136Provider.model_validate(
        {"type": "rfc2136", "server": "127.0.0.1:53", "services": services}
    )
    return Rfc2136("bind-main", config, ZONE)


def test_desired_holds_the_responders_records_keyed_by_owner_and_type() -> None:
    items = provider(["billing"]).desired([mapping("billing")])

    assert {key: (o.item.rdtype, o.item.rdatas) for key, o in items.items()} == BILLING
    assert {o.service for o in items.values()} == {"billing"}
    assert {o.item.ttl for o in items.values()} == {30}
    assert all(key == o.item.key for key, o in items.items())


def test_desired_leaves_out_services_the_provider_does_not_manage() -> None:
    items = provider(["billing"]).desired([mapping("billing"), mapping("search")])

    assert {o.service for o in items.values()} == {"billing"}
    assert {o.service for o in provider([]).desired([mapping("search")]).values()} == {"search"}


def test_a_move_changes_addresses_status_and_priorities() -> None:
    before = provider([]).desired([mapping("billing")])
    after = provider([]).desired([mapping("billing", "gcp-euw1", version=2, epoch=2)])

    changed = {c.key for c in diff(after, before)}

    assert after["billing.gtm.example.test. A"].item.rdatas == ("198.51.100.20",)
    assert "billing.gtm.example.test. AAAA" not in after
    assert changed == {
        "billing.gtm.example.test. A",
        "billing.gtm.example.test. AAAA",
        "billing.gtm.example.test. SRV",
        "billing.gtm.example.test. TXT",
    }


def test_one_provider_builds_the_records_of_each_mapping_it_is_given() -> None:
    # A preview keeps the current mapping's version with other locators: the same
    # provider must not answer it with the records it built for the current mapping.
    bind = provider([])
    current = mapping("billing")
    preview = dataclasses.replace(
        mapping("billing", "dc-paris"), version=current.version, epoch=current.epoch
    )

    before = bind.desired([current])
    after = bind.desired([preview])

    assert after["billing.gtm.example.test. A"].item.rdatas == ("203.0.113.30",)
    assert {c.key for c in diff(after, before)} == {
        "billing.gtm.example.test. A",
        "billing.gtm.example.test. AAAA",
        "billing.gtm.example.test. SRV",
        "billing.gtm.example.test. TXT",
    }
    assert bind.desired([current]) == before


def test_closed_service_holds_nothing_and_an_unserved_one_keeps_only_its_status() -> None:
    down = mapping("billing")
    down = dataclasses.replace(
        down, locators=tuple(dataclasses.replace(loc, state=State.DOWN) for loc in down.locators)
    )
    closed = dataclasses.replace(down, action=Action.NXDOMAIN)
    unknown = dataclasses.replace(down, action=Action.NONE)

    assert provider([]).desired([closed]) == {}
    assert list(provider([]).desired([unknown])) == ["billing.gtm.example.test. TXT"]


def test_record_set_describes_itself_on_one_line() -> None:
    record = RecordSet("billing.gtm.example.test.", "A", 30, ("192.0.2.10", "192.0.2.11"))

    assert record.describe() == "A 30 192.0.2.10 192.0.2.11"
    assert record.key == "billing.gtm.example.test. A"


ZONE_TEXT = """
@ 300 IN SOA ns1 hostmaster 1 3600 600 86400 5
@ 300 IN NS ns1
ns1 300 IN A 127.0.0.1
www 300 IN A 192.0.2.80
www 300 IN TXT "version=1.4.2"
app 300 IN TXT "version=1.4.2"
billing 30 IN A 192.0.2.10
billing 30 IN TXT "version=1" "epoch=1" "active=aws-use1"
billing 30 IN MX 10 mail
aws-use1.billing 30 IN A 192.0.2.10
old-site.billing 30 IN A 192.0.2.99
_x._tcp.billing 30 IN TXT "too deep"
search 30 IN A 192.0.2.20
retired 30 IN A 192.0.2.30
retired 30 IN TXT "gtm-owner=bind-main" "version=4" "epoch=2" "active=aws-use1"
theirs 30 IN A 192.0.2.40
theirs 30 IN TXT "gtm-owner=bind-staging" "version=4" "epoch=2" "active=aws-use1"
"""
"""A zone as a transfer gives it: gtm's names (billing as an earlier version wrote it,
retired as this provider wrote it before the service left the config), another gtm's name,
hand-made names with TXTs that look like a status, and a stale site name."""


def test_the_names_of_configured_services_are_managed_whatever_they_hold() -> None:
    zone = dns.zone.from_text(ZONE_TEXT, ORIGIN, relativize=False)

    seen = managed_records(zone.nodes, ORIGIN, frozenset({"billing", "search"}), "bind-main")

    assert sorted(seen) == [
        "aws-use1.billing.gtm.example.test. A",
        "billing.gtm.example.test. A",
        "billing.gtm.example.test. TXT",
        "old-site.billing.gtm.example.test. A",
        "search.gtm.example.test. A",
    ]
    assert seen["search.gtm.example.test. A"].service == "search"


def test_managing_every_service_also_claims_names_with_this_providers_marker() -> None:
    zone = dns.zone.from_text(ZONE_TEXT, ORIGIN, relativize=False)

    seen = managed_records(zone.nodes, ORIGIN, frozenset({"billing"}), "bind-main", every=True)

    assert {o.service for o in seen.values()} == {"billing", "retired"}
    assert sorted(k for k in seen if k.startswith("retired.")) == [
        "retired.gtm.example.test. A",
        "retired.gtm.example.test. TXT",
    ]


def test_a_marked_name_outside_an_explicit_service_list_is_left_alone() -> None:
    zone = dns.zone.from_text(ZONE_TEXT, ORIGIN, relativize=False)

    seen = managed_records(zone.nodes, ORIGIN, frozenset({"billing"}), "bind-main")

    assert {o.service for o in seen.values()} == {"billing"}


@pytest.mark.parametrize("every", [True, False])
def test_names_gtm_did_not_mark_are_never_claimed(every: bool) -> None:
    zone = dns.zone.from_text(ZONE_TEXT, ORIGIN, relativize=False)

    seen = managed_records(zone.nodes, ORIGIN, frozenset(), "bind-main", every=every)

    assert not any(key.startswith(("ns1.", "www.", "app.", "search.", "theirs.")) for key in seen)


@pytest.mark.parametrize("services", [["billing", "search"], []])
def test_what_desired_writes_observes_back_as_the_same_items(services: list[str]) -> None:
    bind = provider(services)
    wanted = bind.desired([mapping("billing"), mapping("search", "dc-paris")])
    zone = dns.zone.from_text(ZONE_TEXT.split("www")[0], ORIGIN, relativize=False)
    with zone.writer() as txn:
        for owned in wanted.values():
            record = owned.item
            for rdata in record.rdata_objects():
                txn.add(record.name(), record.ttl, rdata)

    seen: dict[str, Owned[RecordSet]] = managed_records(
        zone.nodes, ORIGIN, frozenset({"billing", "search"}), "bind-main", every=not services
    )

    assert seen == wanted
    assert diff(wanted, seen) == []
