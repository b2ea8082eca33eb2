"""The burst policy: whack-a-mole, plus an overspill site at the share the burst cycle gives."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gtm.core.model import Intent, IntentKind, Mapping
from gtm.core.policy import Decision, PolicyKind, ServicePolicy, decide
from tests.core.test_core_policy import NOW, A, B, C, World, on, policy

BURST = policy(policy=PolicyKind.BURST)
FREEZE = Intent("freeze", IntentKind.FREEZE, "billing", who="carol")
PIN_C = Intent("pin", IntentKind.PIN, "billing", C, who="alice")
SHIFT_C = Intent("shift", IntentKind.SHIFT, "billing", C, who="runbook", share=10)


def burst(
    states: str,
    overspill: int,
    intents: tuple[Intent, ...] = (),
    current: Mapping | None = None,
    pol: ServicePolicy = BURST,
) -> Decision:
    world = World(states)
    return decide(
        pol,
        current if current is not None else on(A),
        world.verdicts(),
        world.sites(),
        intents,
        NOW,
        "gtm-1",
        overspill,
    )


def layout(decision: Decision) -> dict[str, tuple[int, int]]:
    return {loc.site: (loc.priority, loc.weight) for loc in decision.mapping.locators}


@pytest.mark.parametrize(
    ("states", "overspill", "intents", "expected", "said"),
    [
        ("UUU", 0, (), {A: (1, 100), B: (2, 100), C: (3, 100)}, "staying on it"),
        (
            "UUU",
            25,
            (),
            {A: (1, 75), B: (1, 25), C: (3, 100)},
            "bursting: 25% of traffic overspills to gcp-euw1",
        ),
        # The next healthy site after the active one takes the overspill.
        (
            "UDU",
            50,
            (),
            {A: (1, 50), B: (2, 100), C: (1, 50)},
            "bursting: 50% of traffic overspills to dc-paris",
        ),
        ("UDD", 50, (), {A: (1, 100), B: (2, 100), C: (3, 100)}, "has no healthy site to go to"),
        # An operator holding traffic sets the overspill aside.
        ("UUU", 50, (FREEZE,), {A: (1, 100), B: (2, 100), C: (3, 100)}, "set aside"),
        ("UUU", 50, (PIN_C,), {A: (2, 100), B: (3, 100), C: (1, 100)}, "set aside"),
        # A planned shift wins over the overspill.
        ("UUU", 50, (SHIFT_C,), {A: (1, 90), B: (2, 100), C: (1, 10)}, "10% of traffic shifted"),
    ],
)
def test_the_overspill_site_joins_priority_one_with_its_share(
    states: str,
    overspill: int,
    intents: tuple[Intent, ...],
    expected: dict[str, tuple[int, int]],
    said: str,
) -> None:
    decision = burst(states, overspill, intents)
    assert layout(decision) == expected
    assert said in decision.reason
    assert decision.mapping.active_site == (C if PIN_C in intents else A)


def test_an_overspill_is_no_move_and_keeps_the_epoch() -> None:
    decision = burst("UUU", 25)
    assert decision.changed and not decision.moved
    assert decision.mapping.epoch == on(A).epoch


def test_when_the_active_site_fails_burst_moves_like_whack_a_mole() -> None:
    decision = burst("DUU", 0)
    assert decision.moved and decision.mapping.active_site == B
    assert layout(decision) == {A: (3, 100), B: (1, 100), C: (2, 100)}


def test_a_recovered_site_is_not_taken_back_under_manual_failback() -> None:
    decision = burst("UUU", 0, current=on(B))
    assert decision.mapping.active_site == B
    assert "failback is manual" in decision.reason


def test_other_policies_ignore_an_overspill() -> None:
    decision = burst("UUU", 50, pol=policy())
    assert layout(decision) == {A: (1, 100), B: (2, 100), C: (3, 100)}


def test_the_overspill_needs_a_site_that_is_not_drained() -> None:
    drain_b = Intent("drain", IntentKind.DRAIN, None, B, who="bob")
    decision = burst("UUU", 50, (drain_b,))
    assert layout(decision)[C] == (1, 50)
    assert replace(decision.mapping, reason="").active_site == A
