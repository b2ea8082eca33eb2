"""In a hosted zone it shares, the Route 53 provider touches only what it owns (moto).

Names it was not configured for are left alone and never put it in error, even when their
TXT looks like a status (``version=1.4.2``); names an earlier gtm wrote for a configured
service are taken over; names it marked for a service since dropped are recognised, and
another provider's are not.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aws_samples import MakeRoute53, listed, whack

from gtm.controller.reconciler import PassResult, Reconciler
from gtm.core.model import Mapping
from gtm.providers.route53 import Route53
from gtm.registry.registry import Registry
from gtm.registry.stores import MemoryStore
from testbed.moto import MotoServer, client

APPLICATION = (
    ("app", "TXT", '"version=1.4.2"'),
    ("www", "A", "192.0.2.80"),
    ("www", "TXT", '"version=1.4.2"'),
)
"""Records the application's team keeps in the hosted zone by hand: (label, type, value)."""


@pytest.fixture
async def registry() -> AsyncIterator[Registry]:
    opened = await Registry.open(MemoryStore(), "gtm-test")
    yield opened
    await opened.close()


def write_by_hand(moto: MotoServer, zone: tuple[str, str], *records: tuple[str, str, str]) -> None:
    """Create ``records`` (label, type, value) as someone editing the zone would."""
    name, zone_id = zone
    changes = [
        {
            "Action": "CREATE",
            "ResourceRecordSet": {
                "Name": f"{label}.{name}",
                "Type": rtype,
                "TTL": 300,
                "ResourceRecords": [{"Value": value}],
            },
        }
        for label, rtype, value in records
    ]
    client(moto.endpoint_url, "route53").change_resource_record_sets(
        HostedZoneId=zone_id, ChangeBatch={"Changes": changes}
    )


async def passes(
    provider: Route53, registry: Registry, *mappings: Mapping, count: int = 3
) -> tuple[Reconciler, list[PassResult]]:
    """``count`` reconciler passes of ``provider`` over ``mappings``, each observing afresh."""
    for wanted in mappings:
        await registry.put(wanted)
    reconciler = Reconciler([provider], registry)
    results = [await reconciler.run_pass(provider.name) for _ in range(count)]
    return reconciler, results


@pytest.mark.parametrize("services", [[], ["shop"]], ids=["every-service", "listed-services"])
async def test_hand_made_names_survive_every_pass_and_cause_no_error(
    moto: MotoServer,
    zone: tuple[str, str],
    make_route53: MakeRoute53,
    registry: Registry,
    services: list[str],
) -> None:
    name, zone_id = zone
    write_by_hand(moto, zone, *APPLICATION)
    provider = make_route53("shared", services=services)

    reconciler, results = await passes(provider, registry, whack("shop", "aws-use1"))

    touched = {change.service for result in results for change in result.changes}
    assert touched == {"shop"}
    assert all(not result.refused for result in results)
    assert reconciler.status()[0]["last_error"] is None
    assert results[-1].changes == [] and results[-1].remaining == []
    records = listed(moto, zone_id)
    assert records[(f"app.{name}", "TXT", None)] == (None, ['"version=1.4.2"'])
    assert records[(f"www.{name}", "A", None)] == (None, ["192.0.2.80"])
    assert records[(f"www.{name}", "TXT", None)] == (None, ['"version=1.4.2"'])
    assert records[(f"shop.{name}", "TXT", None)] == (
        None,
        ['"gtm-owner=shared" "version=1" "epoch=1" "active=aws-use1"'],
    )


async def test_a_status_written_by_an_earlier_gtm_is_taken_over(
    moto: MotoServer, zone: tuple[str, str], make_route53: MakeRoute53, registry: Registry
) -> None:
    name, zone_id = zone
    write_by_hand(
        moto,
        zone,
        ("basket", "A", "192.0.2.1"),
        ("basket", "TXT", '"version=1" "epoch=1" "active=aws-use1"'),
    )
    provider = make_route53("taking-over")

    reconciler, results = await passes(provider, registry, whack("basket", "aws-use1"), count=2)

    first = {(change.kind.value, change.key) for change in results[0].changes}
    assert first == {("update", f"basket.{name} TXT"), ("update", f"basket.{name} A")}
    assert reconciler.status()[0]["last_error"] is None
    assert results[-1].changes == []
    records = listed(moto, zone_id)
    assert records[(f"basket.{name}", "TXT", None)] == (
        None,
        ['"gtm-owner=taking-over" "version=1" "epoch=1" "active=aws-use1"'],
    )
    assert records[(f"basket.{name}", "A", None)] == (None, ["192.0.2.1", "192.0.2.2"])


async def test_a_configured_name_is_claimed_whatever_it_holds(
    moto: MotoServer, zone: tuple[str, str], make_route53: MakeRoute53, registry: Registry
) -> None:
    name, zone_id = zone
    write_by_hand(moto, zone, ("cart", "A", "10.9.9.9"), ("cart", "TXT", '"hand made"'))
    provider = make_route53("claiming", services=["cart"])

    reconciler, results = await passes(provider, registry, whack("cart", "aws-usw2"), count=2)

    assert {change.kind.value for change in results[0].changes} == {"update"}
    assert reconciler.status()[0]["last_error"] is None
    assert results[-1].changes == []
    assert listed(moto, zone_id)[(f"cart.{name}", "A", None)] == (
        None,
        ["198.51.100.1", "198.51.100.2"],
    )


async def test_its_own_marked_names_are_recognised_and_others_are_not(
    make_route53: MakeRoute53, registry: Registry
) -> None:
    writer = make_route53("marker")
    await passes(writer, registry, whack("bygone", "aws-use1"), count=1)

    # The service left the config: no mapping names it, yet its names are the provider's.
    same = make_route53("marker")
    same.desired([])
    assert {owned.service for owned in (await same.observe()).values()} == {"bygone"}
    # A provider of another name (another gtm sharing the zone) leaves them alone, and a
    # provider with a list of services claims nothing beyond it.
    other = make_route53("someone-else")
    other.desired([])
    assert await other.observe() == {}
    listing = make_route53("marker", services=["shop"])
    listing.desired([])
    assert await listing.observe() == {}
