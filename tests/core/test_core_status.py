"""What gtm status says about a service, judged from values: split, intents, move time."""

from __future__ import annotations

import pytest

from gtm.core.health import Verdict
from gtm.core.model import NEVER, Action, Event, Intent, IntentKind, Locator, Mapping, State
from gtm.core.policy import LocatorSpec, ServicePolicy, decide
from gtm.core.runbook import Run, RunKind
from gtm.core.sites import site_health
from gtm.core.status import (
    Share,
    VantageStatus,
    by_priority,
    in_force,
    last_move,
    owners,
    service_status,
    traffic,
    vantage_doc,
    vantage_status,
)

A, B, C = "aws-use1", "gcp-euw1", "dc-paris"
NOW = 1000.0


def loc(
    site: str, priority: int, weight: int = 100, state: State = State.UP, n: int = 1
) -> Locator:
    return Locator(f"billing@{site}/lb-{n}", site, "192.0.2.1", 443, priority, weight, state)


def mapping(*locators: Locator, active: str | None = A, action: Action = Action.NONE) -> Mapping:
    return Mapping("billing", 3, 1, 30, active, locators, action, updated_at=500.0)


@pytest.mark.parametrize(
    ("locators", "action", "expected"),
    [
        pytest.param((loc(A, 1), loc(B, 2), loc(C, 3)), Action.NONE, [(A, 100.0)], id="active"),
        pytest.param(
            (loc(B, 1, 30), loc(A, 1, 70), loc(C, 2)),
            Action.NONE,
            [(A, 70.0), (B, 30.0)],
            id="shift-active-first",
        ),
        pytest.param(
            (loc(A, 1, 0), loc(B, 1, 0), loc(C, 1, 0)),
            Action.NONE,
            [(A, 33.3), (C, 33.3), (B, 33.3)],
            id="all-weights-zero-equal",
        ),
        pytest.param(
            (loc(A, 1, 50), loc(A, 1, 50, n=2), loc(B, 1, 100)),
            Action.NONE,
            [(A, 50.0), (B, 50.0)],
            id="a-site-sums-its-locators",
        ),
        pytest.param(
            (loc(A, 1, 10), loc(C, 1, 20), loc(B, 1, 20)),
            Action.NONE,
            [(A, 20.0), (C, 40.0), (B, 40.0)],
            id="equal-shares-by-name",
        ),
        pytest.param(
            (loc(A, 1, state=State.DOWN), loc(B, 2), loc(C, NEVER)),
            Action.NONE,
            [(B, 100.0)],
            id="clients-skip-a-down-active",
        ),
        pytest.param(
            (loc(A, 1, state=State.DOWN), loc(B, NEVER, state=State.DOWN)),
            Action.STAY,
            [(A, 100.0)],
            id="all-down-stay",
        ),
        pytest.param(
            (loc(A, 1, state=State.DOWN), loc(B, NEVER, state=State.DOWN)),
            Action.NXDOMAIN,
            [],
            id="all-down-closed-nowhere",
        ),
    ],
)
def test_traffic_is_the_selection_rule_split_by_weight(
    locators: tuple[Locator, ...], action: Action, expected: list[tuple[str, float]]
) -> None:
    assert traffic(mapping(*locators, action=action)) == tuple(Share(s, p) for s, p in expected)


def test_a_shift_decided_by_the_policy_shows_as_its_split() -> None:
    specs = tuple(LocatorSpec(f"billing@{s}/lb-1", s, "192.0.2.1", 443) for s in (A, B, C))
    policy = ServicePolicy("billing", (A, B, C), specs)
    verdicts = {spec.id: Verdict.UP for spec in specs}
    sites = {s: site_health(s, [Verdict.UP], 1, None, NOW) for s in (A, B, C)}
    shift = Intent("s1", IntentKind.SHIFT, "billing", B, share=30)
    first = decide(policy, None, verdicts, sites, [], NOW).mapping
    shifted = decide(policy, first, verdicts, sites, [shift], NOW).mapping

    assert traffic(shifted) == (Share(A, 70.0), Share(B, 30.0))


def test_in_force_keeps_the_live_intents_of_the_service_oldest_first() -> None:
    mine = Intent("p", IntentKind.PIN, "billing", B, created_at=20.0)
    every = Intent("f", IntentKind.FREEZE, None, created_at=10.0)
    drain = Intent("d", IntentKind.DRAIN, None, C, created_at=30.0)
    other = Intent("o", IntentKind.PIN, "search", B, created_at=5.0)
    gone = Intent("g", IntentKind.TTL, "billing", ttl=5, expires_at=NOW)

    assert in_force([mine, every, drain, other, gone], "billing", NOW) == (every, mine, drain)


