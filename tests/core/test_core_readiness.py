"""Release readiness: each site's release, drift, and what off, warn and strict make of a move."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from gtm.core.health import Verdict
from gtm.core.model import Intent, IntentKind, Mapping
from gtm.core.moves import outcome, target
from gtm.core.policy import LocatorSpec, PolicyKind, ServicePolicy, decide
from gtm.core.readiness import (
    MoveCheck,
    Readiness,
    SeenRelease,
    ServiceReleases,
    check_move,
    choose,
    move_note,
    release_of,
    releases_from_dict,
    releases_to_dict,
    service_releases,
    site_releases,
)
from gtm.core.runbook import RunKind
from gtm.core.sites import SiteHealth, site_health

A, B, C = "aws-use1", "gcp-euw1", "dc-paris"
SITES = (A, B, C)
OFF, WARN, STRICT = Readiness.OFF, Readiness.WARN, Readiness.STRICT
NOW = 1000.0


def lid(site: str) -> str:
    return f"billing@{site}/lb-1"


def policy(readiness: Readiness = STRICT, **changes: Any) -> ServicePolicy:
    specs = tuple(LocatorSpec(lid(s), s, f"127.0.{i}.1", 80) for i, s in enumerate(SITES, 1))
    return replace(ServicePolicy("billing", SITES, specs, readiness=readiness), **changes)


def world(states: str, releases: str) -> tuple[dict[str, Verdict], dict[str, SiteHealth]]:
    """Verdicts and site health: "U"/"D" per site; releases as "1.2 1.1 -" ("-": not read)."""
    verdicts = {
        lid(s): Verdict.UP if st == "U" else Verdict.DOWN
        for s, st in zip(SITES, states, strict=True)
    }
    read = dict(zip(SITES, releases.split(), strict=True))
    sites = {
        s: replace(
            site_health(s, [verdicts[lid(s)]], 1, None, 0.0),
            release=None if read[s] == "-" else read[s],
        )
        for s in SITES
    }
    return verdicts, sites


def on(site: str) -> Mapping:
    return Mapping("billing", 5, 3, 5, site, ())


# -- a site's release: the latest read by any of its locators -----------------------------


def test_site_release_is_the_latest_read() -> None:
    seen = [
        (A, SeenRelease("1.1", 10.0)),
        (A, SeenRelease("1.2", 20.0)),
        (A, SeenRelease("1.0", 5.0)),
        (B, None),
        (C, SeenRelease("1.1", 1.0)),
    ]

    assert site_releases(seen) == {A: "1.2", C: "1.1"}


def test_release_of_a_site_unread_or_unnamed() -> None:
    _, sites = world("UUU", "1.2 - 1.1")

    assert release_of(sites, A) == "1.2"
    assert release_of(sites, B) is None
    assert release_of(sites, None) is None
    assert release_of(sites, "elsewhere") is None


# -- drift --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("releases", "drift", "line"),
    [
        ({A: "1.2", B: "1.2", C: "1.2"}, False, "release 1.2 everywhere"),
        ({A: "1.2", B: None, C: "1.2"}, False, "release 1.2 everywhere (gcp-euw1 not read)"),
        ({A: None, B: None, C: None}, False, "no release read"),
        (
            {A: "1.2", B: "1.1", C: None},
            True,
            "release drift (strict): aws-use1 1.2 (active), gcp-euw1 1.1, dc-paris ?",
        ),
    ],
    ids=["same", "one-unread", "none-read", "drift"],
)
def test_drift_between_sites(releases: dict[str, str | None], drift: bool, line: str) -> None:
    found = service_releases("billing", STRICT, A, SITES, {k: v for k, v in releases.items() if v})

    assert found.sites == releases
    assert found.drift is drift
    assert found.describe() == line


def test_releases_round_trip_through_their_document() -> None:
    found = ServiceReleases("billing", WARN, None, {A: "1.2", B: None})
    doc = releases_to_dict(found)

    assert doc["drift"] is False
    assert doc["sites"] == [{"site": A, "release": "1.2"}, {"site": B, "release": None}]
    assert releases_from_dict(doc) == found
    assert releases_from_dict({**doc, "active_site": A}).active_site == A


# -- planned moves and pins ---------------------------------------------------------------

REFUSED_B = (
    "readiness strict: gcp-euw1 runs release 1.1, the active site aws-use1 runs release 1.2; "
    "update gcp-euw1 first, or force the move (--force)"
)
UNREAD_B = (
    "readiness strict: gcp-euw1 has no release read, the active site aws-use1 runs release "
    "1.2; update gcp-euw1 first, or force the move (--force)"
)
WARNED_B = "gcp-euw1 runs release 1.1, the active site aws-use1 runs release 1.2"

# fmt: off
MOVES = [
    # id, readiness, releases, active, target, force, expected
    ("off", OFF, "1.2 1.1 1.2", A, B, False, MoveCheck()),
    ("same-release", STRICT, "1.2 1.2 1.1", A, B, False, MoveCheck()),
    ("active-unread", STRICT, "- 1.1 1.2", A, B, False, MoveCheck()),
    ("no-active", STRICT, "1.2 1.1 1.2", None, B, False, MoveCheck()),
    ("strict-refuses", STRICT, "1.2 1.1 1.2", A, B, False, MoveCheck(refusal=REFUSED_B)),
    ("strict-refuses-unread", STRICT, "1.2 - 1.2", A, B, False, MoveCheck(refusal=UNREAD_B)),
    ("strict-forced", STRICT, "1.2 1.1 1.2", A, B, True,
     MoveCheck(warning=f"readiness strict (forced): {WARNED_B}")),
    ("warn", WARN, "1.2 1.1 1.2", A, B, False, MoveCheck(warning=f"readiness warn: {WARNED_B}")),
    ("warn-forced", WARN, "1.2 1.1 1.2", A, B, True,
     MoveCheck(warning=f"readiness warn: {WARNED_B}")),
    ("to-itself", STRICT, "1.2 1.1 1.2", A, A, False, MoveCheck()),
]
# fmt: on


@pytest.mark.parametrize(
    ("readiness", "releases", "active", "to", "force", "expected"),
    [case[1:] for case in MOVES],
    ids=[case[0] for case in MOVES],
)
def test_planned_move(
    readiness: Readiness,
    releases: str,
    active: str | None,
    to: str,
    force: bool,
    expected: MoveCheck,
) -> None:
    _, sites = world("UUU", releases)

    assert check_move(readiness, active, to, sites, force=force) == expected


# -- automatic moves: which site, and the note --------------------------------------------

# fmt: off
CHOICES = [
    # id, readiness, states, releases, candidates, chosen, note
    ("off-takes-next", OFF, "DUU", "1.2 1.1 1.2", (B, C), B, ""),
    ("warn-takes-next", WARN, "DUU", "1.2 1.1 1.2", (B, C), B, ""),
    ("strict-skips-other-release", STRICT, "DUU", "1.2 1.1 1.2", (B, C), C,
     "readiness strict: dc-paris runs aws-use1's release 1.2, gcp-euw1 runs 1.1"),
    ("strict-skips-unread", STRICT, "DUU", "1.2 - 1.2", (B, C), C,
     "readiness strict: dc-paris runs aws-use1's release 1.2, gcp-euw1 runs an unread release"),
    ("strict-next-is-same", STRICT, "DUU", "1.2 1.2 1.1", (B, C), B, ""),
    ("strict-none-same", STRICT, "DUU", "1.2 1.1 1.0", (B, C), B, ""),
    ("strict-active-unread", STRICT, "DUU", "- 1.1 1.2", (B, C), B, ""),
    ("strict-same-is-down", STRICT, "DUD", "1.2 1.1 1.2", (B, C), B, ""),
    ("nothing-eligible", STRICT, "DDD", "1.2 1.1 1.2", (B, C), None, ""),
]
# fmt: on


@pytest.mark.parametrize(
    ("readiness", "states", "releases", "candidates", "chosen", "note"),
    [case[1:] for case in CHOICES],
    ids=[case[0] for case in CHOICES],
)
def test_automatic_choice(
    readiness: Readiness,
    states: str,
    releases: str,
    candidates: tuple[str, ...],
    chosen: str | None,
    note: str,
) -> None:
    _, sites = world(states, releases)

    found = choose(readiness, A, candidates, lambda site: sites[site].healthy, sites)

    assert found == (chosen, note)


@pytest.mark.parametrize(
    ("readiness", "previous", "active", "releases", "note"),
    [
        (OFF, A, B, "1.2 1.1 1.2", ""),
        (WARN, None, B, "1.2 1.1 1.2", ""),
        (WARN, A, A, "1.2 1.1 1.2", ""),
        (WARN, A, C, "1.2 1.1 1.2", ""),
        (
            WARN,
            A,
            B,
            "1.2 1.1 1.2",
            f"readiness warning: {WARNED_B.replace('the active site ', '')}",
        ),
        (
            STRICT,
            A,
            B,
            "1.2 - 1.2",
            "readiness warning: gcp-euw1 has no release read, aws-use1 runs release 1.2",
        ),
    ],
    ids=["off", "first", "stays", "same", "other", "unread"],
)
def test_move_note(
    readiness: Readiness, previous: str | None, active: str, releases: str, note: str
) -> None:
    _, sites = world("UUU", releases)

    assert move_note(readiness, previous, active, sites) == note


# -- through the policy: decide, the run's target and outcome -----------------------------

DOWN_A = "aws-use1 is down (0/1 locators up, min 1)"

# fmt: off
DECISIONS = [
    # id, readiness, policy kind, states, releases, active after, reason
    ("off", OFF, PolicyKind.WHACK_A_MOLE, "DUU", "1.2 1.1 1.2", B,
     f"{DOWN_A}; moved to gcp-euw1, the next healthy site after it"),
    ("warn", WARN, PolicyKind.WHACK_A_MOLE, "DUU", "1.2 1.1 1.2", B,
     f"{DOWN_A}; moved to gcp-euw1, the next healthy site after it; readiness warning: "
     "gcp-euw1 runs release 1.1, aws-use1 runs release 1.2"),
    ("strict-avoids-old", STRICT, PolicyKind.WHACK_A_MOLE, "DUU", "1.2 1.1 1.2", C,
     f"{DOWN_A}; moved to dc-paris, the next healthy site after it; readiness strict: "
     "dc-paris runs aws-use1's release 1.2, gcp-euw1 runs 1.1"),
    ("strict-only-old", STRICT, PolicyKind.WHACK_A_MOLE, "DUD", "1.2 1.1 1.2", B,
     f"{DOWN_A}; moved to gcp-euw1, the next healthy site after it; readiness warning: "
     "gcp-euw1 runs release 1.1, aws-use1 runs release 1.2"),
    ("strict-priority", STRICT, PolicyKind.PRIORITY, "DUU", "1.2 1.1 1.2", C,
     f"{DOWN_A}; moved to dc-paris, the first healthy site in preference order; readiness "
     "strict: dc-paris runs aws-use1's release 1.2, gcp-euw1 runs 1.1"),
    ("strict-stays", STRICT, PolicyKind.WHACK_A_MOLE, "UUU", "1.2 1.1 1.2", A,
     "aws-use1 is healthy (1/1 locators up, min 1); staying on it"),
]
# fmt: on


@pytest.mark.parametrize(
    ("readiness", "kind", "states", "releases", "active", "reason"),
    [case[1:] for case in DECISIONS],
    ids=[case[0] for case in DECISIONS],
)
def test_automatic_move(
    readiness: Readiness, kind: PolicyKind, states: str, releases: str, active: str, reason: str
) -> None:
    verdicts, sites = world(states, releases)

    decision = decide(policy(readiness, policy=kind), on(A), verdicts, sites, [], NOW)

    assert decision.mapping.active_site == active
    assert decision.reason == reason


@pytest.mark.parametrize(
    ("readiness", "releases", "ranks"),
    [
        (OFF, "1.2 1.1 1.2", {A: 1, B: 2, C: 3}),
        (WARN, "1.2 1.1 1.2", {A: 1, B: 2, C: 3}),
        (STRICT, "1.2 1.1 1.2", {A: 1, C: 2, B: 3}),
        (STRICT, "1.2 - 1.2", {A: 1, C: 2, B: 3}),
        (STRICT, "- 1.1 1.2", {A: 1, B: 2, C: 3}),
        (STRICT, "1.2 1.2 1.1", {A: 1, B: 2, C: 3}),
    ],
    ids=["off", "warn", "strict", "strict-unread", "strict-active-unread", "strict-in-order"],
)
def test_standby_sites_rank_as_an_automatic_move_would_take_them(
    readiness: Readiness, releases: str, ranks: dict[str, int]
) -> None:
    verdicts, sites = world("UUU", releases)

    mapping = decide(policy(readiness), on(A), verdicts, sites, [], NOW).mapping

    assert {loc.site: loc.priority for loc in mapping.locators} == ranks


def test_a_forced_pin_to_another_release_says_so() -> None:
    verdicts, sites = world("UUU", "1.2 1.1 1.2")
    pin = Intent("p1", IntentKind.PIN, "billing", B, "alice", "test", force=True)

    decision = decide(policy(STRICT), on(A), verdicts, sites, [pin], NOW)

    assert decision.mapping.active_site == B
    assert decision.reason.endswith(
        "; readiness warning: gcp-euw1 runs release 1.1, aws-use1 runs release 1.2"
    )


def test_a_planned_run_without_a_site_goes_to_the_same_release() -> None:
    verdicts, sites = world("UUU", "1.2 1.1 1.2")

    chosen = target(RunKind.FAILOVER, policy(STRICT), on(A), verdicts, sites, [], NOW)
    plain = target(RunKind.FAILOVER, policy(OFF), on(A), verdicts, sites, [], NOW)

    assert (chosen, plain) == (C, B)


def test_the_preview_of_a_forced_run_carries_the_warning() -> None:
    verdicts, sites = world("UUU", "1.2 1.1 1.2")

    after = outcome(policy(STRICT), on(A), verdicts, sites, [], B, NOW, force=True)

    assert after.active_site == B
    assert "readiness warning: gcp-euw1 runs release 1.1" in after.reason
