"""Planned moves and intents judged from values: target, screening, outcome, admission."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from gtm.core.health import Verdict
from gtm.core.model import Intent, IntentKind, Locator, Mapping, State
from gtm.core.moves import (
    Refusal,
    admit,
    describe,
    keeps_pin,
    outcome,
    published_health,
    screen,
    target,
)
from gtm.core.policy import Failback, LocatorSpec, PolicyKind, ServicePolicy, decide
from gtm.core.runbook import RunKind
from gtm.core.sites import SiteHealth, site_health

A, B, C = "aws-use1", "gcp-euw1", "dc-paris"
SITES = (A, B, C)
NOW = 1000.0
VERDICTS = {"U": Verdict.UP, "D": Verdict.DOWN, "?": Verdict.UNKNOWN}


def lid(site: str) -> str:
    return f"billing@{site}/lb-1"


def policy(**changes: Any) -> ServicePolicy:
    specs = tuple(LocatorSpec(lid(site), site, "192.0.2.1", 443) for site in SITES)
    return replace(ServicePolicy("billing", SITES, specs), **changes)


def world(states: str) -> tuple[dict[str, Verdict], dict[str, SiteHealth]]:
    verdicts = {lid(site): VERDICTS[s] for site, s in zip(SITES, states, strict=True)}
    sites = {site: site_health(site, [verdicts[lid(site)]], 1, None, 0.0) for site in SITES}
    return verdicts, sites


def on(site: str, states: str = "UUU", pol: ServicePolicy | None = None) -> Mapping:
    """The mapping the controller publishes with ``site`` active in ``states``."""
    verdicts, sites = world(states)
    pin = Intent("start", IntentKind.PIN, "billing", site, force=True)
    first = decide(pol or policy(), None, verdicts, sites, [pin], 0.0).mapping
    return decide(pol or policy(), first, verdicts, sites, [], 0.0).mapping


def intent(kind: IntentKind, site: str | None = None, **changes: Any) -> Intent:
    who = {IntentKind.PIN: "alice", IntentKind.DRAIN: "bob", IntentKind.FREEZE: "carol"}
    base = Intent(f"{kind.value}-{site or 'all'}", kind, "billing", site, who[kind], "patching")
    return replace(base, **changes)


def priorities(mapping: Mapping) -> dict[str, int]:
    return {loc.site: loc.priority for loc in mapping.locators}


PIN_C = intent(IntentKind.PIN, C)
PIN_A = intent(IntentKind.PIN, A)
DRAIN_B = intent(IntentKind.DRAIN, B, service=None)
DRAIN_C = intent(IntentKind.DRAIN, C)
FREEZE = intent(IntentKind.FREEZE)
FREEZE_ALL = intent(IntentKind.FREEZE, service=None)
SHIFT_B = replace(intent(IntentKind.PIN, B), kind=IntentKind.SHIFT, share=50)


# -- describe ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        (PIN_C, "pin of billing to dc-paris (intent pin-dc-paris, by alice: patching)"),
        (DRAIN_B, "drain of gcp-euw1 (intent drain-gcp-euw1, by bob: patching)"),
        (DRAIN_C, "drain of dc-paris for billing (intent drain-dc-paris, by bob: patching)"),
        (
            replace(FREEZE_ALL, who="", why=""),
            "freeze of every service (intent freeze-all, by unknown)",
        ),
        (SHIFT_B, "shift of 50% of billing to gcp-euw1 (intent pin-gcp-euw1, by alice: patching)"),
        (
            replace(FREEZE, kind=IntentKind.TTL, ttl=5),
            "ttl cap of billing at 5s (intent freeze-all, by carol: patching)",
        ),
    ],
)
def test_describe(subject: Intent, expected: str) -> None:
    assert describe(subject) == expected


def test_every_intent_kind_is_described_as_itself() -> None:
    texts = {kind: describe(replace(PIN_C, kind=kind, share=30, ttl=5)) for kind in IntentKind}
    assert all(text.startswith(kind.value) for kind, text in texts.items()), texts


# -- target -----------------------------------------------------------------------------

NO_SITE = "billing has no healthy site that is not drained to move to besides"

# fmt: off
TARGETS = [
    # id, kind, active, states, intents, to_site, policy, expected site or refusal text
    ("next-after-active", "failover", A, "UUU", (), None, None, B),
    ("wraps", "failover", C, "UUU", (), None, None, A),
    ("skips-down", "failover", A, "UDU", (), None, None, C),
    ("skips-drained", "failover", A, "UUU", (DRAIN_B,), None, None, C),
    ("ignores-pins-and-freezes", "failover", A, "UUU", (FREEZE, PIN_A), None, None, B),
    ("priority-first-healthy", "failover", B, "UUU", (), None,
     policy(policy=PolicyKind.PRIORITY), A),
    ("nowhere", "failover", A, "UDD", (), None, None, f"{NO_SITE} aws-use1"),
    ("nowhere-drained", "failover", A, "UUD", (DRAIN_B,), None, None, f"{NO_SITE} aws-use1"),
    ("to-site", "failover", A, "UUU", (), C, None, C),
    ("to-site-unknown", "failover", A, "UUU", (), "mars", None,
     "mars is not a site of billing; its sites: aws-use1, gcp-euw1, dc-paris"),
    ("failback", "failback", C, "UUU", (), None, None, A),
    ("drill", "drill", B, "UUU", (), None, None, C),
]
# fmt: on


@pytest.mark.parametrize(
    ("kind", "active", "states", "intents", "to_site", "pol", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in TARGETS],
)
def test_target(
    kind: str,
    active: str,
    states: str,
    intents: tuple[Intent, ...],
    to_site: str | None,
    pol: ServicePolicy | None,
    expected: str,
) -> None:
    verdicts, sites = world(states)
    current = on(active, states, pol)
    chosen = target(RunKind(kind), pol or policy(), current, verdicts, sites, intents, NOW, to_site)
    if isinstance(chosen, Refusal):
        assert chosen.message == expected
    else:
        assert chosen == expected


def test_target_from_a_site_no_longer_configured() -> None:
    verdicts, sites = world("DUU")
    current = replace(on(A), active_site="old")
    assert target(RunKind.FAILOVER, policy(), current, verdicts, sites, (), NOW) == B


# -- screen -----------------------------------------------------------------------------

LEAD = "run of billing to gcp-euw1 refused"
REPLACE = "withdraw it, or replace it with this run's pin (replace_intents, --replace-intents)"
PIN_C_TEXT = "pin of billing to dc-paris (intent pin-dc-paris, by alice: patching)"
FREEZE_TEXT = "freeze of billing (intent freeze-all, by carol: patching)"

# fmt: off
SCREENS = [
    # id, intents, replace_intents, refusal text (None: allowed), conflicting id, replaced ids
    ("nothing", (), False, None, None, ()),
    ("other-service", (replace(PIN_C, service="search"),), False, None, None, ()),
    ("expired", (replace(PIN_C, expires_at=NOW),), False, None, None, ()),
    ("pin-to-target", (replace(PIN_C, site=B),), False, None, None, ()),
    ("drain-elsewhere", (DRAIN_C,), False, None, None, ()),
    ("run-owned-shift", (SHIFT_B,), False, None, None, ()),
    ("own-intent", (PIN_C,), False, None, None, ()),
    ("pin", (PIN_C,), False, f"{LEAD}: {PIN_C_TEXT} would undo or block the move; {REPLACE}",
     "pin-dc-paris", ()),
    ("freeze", (FREEZE,), False, f"{LEAD}: {FREEZE_TEXT} would undo or block the move; {REPLACE}",
     "freeze-all", ()),
    ("both", (PIN_C, FREEZE), False,
     f"{LEAD}: {PIN_C_TEXT}; {FREEZE_TEXT} would undo or block the move; {REPLACE}",
     "pin-dc-paris", ()),
    ("pin-replaced", (PIN_C, FREEZE), True, None, None, ("pin-dc-paris", "freeze-all")),
    ("drained-target", (DRAIN_B,), True,
     f"{LEAD}: gcp-euw1 is drained, and a run never targets a drained site: "
     "drain of gcp-euw1 (intent drain-gcp-euw1, by bob: patching)", "drain-gcp-euw1", ()),
    ("freeze-of-every-service", (FREEZE_ALL,), True,
     f"{LEAD}: freeze of every service (intent freeze-all, by carol: patching) stands, and a "
     "run of one service does not withdraw an intent about every service; withdraw it first",
     "freeze-all", ()),
]
# fmt: on


@pytest.mark.parametrize(
    ("intents", "replace_intents", "refusal", "conflict", "replaced"),
    [pytest.param(*case[1:], id=case[0]) for case in SCREENS],
)
def test_screen(
    request: pytest.FixtureRequest,
    intents: tuple[Intent, ...],
    replace_intents: bool,
    refusal: str | None,
    conflict: str | None,
    replaced: tuple[str, ...],
) -> None:
    own = ("pin-dc-paris",) if request.node.callspec.id == "own-intent" else ()
    screening = screen("billing", B, intents, NOW, replace_intents, own)
    if refusal is None:
        assert screening.refusal is None
    else:
        assert screening.refusal is not None
        assert screening.refusal.message == refusal
        assert screening.refusal.intent is not None and screening.refusal.intent.id == conflict
    assert tuple(i.id for i in screening.replaced) == replaced


# -- outcome ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pol", "active", "to_site", "expected"),
    [
        pytest.param(None, A, B, {B: 1, C: 2, A: 3}, id="whack-a-mole-ranks-after-target"),
        pytest.param(None, A, C, {C: 1, A: 2, B: 3}, id="wraps"),
        pytest.param(policy(policy=PolicyKind.PRIORITY), A, C, {C: 1, A: 2, B: 3}, id="priority"),
    ],
)
def test_outcome_is_what_the_controller_publishes(
    pol: ServicePolicy | None, active: str, to_site: str, expected: dict[str, int]
) -> None:
    verdicts, sites = world("UUU")
    current = on(active, pol=pol)
    after = outcome(pol or policy(), current, verdicts, sites, (), to_site, NOW)
    assert (after.active_site, after.epoch, priorities(after)) == (
        to_site,
        current.epoch + 1,
        expected,
    )


def test_outcome_keeps_the_run_pin_under_priority() -> None:
    verdicts, sites = world("UUU")
    pol = policy(policy=PolicyKind.PRIORITY)
    after = outcome(pol, on(A, pol=pol), verdicts, sites, (), C, NOW)
    assert "pinned to dc-paris" in after.reason
    assert keeps_pin(pol) and not keeps_pin(policy())
    assert keeps_pin(policy(policy=PolicyKind.WEIGHTED))
    assert keeps_pin(policy(failback=Failback.AUTO))


def test_outcome_with_a_standing_pin_goes_back_unless_replaced() -> None:
    verdicts, sites = world("UUU")
    current = on(C)
    pinned = (replace(PIN_C, created_at=NOW + 5),)
    undone = outcome(policy(), current, verdicts, sites, pinned, A, NOW)
    assert undone.active_site == C
    replaced = outcome(policy(), current, verdicts, sites, pinned, A, NOW, replaced={PIN_C.id})
    assert replaced.active_site == A


def test_outcome_to_a_down_site_moves_only_while_forced() -> None:
    verdicts, sites = world("UUD")
    pol = policy(policy=PolicyKind.PRIORITY)
    current = on(A, "UUD", pol)
    assert outcome(pol, current, verdicts, sites, (), C, NOW).active_site == A
    forced = outcome(pol, current, verdicts, sites, (), C, NOW, force=True)
    assert forced.active_site == C
    assert {loc.site for loc in forced.best()} == {C}
    # Without the run's pin, whack-a-mole leaves the down site again.
    released = outcome(policy(), on(A, "UUD"), verdicts, sites, (), C, NOW, force=True)
    assert released.active_site == A


# -- admit ------------------------------------------------------------------------------

DOWN_C = "dc-paris unhealthy: 0/1 locators up (min 1)"

# fmt: off
ADMISSIONS = [
    ("pin-healthy", PIN_C, "UUU", None),
    ("pin-down", PIN_C, "UUD",
     f"pin of billing to dc-paris refused: {DOWN_C}; pin with force to send traffic there anyway"),
    ("pin-down-forced", replace(PIN_C, force=True), "UUD", None),
    ("pin-unknown-site", replace(PIN_C, site="mars"), "UUU",
     "pin of billing to mars refused: mars is not a site of billing; "
     "its sites: aws-use1, gcp-euw1, dc-paris"),
    ("drain-down", DRAIN_C, "UUD", None),
    ("freeze", FREEZE, "DDD", None),
    ("pin-without-site", replace(PIN_C, site=None), "UUU", None),
    ("expired", replace(FREEZE, expires_at=NOW), "UUU",
     "freeze of billing (intent freeze-all, by carol: patching) refused: it has already expired"),
]
# fmt: on


@pytest.mark.parametrize(
    ("subject", "states", "refusal"),
    [pytest.param(*case[1:], id=case[0]) for case in ADMISSIONS],
)
def test_admit(subject: Intent, states: str, refusal: str | None) -> None:
    _, sites = world(states)
    answer = admit(subject, sites, NOW)
    assert (answer.message if answer else None) == refusal
    if answer is not None and subject.kind is IntentKind.PIN:
        assert answer.site == subject.site


def test_admit_without_health_refuses_unless_forced() -> None:
    answer = admit(PIN_C, {}, NOW)
    assert answer is not None and answer.message == (
        "pin of billing to dc-paris refused: the health of dc-paris is not known yet; "
        "pin with force to send traffic there anyway"
    )
    assert admit(replace(PIN_C, force=True), {}, NOW) is None


def test_published_health_reads_locator_states() -> None:
    mapping = Mapping(
        "billing",
        1,
        1,
        5,
        A,
        (
            Locator("a1", A, "192.0.2.1", 443, state=State.UP),
            Locator("a2", A, "192.0.2.2", 443, state=State.DOWN),
            Locator("b1", B, "192.0.2.3", 443, state=State.UNKNOWN),
            Locator("c1", C, "192.0.2.4", 443, state=State.DOWN),
        ),
    )
    health = published_health(mapping, NOW)
    assert {site: (h.healthy, h.up, h.total) for site, h in health.items()} == {
        A: (True, 1, 2),
        B: (False, 0, 1),
        C: (False, 0, 1),
    }