def test_owners_name_the_run_of_each_run_made_intent() -> None:
    run = Run("r1", RunKind.FAILOVER, "billing", A, B, "patch", "alice", 1.0, intents=("i1", "i2"))
    idle = Run("r2", RunKind.FAILOVER, "search", A, B, "patch", "bob", 2.0)

    assert owners([run, idle]) == {"i1": "r1", "i2": "r1"}


def test_the_last_move_is_the_journals_last_move_to_the_active_site() -> None:
    current = mapping(loc(B, 1), loc(A, 2), active=B)
    events = [
        Event("move", "billing", 100.0, "", from_site=None, to_site=A),
        Event("move", "billing", 200.0, "", from_site=A, to_site=B),
        Event("move", "search", 300.0, "", from_site=A, to_site=B),
        Event("provider", "billing", 400.0, "", from_site=B, to_site=B),
    ]

    assert last_move(current, events) == 200.0
    assert last_move(current, events[:1]) is None  # it never moved to gcp-euw1, as far as known


def test_locators_are_listed_by_priority_then_site() -> None:
    locators = (loc(C, NEVER), loc(B, 2), loc(A, 1, n=2), loc(A, 1), loc(C, 2))

    assert [(x.site, x.priority, x.id[-1]) for x in by_priority(locators)] == [
        (A, 1, "1"),
        (A, 1, "2"),
        (C, 2, "1"),  # dc-paris before gcp-euw1 at the same priority
        (B, 2, "1"),
        (C, NEVER, "1"),
    ]


def test_service_status_gathers_every_fact() -> None:
    current = mapping(loc(C, 3), loc(B, 1, 30), loc(A, 1, 70))
    shift = Intent("s", IntentKind.SHIFT, "billing", B, share=30)
    status = service_status(current, [shift], [], NOW)

    assert status.mapping is current
    assert status.traffic == (Share(A, 70.0), Share(B, 30.0))
    assert status.intents == (shift,)
    assert status.last_move is None
    assert [x.site for x in status.locators] == [A, B, C]


@pytest.mark.parametrize(
    ("healthz", "expected"),
    [
        pytest.param(
            {"ok": True, "instance": "gtm-1", "services": 2},
            VantageStatus("gtm-1", False),
            id="no-vantage",
        ),
        pytest.param(
            {
                "instance": "gtm-1",
                "vantage": {"degraded": False, "reasons": [], "since": None, "held": []},
            },
            VantageStatus("gtm-1", False),
            id="healthy",
        ),
        pytest.param(
            {
                "instance": "gtm-1",
                "vantage": {
                    "degraded": True,
                    "reasons": ["event loop 0.420s late (bound 0.100s)"],
                    "since": 1_800_000_000,
                    "held": ["billing"],
                },
            },
            VantageStatus(
                "gtm-1",
                True,
                ("event loop 0.420s late (bound 0.100s)",),
                1_800_000_000.0,
                ("billing",),
            ),
            id="degraded",
        ),
        pytest.param({"vantage": "garbled"}, VantageStatus("", False), id="garbled"),
        pytest.param(
            {
                "instance": "gtm-1",
                "damping": {
                    "billing@b/x": {"penalty": 3.42, "suppressed": True},
                    "billing@a/y": {"penalty": 1, "suppressed": True},
                    "billing@c/z": {"penalty": 2.0, "suppressed": False},
                    "billing@d/w": {"penalty": "high", "suppressed": True},
                    "billing@e/v": "garbled",
                },
            },
            VantageStatus("gtm-1", False, damped=(("billing@a/y", 1.0), ("billing@b/x", 3.42))),
            id="damped",
        ),
        pytest.param(
            {"instance": "gtm-1", "damping": ["garbled"]},
            VantageStatus("gtm-1", False),
            id="damping-garbled",
        ),
    ],
)
def test_vantage_status_reads_healthz(healthz: dict[str, object], expected: VantageStatus) -> None:
    assert vantage_status(healthz) == expected


def test_vantage_doc_is_what_status_json_shows() -> None:
    status = VantageStatus("gtm-1", True, ("out of file descriptors",), 5.0, ("billing",))
    assert vantage_doc(status) == {
        "instance": "gtm-1",
        "degraded": True,
        "reasons": ["out of file descriptors"],
        "since": 5.0,
        "held": ["billing"],
    }
