"""The Route 53 provider against moto in server mode: apply, move, drift, faults."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_samples import NO_WAIT, MakeRoute53, listed, pending_change, throttled, whack
from botocore.awsrequest import AWSPreparedRequest, AWSResponse

from gtm.config.providers import AwsCredentials, Route53Provider
from gtm.core.changes import ChangeKind, diff
from gtm.providers.aws import AwsRejected, AwsUnavailable
from gtm.providers.route53 import Route53
from testbed.moto import MotoServer, client, create_hosted_zone


async def reconcile(provider: Route53, mappings: list[Any]) -> int:
    """One observe, diff, apply pass; the number of changes applied."""
    changes = diff(provider.desired(mappings), await provider.observe())
    await provider.apply(changes)
    return len(changes)


async def test_first_apply_writes_the_records_and_then_nothing_differs(
    moto: MotoServer, zone: tuple[str, str], make_route53: MakeRoute53
) -> None:
    provider = make_route53()
    name, zone_id = zone
    mappings = [whack("billing", "aws-use1", version=3, epoch=2), whack("search", "aws-usw2")]

    assert await reconcile(provider, mappings) == 4

    assert listed(moto, zone_id) == {
        (f"billing.{name}", "A", None): (None, ["192.0.2.1", "192.0.2.2"]),
        (f"billing.{name}", "TXT", None): (
            None,
            ['"gtm-owner=r53" "version=3" "epoch=2" "active=aws-use1"'],
        ),
        (f"search.{name}", "A", None): (None, ["198.51.100.1", "198.51.100.2"]),
        (f"search.{name}", "TXT", None): (
            None,
            ['"gtm-owner=r53" "version=1" "epoch=1" "active=aws-usw2"'],
        ),
    }
    assert diff(provider.desired(mappings), await provider.observe()) == []


async def test_a_move_updates_the_records(
    moto: MotoServer, zone: tuple[str, str], make_route53: MakeRoute53
) -> None:
    provider = make_route53()
    name, zone_id = zone
    await reconcile(provider, [whack("billing", "aws-use1")])

    moved = whack("billing", "aws-usw2", version=2, epoch=2, down=("aws-use1",))
    changes = diff(provider.desired([moved]), await provider.observe())
    await provider.apply(changes)

    assert {change.kind for change in changes} == {ChangeKind.UPDATE}
    records = listed(moto, zone_id)
    assert records[(f"billing.{name}", "A", None)] == (None, ["198.51.100.1", "198.51.100.2"])
    assert records[(f"billing.{name}", "TXT", None)] == (
        None,
        ['"gtm-owner=r53" "version=2" "epoch=2" "active=aws-usw2"'],
    )
    assert diff(provider.desired([moved]), await provider.observe()) == []


async def test_a_record_changed_by_hand_is_detected_and_repaired(
    moto: MotoServer, zone: tuple[str, str], make_route53: MakeRoute53
) -> None:
    provider = make_route53()
    name, zone_id = zone
    mappings = [whack("billing", "aws-use1")]
    await reconcile(provider, mappings)
    client(moto.endpoint_url, "route53").change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": f"billing.{name}",
                        "Type": "A",
                        "TTL": 300,
                        "ResourceRecords": [{"Value": "10.9.9.9"}],
                    },
                }
            ]
        },
    )

    drift = diff(provider.desired(mappings), await provider.observe())
    assert [(c.kind, c.key, c.before and c.before.values) for c in drift] == [
        (ChangeKind.UPDATE, f"billing.{name} A", ("10.9.9.9",))
    ]
    await provider.apply(drift)

    assert listed(moto, zone_id)[(f"billing.{name}", "A", None)] == (
        None,
        ["192.0.2.1", "192.0.2.2"],
    )
    assert diff(provider.desired(mappings), await provider.observe()) == []


async def test_weighted_mode_writes_a_weighted_set_per_site(
    moto: MotoServer, zone: tuple[str, str], make_route53: MakeRoute53
) -> None:
    provider = make_route53(mode="weighted", wait_insync=True)
    name, zone_id = zone
    mappings = [whack("billing", "aws-usw2")]

    await reconcile(provider, mappings)

    records = listed(moto, zone_id)
    assert records[(f"billing.{name}", "A", "aws-usw2")] == (100, ["198.51.100.1", "198.51.100.2"])
    assert records[(f"billing.{name}", "A", "aws-use1")] == (0, ["192.0.2.1", "192.0.2.2"])
    assert records[(f"billing.{name}", "A", "gcp-euw1")] == (0, ["203.0.113.1"])
    assert diff(provider.desired(mappings), await provider.observe()) == []


async def test_a_service_gone_from_the_mappings_is_deleted_and_others_records_stay(
    moto: MotoServer, zone: tuple[str, str], make_route53: MakeRoute53
) -> None:
    provider = make_route53()
    name, zone_id = zone
    await reconcile(provider, [whack("billing", "aws-use1"), whack("search", "aws-use1")])
    client(moto.endpoint_url, "route53").change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": f"www.{name}",
                        "Type": "A",
                        "TTL": 300,
                        "ResourceRecords": [{"Value": "10.1.1.1"}],
                    },
                }
            ]
        },
    )

    changes = diff(provider.desired([whack("billing", "aws-use1")]), await provider.observe())
    await provider.apply(changes)

    assert [(c.kind, c.service) for c in changes] == [(ChangeKind.DELETE, "search")] * 2
    assert {key[0] for key in listed(moto, zone_id)} == {f"billing.{name}", f"www.{name}"}


async def test_an_unknown_hosted_zone_is_rejected_naming_it(
    make_route53: MakeRoute53,
) -> None:
    provider = make_route53(hosted_zone_id="ZNOSUCHZONE")

    with pytest.raises(AwsRejected, match="ZNOSUCHZONE") as observed:
        await provider.observe()
    assert observed.value.code == "NoSuchHostedZone"
    with pytest.raises(AwsRejected, match=r"ZNOSUCHZONE.*NoSuchHostedZone"):
        await provider.apply(diff(provider.desired([whack("billing", "aws-use1")]), {}))


async def test_a_stopped_endpoint_is_unavailable(aws_keys: dict[str, str]) -> None:
    server = MotoServer()
    try:
        server.start()
        zone_id = create_hosted_zone(server.endpoint_url, "gone.example.")
    finally:
        server.stop()
    config = Route53Provider(
        type="route53",
        hosted_zone_id=zone_id,
        endpoint_url=server.endpoint_url,
        credentials=AwsCredentials(**aws_keys),
    )
    provider = Route53("r53", config, "gone.example.", retry=NO_WAIT)
    try:
        with pytest.raises(AwsUnavailable, match=f"route53 r53: .*{zone_id}"):
            await provider.observe()
        with pytest.raises(AwsUnavailable):
            await provider.apply(diff(provider.desired([whack("billing", "aws-use1")]), {}))
    finally:
        await provider.close()


def intercept(
    provider: Route53, operation: str, times: int, fault: Callable[[str], AWSResponse]
) -> list[str]:
    """Answer the provider's next ``times`` ``operation`` requests with ``fault`` instead of
    sending them; later ones go to the server. Returns the URLs of all, as they are made."""
    seen: list[str] = []

    def answer(request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        seen.append(request.url)
        return fault(request.url) if len(seen) <= times else None

    provider.client.meta.events.register(f"before-send.route-53.{operation}", answer)
    return seen


def throttle(provider: Route53, times: int) -> list[str]:
    """Answer the provider's next ``times`` change requests with Throttling."""
    return intercept(provider, "ChangeResourceRecordSets", times, throttled)


async def test_throttling_is_retried_with_backoff_until_it_passes(
    moto: MotoServer, zone: tuple[str, str], make_route53: MakeRoute53
) -> None:
    provider = make_route53()
    seen = throttle(provider, times=2)
    mappings = [whack("billing", "aws-use1")]

    await reconcile(provider, mappings)

    assert len(seen) == 3
    assert diff(provider.desired(mappings), await provider.observe()) == []


async def test_throttling_that_outlasts_the_retries_is_unavailable(
    make_route53: MakeRoute53,
) -> None:
    provider = make_route53()
    seen = throttle(provider, times=100)

    with pytest.raises(AwsUnavailable, match=r"Throttling.*still throttled after 3 tries") as err:
        await provider.apply(diff(provider.desired([whack("billing", "aws-use1")]), {}))

    assert len(seen) == NO_WAIT.tries
    assert err.value.code == "Throttling"
    assert err.value.retry_after is not None


async def test_wait_insync_polls_until_route53_reports_insync(
    make_route53: MakeRoute53,
) -> None:
    provider = make_route53(wait_insync=True)
    polls = intercept(provider, "GetChange", 1, pending_change)
    mappings = [whack("billing", "aws-use1")]

    await reconcile(provider, mappings)

    assert len(polls) == 2
