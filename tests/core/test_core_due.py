"""When a service's decision can next change with nothing new observed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gtm.core.due import is_due, next_due
from gtm.core.health import Verdict
from gtm.core.model import Intent, IntentKind, Mapping
from gtm.core.policy import Failback, LocatorSpec, PolicyKind, ServicePolicy, decide
from gtm.core.sites import SiteHealth, site_health

A, B = "aws-use1", "gcp-euw1"
NOW = 1000.0
POLICY = ServicePolicy(
    "billing",
    (A, B),
    (
        LocatorSpec(f"billing@{A}/lb-1", A, "192.0.2.1", 443),
        LocatorSpec(f"billing@{B}/lb-1", B, "198.51.100.1", 443),
    ),
    policy=PolicyKind.PRIORITY,
    failback=Failback.AUTO,
    dwell=60.0,
)


def sites(a: tuple[bool, float | None], b: tuple[bool, float | None]) -> dict[str, SiteHealth]:
    """Each site healthy or not, since when."""
    result = {}
    for site, (healthy, since) in ((A, a), (B, b)):
        health = site_health(site, [Verdict.UP if healthy else Verdict.DOWN], 1, None, 0.0)
        result[site] = replace(health, since=since)
    return result


def pin(site: str, expires_at: float | None, service: str | None = "billing") -> Intent:
    return Intent(
        f"pin-{site}", IntentKind.PIN, service, site, "alice", "patching", 0.0, expires_at
    )


STEADY = sites((True, 0.0), (True, 0.0))


@pytest.mark.parametrize(
    ("case", "healths", "intents", "due"),
    [
        ("nothing ahead", STEADY, (), None),
        ("an intent expiring", STEADY, (pin(A, NOW + 30),), NOW + 30),
        ("an intent without expiry", STEADY, (pin(A, None),), None),
        ("an intent already expired", STEADY, (pin(A, NOW - 1),), None),
        ("an intent expiring now is not ahead", STEADY, (pin(A, NOW),), None),
        ("an intent about another service", STEADY, (pin(A, NOW + 5, "payroll"),), None),
        ("a global intent", STEADY, (pin(A, NOW + 5, None),), NOW + 5),
        ("the earliest of several intents", STEADY, (pin(A, NOW + 50), pin(B, NOW + 20)), NOW + 20),
        ("a dwell ending", sites((True, NOW - 10), (True, 0.0)), (), NOW + 50),
        ("a dwell that ended", sites((True, NOW - 60), (True, 0.0)), (), None),
        ("a down site has no dwell", sites((False, NOW - 10), (True, 0.0)), (), None),
        ("a site whose health never changed", sites((True, None), (True, None)), (), None),
        (
            "a dwell before an intent",
            sites((True, NOW - 50), (True, 0.0)),
            (pin(A, NOW + 30),),
            NOW + 10,
        ),
    ],
)
def test_next_due(
    case: str, healths: dict[str, SiteHealth], intents: tuple[Intent, ...], due: float | None
) -> None:
    assert next_due(POLICY, healths, intents, NOW) == due, case


@pytest.mark.parametrize(
    ("due", "now", "expected"),
    [(None, NOW, False), (NOW + 1, NOW, False), (NOW, NOW, True), (NOW - 1, NOW, True)],
)
def test_is_due(due: float | None, now: float, expected: bool) -> None:
    assert is_due(due, now) is expected


def test_a_fail_back_is_decided_at_its_due_time_and_not_before() -> None:
    # B took the traffic while A was down; A came back 10 s ago, with a 60 s dwell.
    healths = sites((True, NOW - 10), (True, 0.0))
    current = Mapping("billing", 5, 3, 5, B, ())
    due = next_due(POLICY, healths, (), NOW)
    assert due == NOW + 50
    verdicts = {spec.id: Verdict.UP for spec in POLICY.locators}
    before = decide(POLICY, current, verdicts, healths, (), due - 0.001, "gtm-1")
    at = decide(POLICY, current, verdicts, healths, (), due, "gtm-1")
    assert before.mapping.active_site == B
    assert at.mapping.active_site == A


def test_an_expiring_pin_is_decided_at_its_due_time_and_not_before() -> None:
    intents = (pin(B, NOW + 30),)
    verdicts = {spec.id: Verdict.UP for spec in POLICY.locators}
    current = decide(POLICY, None, verdicts, STEADY, intents, NOW, "gtm-1").mapping
    assert current.active_site == B
    due = next_due(POLICY, STEADY, intents, NOW)
    assert due == NOW + 30
    before = decide(POLICY, current, verdicts, STEADY, intents, due - 0.001, "gtm-1")
    at = decide(POLICY, current, verdicts, STEADY, intents, due, "gtm-1")
    assert before.mapping.active_site == B
    assert at.mapping.active_site == A
