"""What record sets Route 53 should hold for a mapping, in plain and weighted mode."""

from __future__ import annotations

from dataclasses import replace

from aws_samples import SITES, weighted, whack

from gtm.config.providers import Route53Provider
from gtm.core.model import Action, State
from gtm.providers.base import Provider
from gtm.providers.route53 import RecordSet, Route53, desired_records

ZONE = "example.com."
OWNER = "r53"
"""The provider name the status TXT is marked with."""


def by_key(records: list[RecordSet]) -> dict[str, RecordSet]:
    return {record.key: record for record in records}


def test_plain_holds_the_active_sites_addresses_and_a_txt_with_version_epoch_site() -> None:
    records = by_key(
        desired_records(whack("billing", "aws-use1", version=7, epoch=3), ZONE, "plain", OWNER)
    )

    assert records == {
        "billing.example.com. A": RecordSet(
            "billing.example.com.", "A", 30, ("192.0.2.1", "192.0.2.2")
        ),
        "billing.example.com. TXT": RecordSet(
            "billing.example.com.",
            "TXT",
            30,
            ('"gtm-owner=r53" "version=7" "epoch=3" "active=aws-use1"',),
        ),
    }


def test_plain_follows_a_move_and_the_mappings_ttl() -> None:
    moved = whack("billing", "aws-usw2", version=8, epoch=4, ttl=5, down=("aws-use1",))

    records = by_key(desired_records(moved, ZONE, "plain", OWNER))

    assert records["billing.example.com. A"].values == ("198.51.100.1", "198.51.100.2")
    assert {record.ttl for record in records.values()} == {5}
    assert records["billing.example.com. TXT"].values == (
        '"gtm-owner=r53" "version=8" "epoch=4" "active=aws-usw2"',
    )


def test_plain_puts_ipv6_addresses_in_an_aaaa_record_set_and_skips_host_names() -> None:
    addresses = {"aws-use1": ("192.0.2.1", "2001:DB8::1", "lb.example.net")}
    mapping = whack("billing", "aws-use1", addresses=addresses)

    records = by_key(desired_records(mapping, ZONE, "plain", OWNER))

    assert records["billing.example.com. A"].values == ("192.0.2.1",)
    assert records["billing.example.com. AAAA"].values == ("2001:db8::1",)
    assert len(records) == 3


def test_a_closed_service_keeps_only_its_txt() -> None:
    closed = whack("billing", None, down=SITES, action=Action.NXDOMAIN)

    for mode in ("plain", "weighted"):
        records = desired_records(closed, ZONE, mode, OWNER)
        assert [record.type for record in records] == ["TXT"]
        assert records[0].values == ('"gtm-owner=r53" "version=1" "epoch=1"',)


def test_weighted_lists_every_site_the_active_one_at_100() -> None:
    mapping = whack("billing", "aws-usw2", down=("gcp-euw1",))

    records = by_key(desired_records(mapping, ZONE, "weighted", OWNER))

    assert {key: (r.set_identifier, r.weight, r.values) for key, r in records.items()} == {
        "billing.example.com. A aws-use1": ("aws-use1", 0, ("192.0.2.1", "192.0.2.2")),
        "billing.example.com. A aws-usw2": ("aws-usw2", 100, ("198.51.100.1", "198.51.100.2")),
        # No locator up there, but it has addresses: listed, ready, at weight 0.
        "billing.example.com. A gcp-euw1": ("gcp-euw1", 0, ("203.0.113.1",)),
        "billing.example.com. TXT": (
            None,
            None,
            ('"gtm-owner=r53" "version=1" "epoch=1" "active=aws-usw2"',),
        ),
    }


def test_weighted_splits_by_the_locators_weights() -> None:
    mapping = weighted("search", {"aws-use1": 70, "aws-usw2": 30, "gcp-euw1": 0})

    records = by_key(desired_records(mapping, ZONE, "weighted", OWNER))

    weights = {r.set_identifier: r.weight for r in records.values() if r.type == "A"}
    assert weights == {"aws-use1": 70, "aws-usw2": 30, "gcp-euw1": 0}


def test_weighted_site_lists_only_its_serving_addresses_when_it_serves() -> None:
    mapping = whack("billing", "aws-use1")
    half_down = replace(
        mapping,
        locators=tuple(
            replace(loc, state=State.DOWN) if loc.address == "192.0.2.2" else loc
            for loc in mapping.locators
        ),
    )

    records = by_key(desired_records(half_down, ZONE, "weighted", OWNER))

    assert records["billing.example.com. A aws-use1"].values == ("192.0.2.1",)
    assert records["billing.example.com. A aws-use1"].weight == 100


def test_provider_desired_covers_only_the_services_it_manages() -> None:
    config = Route53Provider(
        type="route53",
        hosted_zone_id="Z1",
        services=["billing"],
        endpoint_url="http://127.0.0.1:9",
    )
    # Typed as the contract, so that mypy checks Route53 implements it.
    provider: Provider[RecordSet] = Route53("r53", config, "Example.COM")

    items = provider.desired([whack("billing", "aws-use1"), whack("search", "aws-use1")])

    assert sorted(items) == ["billing.example.com. A", "billing.example.com. TXT"]
    assert {owned.service for owned in items.values()} == {"billing"}
