"""The burst section and a check's load figure: defaults, levels in each metric's unit, errors."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from gtm.config.burst import BurstConfig
from gtm.config.models import Config, ServiceConfig
from gtm.config.problems import describe
from gtm.controller.plans import _plan
from gtm.core.burst import Metric

LOCATORS = [{"site": "a", "address": "127.0.1.1", "port": 80}]


def service(**fields: Any) -> ServiceConfig:
    return ServiceConfig.model_validate({"locators": LOCATORS, **fields})


def problems(**fields: Any) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        service(**fields)
    return [str(problem) for problem in describe(caught.value, ServiceConfig)]


def test_the_defaults_start_at_250ms_and_stop_at_80_percent_of_it() -> None:
    burst = service(policy="burst").burst_settings
    assert (burst.start_level, burst.stop_level) == (0.25, pytest.approx(0.2))
    assert (burst.window, burst.calm, burst.hold, burst.ramp, burst.share) == (10, 30, 60, 20, 50)


def test_levels_are_read_in_the_metric_s_unit() -> None:
    latency = BurstConfig.model_validate({"above": "400ms", "below": "300ms", "for": "5s"})
    assert (latency.start_level, latency.stop_level, latency.window) == (0.4, 0.3, 5.0)
    load = BurstConfig.model_validate({"metric": "load", "above": 0.9})
    assert (load.start_level, load.stop_level) == (0.9, pytest.approx(0.72))
    assert BurstConfig.model_validate({"metric": "load"}).start_level == 0.8


def test_the_plan_carries_the_burst_settings_to_the_core() -> None:
    plan = _plan(
        "billing",
        service(
            policy="burst",
            check={"load": {"field": "load"}},
            burst={"metric": "load", "above": 0.9, "below": 0.5, "for": "3s", "share": 30},
        ),
    )
    assert plan.burst is not None
    assert (plan.burst.metric, plan.burst.above, plan.burst.below, plan.burst.window) == (
        Metric.LOAD,
        0.9,
        0.5,
        3.0,
    )
    assert plan.burst.share == 30
    assert _plan("billing", service()).burst is None


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"policy": "burst", "burst": {"above": "200ms", "below": "300ms"}},
            "burst.below: is 300ms, not below above (200ms); set below lower than above",
        ),
        (
            {"policy": "burst", "burst": {"above": "fast"}},
            "burst.above: 'fast' is not a latency; expected a duration like 250ms",
        ),
        (
            {"policy": "burst", "burst": {"metric": "load", "above": "80%"}},
            "burst.above: '80%' is not a load figure; expected a number like 0.8 (metric: load)",
        ),
        (
            {"policy": "burst", "burst": {"metric": "load", "below": -1}},
            "burst.below: -1.0 is negative; expected a load figure of 0 or more",
        ),
        (
            {"burst": {"above": "300ms"}},
            "burst: is set but policy is whack-a-mole; set policy: burst or remove burst",
        ),
        (
            {"policy": "burst", "burst": {"metric": "load"}},
            "burst.metric: is load, but the check reads no load figure; add check: "
            "{load: {field: NAME}} or check: {load: {header: NAME}}, or use metric: latency",
        ),
        (
            {"check": {"type": "http", "load": {"header": "X-Load", "field": "load"}}},
            "check.load: needs exactly one of header or field, e.g. load: {field: load}",
        ),
    ],
)
def test_each_problem_names_the_field_the_value_and_what_to_do(
    fields: dict[str, Any], expected: str
) -> None:
    assert expected in problems(**fields)


@pytest.mark.parametrize(
    ("burst", "expected"),
    [
        (
            {"metric": "sessions"},
            "burst.provider: names no provider; metric sessions is read from an haproxy provider",
        ),
        (
            {"provider": "lb"},
            "burst.provider: is set but metric is latency; only sessions and queue read one",
        ),
        (
            {"metric": "queue", "provider": "lb", "above": "5s"},
            "burst.above: '5s' is not a load figure; expected a number like 0.8 (metric: queue)",
        ),
    ],
)
def test_a_load_balancer_metric_needs_a_provider(burst: dict[str, Any], expected: str) -> None:
    assert expected in problems(policy="burst", burst=burst)


def config_problems(providers: dict[str, Any]) -> list[str]:
    doc = {
        "zone": "gtm.example.test.",
        "sites": {"a": {}},
        "services": {
            "billing": {
                "policy": "burst",
                "burst": {"metric": "sessions", "provider": "lb", "above": 20},
                "locators": LOCATORS,
            },
            "search": {"locators": LOCATORS},
        },
        "providers": providers,
    }
    try:
        Config.model_validate(doc)
    except ValidationError as exc:
        return [str(problem) for problem in describe(exc, Config)]
    return []


HAPROXY = {"type": "haproxy", "socket": "unix:/run/haproxy.sock"}


@pytest.mark.parametrize(
    ("providers", "expected"),
    [
        ({}, "'lb' is not an haproxy provider; haproxy providers: (none)"),
        (
            {"lb": {"type": "rfc2136", "server": "127.0.0.1:53"}, "edge": HAPROXY},
            "'lb' is not an haproxy provider; haproxy providers: edge",
        ),
        (
            {"lb": {**HAPROXY, "services": ["search"]}},
            "'lb' does not serve billing; add billing to its services",
        ),
    ],
)
def test_the_provider_must_be_an_haproxy_serving_the_service(
    providers: dict[str, Any], expected: str
) -> None:
    assert config_problems(providers) == [f"services.billing.burst.provider: {expected}"]
    assert config_problems({"lb": HAPROXY}) == []
