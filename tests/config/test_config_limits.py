"""The api.limits, dns.limits and dns.rate_limit sections: checked values, derived defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from gtm.config import check_config
from gtm.config.limits import ApiLimits, DnsLimits, DnsRateLimit
from gtm.core.budget import split
from gtm.core.ratelimit import RateLimit

BASE = """
zone: gtm.example.test
sites: {a: {}}
services:
  billing:
    locators: [{site: a, address: 127.0.0.1, port: 8080}]
"""


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (
            "api: {limits: {max_connections: 10, max_connections_per_client: 20}}",
            "api.limits.max_connections_per_client",
        ),
        (
            "dns: {limits: {max_tcp_connections: 4, max_tcp_connections_per_client: 5}}",
            "dns.limits.max_tcp_connections_per_client",
        ),
        ("api: {limits: {header_timeout: 0s}}", "api.limits.header_timeout"),
        ("api: {limits: {max_connections: 0}}", "api.limits.max_connections"),
        ("dns: {rate_limit: {responses_per_second: -1}}", "dns.rate_limit.responses_per_second"),
        ("dns: {rate_limit: {ipv4_prefix: 33}}", "dns.rate_limit.ipv4_prefix"),
        ("dns: {rate_limit: {slip: 11}}", "dns.rate_limit.slip"),
    ],
)
def test_bad_limits_are_one_line_naming_the_field(
    tmp_path: Path, section: str, expected: str
) -> None:
    path = tmp_path / "gtm.yaml"
    path.write_text(BASE + section + "\n")
    problems = check_config(path)
    assert len(problems) == 1, problems
    assert expected in problems[0]


def test_unset_caps_come_from_the_budget_and_set_ones_win() -> None:
    budget = split(1024)
    assert ApiLimits().caps(budget) == (512, 128)
    assert ApiLimits(max_connections=100).caps(budget) == (100, 25)
    assert ApiLimits(max_connections=2).caps(budget) == (2, 1)
    assert ApiLimits(max_connections=100, max_connections_per_client=7).caps(budget) == (100, 7)
    assert DnsLimits().caps(budget) == (256, 16)
    assert DnsLimits(max_tcp_connections_per_client=3).caps(budget) == (256, 3)
    assert DnsLimits(max_tcp_connections=32).caps(budget) == (32, 2)


@pytest.mark.parametrize(
    ("settings", "budget"),
    [
        (DnsRateLimit(), None),
        (DnsRateLimit(responses_per_second=20), RateLimit(20.0, 20.0, 2)),
        (DnsRateLimit(responses_per_second=0.5), RateLimit(0.5, 1.0, 2)),
        (DnsRateLimit(responses_per_second=5, burst=50, slip=0), RateLimit(5.0, 50.0, 0)),
    ],
)
def test_rate_limit_budget(settings: DnsRateLimit, budget: RateLimit | None) -> None:
    assert settings.budget() == budget
