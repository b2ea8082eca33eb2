"""Listener weights for a mapping, and the listener actions that carry them (pure)."""

from __future__ import annotations

from aws_samples import SITES, weighted, whack

from gtm.config.providers import Elbv2Provider
from gtm.core.model import Action
from gtm.providers.base import Provider
from gtm.providers.elbv2 import (
    Elbv2,
    ForwardWeights,
    build_default_actions,
    desired_weights,
    observed_weights,
)

GROUPS = {
    site: f"arn:aws:elasticloadbalancing:r:1:targetgroup/billing-{site}/{n}"
    for n, site in enumerate(SITES)
}


def by_site(weights: tuple[tuple[str, int], ...]) -> dict[str, int]:
    site_of = {arn: site for site, arn in GROUPS.items()}
    return {site_of[arn]: weight for arn, weight in weights}


def test_the_active_site_gets_100_and_the_others_0() -> None:
    weights = desired_weights(whack("billing", "aws-use1"), GROUPS)

    assert by_site(weights) == {"aws-use1": 100, "aws-usw2": 0, "gcp-euw1": 0}
    assert list(weights) == sorted(weights)


def test_a_move_flips_the_weights() -> None:
    moved = whack("billing", "aws-usw2", epoch=2, down=("aws-use1",))

    assert by_site(desired_weights(moved, GROUPS)) == {
        "aws-use1": 0,
        "aws-usw2": 100,
        "gcp-euw1": 0,
    }


def test_a_weighted_policy_splits_by_the_locators_weights() -> None:
    mapping = weighted("billing", {"aws-use1": 70, "aws-usw2": 30, "gcp-euw1": 0})

    assert by_site(desired_weights(mapping, GROUPS)) == {
        "aws-use1": 70,
        "aws-usw2": 30,
        "gcp-euw1": 0,
    }


def test_sites_without_a_target_group_are_left_out_of_the_split() -> None:
    mapping = weighted("billing", {"aws-use1": 50, "aws-usw2": 25, "gcp-euw1": 25})
    aws_only = {site: GROUPS[site] for site in ("aws-use1", "aws-usw2")}

    weights = desired_weights(mapping, aws_only)

    assert by_site(weights) == {"aws-use1": 67, "aws-usw2": 33}


def test_traffic_at_a_site_out_of_reach_sends_what_reaches_the_balancer_to_the_next_best() -> None:
    mapping = whack("billing", "gcp-euw1")  # aws-use1 priority 2, aws-usw2 priority 3

    weights = desired_weights(mapping, {s: GROUPS[s] for s in ("aws-use1", "aws-usw2")})

    assert by_site(weights) == {"aws-use1": 100, "aws-usw2": 0}


def test_nothing_usable_keeps_the_active_site_rather_than_all_zero() -> None:
    closed = whack("billing", "aws-usw2", down=SITES, action=Action.NXDOMAIN)

    assert by_site(desired_weights(closed, GROUPS)) == {
        "aws-use1": 0,
        "aws-usw2": 100,
        "gcp-euw1": 0,
    }


def test_nothing_usable_and_no_active_group_spreads_evenly() -> None:
    closed = whack("billing", None, down=SITES, action=Action.NXDOMAIN)

    assert by_site(desired_weights(closed, GROUPS)) == {
        "aws-use1": 33,
        "aws-usw2": 33,
        "gcp-euw1": 33,
    }


def test_observed_weights_read_a_forward_config_or_a_single_target_group() -> None:
    weighted_forward = [
        {"Type": "authenticate-oidc", "Order": 1},
        {
            "Type": "forward",
            "Order": 2,
            "ForwardConfig": {
                "TargetGroups": [
                    {"TargetGroupArn": "arn:b", "Weight": 0},
                    {"TargetGroupArn": "arn:a"},
                ]
            },
        },
    ]

    assert observed_weights(weighted_forward) == (("arn:a", 1), ("arn:b", 0))
    assert observed_weights([{"Type": "forward", "TargetGroupArn": "arn:a"}]) == (("arn:a", 1),)
    assert observed_weights([{"Type": "fixed-response"}]) == ()


def test_new_actions_keep_authentication_stickiness_and_order() -> None:
    current = [
        {
            "Type": "authenticate-oidc",
            "Order": 1,
            "AuthenticateOidcConfig": {"Issuer": "https://idp.example", "ClientId": "gtm"},
        },
        {
            "Type": "forward",
            "Order": 2,
            "TargetGroupArn": "arn:a",
            "ForwardConfig": {
                "TargetGroups": [{"TargetGroupArn": "arn:a", "Weight": 1}],
                "TargetGroupStickinessConfig": {"Enabled": True, "DurationSeconds": 60},
            },
        },
    ]

    actions = build_default_actions(current, [("arn:a", 0), ("arn:b", 100)])

    assert actions == [
        {
            "Type": "authenticate-oidc",
            "Order": 1,
            "AuthenticateOidcConfig": {
                "Issuer": "https://idp.example",
                "ClientId": "gtm",
                "UseExistingClientSecret": True,
            },
        },
        {
            "Type": "forward",
            "Order": 2,
            "ForwardConfig": {
                "TargetGroups": [
                    {"TargetGroupArn": "arn:a", "Weight": 0},
                    {"TargetGroupArn": "arn:b", "Weight": 100},
                ],
                "TargetGroupStickinessConfig": {"Enabled": True, "DurationSeconds": 60},
            },
        },
    ]


def test_a_fixed_response_set_by_hand_is_replaced_by_the_forward() -> None:
    actions = build_default_actions(
        [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503"}}], [("arn:a", 100)]
    )

    assert actions == [
        {
            "Type": "forward",
            "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": "arn:a", "Weight": 100}]},
        }
    ]


def test_describe_names_the_target_groups() -> None:
    item = ForwardWeights(
        "billing", "arn:listener", ((GROUPS["aws-use1"], 100), (GROUPS["aws-usw2"], 0))
    )

    assert item.describe() == "billing-aws-use1=100 billing-aws-usw2=0"


def test_provider_desired_covers_managed_services_with_a_listener_and_groups() -> None:
    config = Elbv2Provider(
        type="elbv2",
        listeners={"billing": "arn:listener/billing", "search": "arn:listener/search"},
        target_groups={"billing": GROUPS},
        endpoint_url="http://127.0.0.1:9",
    )
    # Typed as the contract, so that mypy checks Elbv2 implements it.
    provider: Provider[ForwardWeights] = Elbv2("alb", config)
    mappings = [whack(service, "aws-use1") for service in ("billing", "search", "mail")]

    items = provider.desired(mappings)

    assert list(items) == ["billing"]
    assert items["billing"].item.listener_arn == "arn:listener/billing"
    assert provider.capabilities.max_batch == 1
