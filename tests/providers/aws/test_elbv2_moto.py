"""The ELBv2 provider against moto in server mode: weights applied, moved, repaired."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aws_samples import SITES, whack

from gtm.config.providers import AwsCredentials, Elbv2Provider
from gtm.core.changes import ChangeKind, diff
from gtm.providers.aws import AwsRejected, AwsUnavailable, Retry
from gtm.providers.elbv2 import Elbv2
from testbed.moto import MotoServer, client, create_alb

Alb = tuple[dict[str, str], dict[str, dict[str, str]]]
MakeProvider = Callable[..., Elbv2]


@pytest.fixture
def alb(moto: MotoServer) -> Alb:
    """A fresh ALB: a listener per service, a target group per service and site."""
    return create_alb(moto.endpoint_url, ["billing", "search"], list(SITES))


@pytest.fixture
async def make_provider(
    moto: MotoServer, alb: Alb, aws_keys: dict[str, str]
) -> AsyncIterator[MakeProvider]:
    """Build ELBv2 providers on the ALB; every one is closed at the end."""
    made: list[Elbv2] = []

    def make(**settings: Any) -> Elbv2:
        fields: dict[str, Any] = {
            "type": "elbv2",
            "listeners": alb[0],
            "target_groups": alb[1],
            "endpoint_url": moto.endpoint_url,
            "credentials": AwsCredentials(**aws_keys),
            **settings,
        }
        provider = Elbv2("alb", Elbv2Provider(**fields), retry=Retry(first_delay=0.0))
        made.append(provider)
        return provider

    try:
        yield make
    finally:
        for provider in made:
            await provider.close()


def weights_by_site(moto: MotoServer, alb: Alb, service: str) -> dict[str, int]:
    """The listener's forward weights as boto3 describes them, by site."""
    answer = client(moto.endpoint_url, "elbv2").describe_listeners(ListenerArns=[alb[0][service]])
    [action] = answer["Listeners"][0]["DefaultActions"]
    site_of = {arn: site for site, arn in alb[1][service].items()}
    return {
        site_of[group["TargetGroupArn"]]: group["Weight"]
        for group in action["ForwardConfig"]["TargetGroups"]
    }


async def reconcile(provider: Elbv2, mappings: list[Any]) -> int:
    """One observe, diff, apply pass; the number of changes applied."""
    changes = diff(provider.desired(mappings), await provider.observe())
    await provider.apply(changes)
    return len(changes)


async def test_apply_sets_the_active_site_to_100_and_the_others_to_0(
    moto: MotoServer, alb: Alb, make_provider: MakeProvider
) -> None:
    provider = make_provider()
    mappings = [whack("billing", "aws-usw2"), whack("search", "aws-use1")]

    assert await reconcile(provider, mappings) == 2

    assert weights_by_site(moto, alb, "billing") == {"aws-use1": 0, "aws-usw2": 100, "gcp-euw1": 0}
    assert weights_by_site(moto, alb, "search") == {"aws-use1": 100, "aws-usw2": 0, "gcp-euw1": 0}
    assert diff(provider.desired(mappings), await provider.observe()) == []


async def test_a_move_flips_the_weights(
    moto: MotoServer, alb: Alb, make_provider: MakeProvider
) -> None:
    provider = make_provider(services=["billing"])
    await reconcile(provider, [whack("billing", "aws-use1")])

    moved = whack("billing", "gcp-euw1", epoch=2, down=("aws-use1", "aws-usw2"))
    assert await reconcile(provider, [moved]) == 1

    assert weights_by_site(moto, alb, "billing") == {"aws-use1": 0, "aws-usw2": 0, "gcp-euw1": 100}
    # The unmanaged service's listener is untouched: still as created.
    assert weights_by_site(moto, alb, "search") == {"aws-use1": 1, "aws-usw2": 0, "gcp-euw1": 0}


async def test_weights_changed_by_hand_are_detected_and_repaired(
    moto: MotoServer, alb: Alb, make_provider: MakeProvider
) -> None:
    provider = make_provider(services=["billing"])
    mappings = [whack("billing", "aws-use1")]
    await reconcile(provider, mappings)
    groups = alb[1]["billing"]
    client(moto.endpoint_url, "elbv2").modify_listener(
        ListenerArn=alb[0]["billing"],
        DefaultActions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": groups["aws-use1"], "Weight": 50},
                        {"TargetGroupArn": groups["aws-usw2"], "Weight": 50},
                    ]
                },
            }
        ],
    )

    drift = diff(provider.desired(mappings), await provider.observe())
    assert [(change.kind, change.service) for change in drift] == [(ChangeKind.UPDATE, "billing")]
    await provider.apply(drift)

    assert weights_by_site(moto, alb, "billing") == {"aws-use1": 100, "aws-usw2": 0, "gcp-euw1": 0}
    assert diff(provider.desired(mappings), await provider.observe()) == []


async def test_an_unknown_listener_is_rejected_naming_it(
    alb: Alb, make_provider: MakeProvider
) -> None:
    missing = alb[0]["billing"].rsplit("/", 1)[0] + "/0123456789abcdef"
    provider = make_provider(services=["billing"], listeners={"billing": missing})

    with pytest.raises(AwsRejected, match=f"elbv2 alb: DescribeListeners .*{missing}"):
        await provider.observe()


async def test_a_service_without_a_mapping_is_refused_after_the_others_are_applied(
    moto: MotoServer, alb: Alb, make_provider: MakeProvider
) -> None:
    provider = make_provider()
    changes = diff(provider.desired([whack("billing", "aws-usw2")]), await provider.observe())
    assert {(change.kind, change.service) for change in changes} == {
        (ChangeKind.UPDATE, "billing"),
        (ChangeKind.DELETE, "search"),
    }

    with pytest.raises(AwsRejected, match="will not remove the listener weights of search"):
        await provider.apply(changes)

    assert weights_by_site(moto, alb, "billing") == {"aws-use1": 0, "aws-usw2": 100, "gcp-euw1": 0}


async def test_a_stopped_endpoint_is_unavailable(alb: Alb, aws_keys: dict[str, str]) -> None:
    server = MotoServer()
    try:
        server.start()
        endpoint = server.endpoint_url
    finally:
        server.stop()
    config = Elbv2Provider(
        type="elbv2",
        listeners=alb[0],
        target_groups=alb[1],
        endpoint_url=endpoint,
        credentials=AwsCredentials(**aws_keys),
    )
    provider = Elbv2("alb", config)
    try:
        with pytest.raises(AwsUnavailable, match="elbv2 alb: DescribeListeners"):
            await provider.observe()
    finally:
        await provider.close()
