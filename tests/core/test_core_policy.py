"""The failover policy: which site is active, with what priorities, and why."""

from __future__ import annotations

import random
from collections.abc import Mapping as Lookup
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from gtm.core.health import Verdict
from gtm.core.model import NEVER, Action, Intent, IntentKind, Mapping, State
from gtm.core.policy import (
    AllDown,
    Decision,
    Failback,
    LocatorSpec,
    PolicyKind,
    ServicePolicy,
    decide,
)
from gtm.core.sites import SiteHealth, site_health
from gtm.errors import ConfigError

A, B, C = "aws-use1", "gcp-euw1", "dc-paris"
SITES = (A, B, C)
ADDRESSES = {A: "192.0.2.1", B: "198.51.100.1", C: "203.0.113.1"}
VERDICTS = {"U": Verdict.UP, "D": Verdict.DOWN, "?": Verdict.UNKNOWN}
NOW = 1000.0


def lid(site: str) -> str:
    return f"billing@{site}/lb-1"


def specs(port: int = 443, weight: int = 100) -> tuple[LocatorSpec, ...]:
    return tuple(LocatorSpec(lid(site), site, ADDRESSES[site], port, weight) for site in SITES)


def policy(**changes: Any) -> ServicePolicy:
    return replace(ServicePolicy("billing", SITES, specs()), **changes)


@dataclass(frozen=True)
class World:
    """One locator per site: "U" up, "D" down, "?" unknown; when each site's health changed."""

    states: str = "UUU"
    since: Lookup[str, float | None] = field(default_factory=dict)

    def verdicts(self) -> dict[str, Verdict]:
        return {lid(site): VERDICTS[s] for site, s in zip(SITES, self.states, strict=True)}

    def sites(self) -> dict[str, SiteHealth]:
        healths = {}
        for site, state in zip(SITES, self.states, strict=True):
            health = site_health(site, [VERDICTS[state]], 1, None, 0.0)
            healths[site] = replace(health, since=self.since.get(site, 0.0))
        return healths


def on(site: str | None, version: int = 5, epoch: int = 3) -> Mapping:
    """A published mapping with ``site`` active."""
    return Mapping("billing", version, epoch, 5, site, ())


def intent(kind: IntentKind, site: str | None = None, **changes: Any) -> Intent:
    who = {IntentKind.PIN: "alice", IntentKind.DRAIN: "bob", IntentKind.FREEZE: "carol"}[kind]
    why = {IntentKind.PIN: "patching", IntentKind.DRAIN: "maintenance"}.get(kind, "investigating")
    service = None if kind is IntentKind.DRAIN else "billing"
    return replace(Intent(f"{kind}-{site}", kind, service, site, who, why), **changes)


def run(
    world: World,
    current: Mapping | None = None,
    intents: tuple[Intent, ...] = (),
    pol: ServicePolicy | None = None,
    now: float = NOW,
    writer: str = "gtm-1",
) -> Decision:
    return decide(pol or policy(), current, world.verdicts(), world.sites(), intents, now, writer)


def priorities(mapping: Mapping) -> dict[str, int]:
    return {loc.site: loc.priority for loc in mapping.locators}


PIN_C = intent(IntentKind.PIN, C)
FORCED_C = intent(IntentKind.PIN, C, force=True)
DRAIN_A = intent(IntentKind.DRAIN, A)
DRAIN_B = intent(IntentKind.DRAIN, B)
DRAIN_C = intent(IntentKind.DRAIN, C)
FREEZE = intent(IntentKind.FREEZE)
AUTO = policy(failback=Failback.AUTO)
PRIO = policy(policy=PolicyKind.PRIORITY)
HEALTHY_A = "aws-use1 is healthy (1/1 locators up, min 1)"
HEALTHY_B = "gcp-euw1 is healthy (1/1 locators up, min 1)"
DOWN_A = "aws-use1 is down (0/1 locators up, min 1)"
DOWN_B = "gcp-euw1 is down (0/1 locators up, min 1)"
DOWN_C = "dc-paris is down (0/1 locators up, min 1)"
UNKNOWN_A = "health of aws-use1 is not known yet (0/1 locators up, min 1)"
NEXT = "the next healthy site after it"
FIRST = "the first healthy site in preference order"
GONE = "old is no longer a site of billing"
DRAINED_A = "aws-use1 is drained by bob: maintenance"
FROZEN = "frozen by carol: investigating"
PINNED_C = "pinned to dc-paris by alice: patching"
ALL_DOWN = "all sites down;"
HELD_A = "traffic held on aws-use1, no standby takes over"
HELD_C = "traffic held on dc-paris, no standby takes over"
NONE, STAY = Action.NONE, Action.STAY
RECENT_A = World("UUU", {A: NOW - 100})
LONG_A = World("UUU", {A: NOW - 300})
NEVER_A = World("UUU", {A: None})
OPEN = policy(all_down=AllDown.OPEN)
CLOSED = policy(all_down=AllDown.CLOSED)
PRIO_0 = policy(policy=PolicyKind.PRIORITY, dwell=0)
PIN_NOWHERE = intent(IntentKind.PIN, "nowhere", who="")
PIN_C_BARE = intent(IntentKind.PIN, C, why="")
PIN_LATEST = (replace(PIN_C, created_at=2.0), intent(IntentKind.PIN, B, created_at=1.0))

# fmt: off
CHOICES = [
    # id, current mapping, world, intents, policy, active site, action, reason
    # -- first decision ----------------------------------------------------------------------
    ("first-healthy", None, "UUU", (), None, A, NONE, f"{HEALTHY_A}; starting on it"),
    ("first-skips-down", None, "DUU", (), None, B, NONE, f"{HEALTHY_B}; starting on it"),
    ("first-unknown", None, "???", (), None, A, STAY, f"{UNKNOWN_A}; starting on it"),
    ("first-waits-for-preferred", None, "?UU", (), None, A, NONE, f"{UNKNOWN_A}; starting on it"),
    ("first-all-down", None, "DDD", (), None, A, STAY,
     f"{ALL_DOWN} starting on aws-use1 (all_down: stay)"),
    ("first-after-none", on(None), "DUU", (), None, B, NONE, f"{HEALTHY_B}; starting on it"),
    ("first-skips-drained", None, "UUU", (DRAIN_A,), None, B, NONE, f"{HEALTHY_B}; starting on it"),
    ("first-all-drained", None, "UUU", (DRAIN_A, DRAIN_B, DRAIN_C), None, A, STAY,
     f"{ALL_DOWN} starting on aws-use1 (all_down: stay)"),
    ("first-despite-freeze", None, "DUU", (FREEZE,), None, B, NONE, f"{HEALTHY_B}; starting on it"),
    # -- whack-a-mole ------------------------------------------------------------------------
    ("stays", on(A), "UUU", (), None, A, NONE, f"{HEALTHY_A}; staying on it"),
    ("stays-standby-down", on(A), "UDD", (), None, A, NONE, f"{HEALTHY_A}; staying on it"),
    ("down-moves-next", on(A), "DUU", (), None, B, NONE, f"{DOWN_A}; moved to {B}, {NEXT}"),
    ("down-skips-down", on(A), "DDU", (), None, C, NONE, f"{DOWN_A}; moved to {C}, {NEXT}"),
    ("down-wraps", on(C), "UUD", (), None, A, NONE, f"{DOWN_C}; moved to {A}, {NEXT}"),
    ("down-wraps-skips", on(C), "DUD", (), None, B, NONE, f"{DOWN_C}; moved to {B}, {NEXT}"),
    ("no-failback", on(B), "UUU", (), None, B, NONE,
     f"{A} recovered, but failback is manual: staying on {B}"),
    ("unknown-active-stays", on(A), "?UU", (), None, A, NONE, f"{UNKNOWN_A}; staying on it"),
    ("removed-site", on("old"), "DUU", (), None, B, NONE, f"{GONE}; {HEALTHY_B}; moved to it"),
    ("removed-site-all-down", on("old"), "DDD", (), None, A, STAY,
     f"{GONE}; {ALL_DOWN} moved to aws-use1 (all_down: stay)"),
    ("auto-before-dwell", on(B), RECENT_A, (), AUTO, B, NONE,
     f"{A} healthy for 100s, failback after 300s: staying on {B}"),
    ("auto-after-dwell", on(B), LONG_A, (), AUTO, A, NONE,
     f"{A} healthy for 300s (dwell 300s); moved back to it"),
    ("auto-since-unknown", on(B), NEVER_A, (), AUTO, B, NONE,
     f"{A} healthy for 0s, failback after 300s: staying on {B}"),
    # -- priority ----------------------------------------------------------------------------
    ("prio-down-moves-first", on(B), "UDU", (), PRIO, A, NONE, f"{DOWN_B}; moved to {A}, {FIRST}"),
    ("prio-before-dwell", on(B), RECENT_A, (), PRIO, B, NONE,
     f"{A} healthy for 100s, failback after 300s: staying on {B}"),
    ("prio-after-dwell", on(B), LONG_A, (), PRIO, A, NONE,
     f"{A} healthy for 300s (dwell 300s); moved back to it"),
    ("prio-no-dwell", on(B), RECENT_A, (), PRIO_0, A, NONE,
     f"{A} healthy for 100s (dwell 0s); moved back to it"),
    ("prio-all-down", on(B), "DDD", (), PRIO, B, STAY,
     f"{ALL_DOWN} staying on gcp-euw1 (all_down: stay)"),
    # -- all down ----------------------------------------------------------------------------
    ("all-down-stay", on(B), "DDD", (), None, B, STAY,
     f"{ALL_DOWN} staying on gcp-euw1 (all_down: stay)"),
    ("all-down-open", on(B), "DDD", (), OPEN, B, Action.OPEN,
     f"{ALL_DOWN} serving every locator, staying on gcp-euw1 (all_down: open)"),
    ("all-down-closed", on(B), "DDD", (), CLOSED, B, Action.NXDOMAIN,
     f"{ALL_DOWN} answering NXDOMAIN, staying on gcp-euw1 (all_down: closed)"),
    ("all-down-but-unknown", on(B), "?D?", (), None, B, STAY,
     f"{ALL_DOWN} staying on gcp-euw1 (all_down: stay)"),
    # -- intents -----------------------------------------------------------------------------
    ("freeze-healthy", on(A), "UUU", (FREEZE,), None, A, NONE, f"{FROZEN}; staying on {A}"),
    ("freeze-down", on(A), "DUU", (FREEZE,), None, A, STAY,
     f"{FROZEN}; staying on {A} although {DOWN_A}; {HELD_A}"),
    ("freeze-all-down", on(A), "DDD", (FREEZE,), None, A, STAY,
     f"{FROZEN}; staying on {A} although {DOWN_A}"),
    ("freeze-blocks-failback", on(B), LONG_A, (FREEZE,), PRIO, B, NONE,
     f"{FROZEN}; staying on {B}"),
    ("pin", on(A), "UUU", (PIN_C,), None, C, NONE, PINNED_C),
    ("pin-down-ignored", on(A), "UUD", (PIN_C,), None, A, NONE,
     f"pin to dc-paris by alice ignored: {DOWN_C}; {HEALTHY_A}; staying on it"),
    ("pin-down-forced", on(A), "UUD", (FORCED_C,), None, C, STAY,
     f"{PINNED_C} (forced although {DOWN_C}); {HELD_C}"),
    ("pin-forced-all-down", on(A), "DDD", (FORCED_C,), None, C, STAY,
     f"{PINNED_C} (forced although {DOWN_C}); {HELD_C}"),
    ("pin-not-a-site", on(A), "UUU", (PIN_NOWHERE,), None, A, NONE,
     f"pin to nowhere ignored: nowhere is not a site of billing; {HEALTHY_A}; staying on it"),
    ("pin-without-why", on(A), "UUU", (PIN_C_BARE,), None, C, NONE, "pinned to dc-paris by alice"),
    ("pin-beats-freeze", on(A), "UUU", (FREEZE, PIN_C), None, C, NONE, PINNED_C),
    ("pin-beats-drain", on(A), "UUU", (DRAIN_C, PIN_C), None, C, NONE, PINNED_C),
    ("pin-latest-wins", on(A), "UUU", PIN_LATEST, None, C, NONE, PINNED_C),
    ("pin-expired", on(A), "UUU", (replace(PIN_C, expires_at=NOW),), None, A, NONE,
     f"{HEALTHY_A}; staying on it"),
    ("pin-other-service", on(A), "UUU", (replace(PIN_C, service="orders"),), None, A, NONE,
     f"{HEALTHY_A}; staying on it"),
    ("pin-without-site", on(A), "UUU", (intent(IntentKind.PIN),), None, A, NONE,
     f"{HEALTHY_A}; staying on it"),
    ("drain-active", on(A), "UUU", (DRAIN_A,), None, B, NONE,
     f"{DRAINED_A}; moved to {B}, {NEXT}"),
    ("drain-active-prio", on(B), "UUU", (DRAIN_B,), PRIO, A, NONE,
     f"gcp-euw1 is drained by bob: maintenance; moved to {A}, {FIRST}"),
    ("drain-beats-freeze", on(A), "UUU", (FREEZE, DRAIN_A), None, B, NONE,
     f"{DRAINED_A}; moved to {B}, {NEXT}"),
    ("drain-skipped", on(A), "DUU", (DRAIN_B,), None, C, NONE, f"{DOWN_A}; moved to {C}, {NEXT}"),
    ("drain-all-others-down", on(A), "UDD", (DRAIN_A,), None, A, STAY,
     f"{ALL_DOWN} staying on aws-use1 (all_down: stay)"),
    ("drain-standby-only", on(A), "UUU", (DRAIN_C,), None, A, NONE, f"{HEALTHY_A}; staying on it"),
]
# fmt: on


@pytest.mark.parametrize(
    ("current", "world", "intents", "pol", "active", "action", "reason"),
    [pytest.param(*case[1:], id=case[0]) for case in CHOICES],
)
def test_choice(
    current: Mapping | None,
    world: World | str,
    intents: tuple[Intent, ...],
    pol: ServicePolicy | None,
    active: str,
    action: Action,
    reason: str,
) -> None:
    decision = run(world if isinstance(world, World) else World(world), current, intents, pol)
    previous = current.active_site if current is not None else None
    assert decision.mapping.active_site == active
    assert decision.mapping.action is action
    assert decision.reason == decision.mapping.reason == reason
    assert decision.moved == (previous is not None and previous != active)
    assert decision.changed


def _states(world: World | str) -> str:
    return world.states if isinstance(world, World) else world


@pytest.mark.parametrize(
    ("current", "world", "intents", "pol"),
    [pytest.param(*case[1:5], id=case[0]) for case in CHOICES if "?" not in _states(case[2])],
)
def test_active_site_is_where_traffic_goes(
    current: Mapping | None,
    world: World | str,
    intents: tuple[Intent, ...],
    pol: ServicePolicy | None,
) -> None:
    """What DNS and load balancers answer (``best()``) is the site the mapping names."""
    seen = world if isinstance(world, World) else World(world)
    mapping = run(seen, current, intents, pol).mapping
    chosen = {loc.site for loc in mapping.best()}
    assert not chosen or mapping.active_site in chosen
    if mapping.action is not Action.OPEN:
        assert chosen <= {mapping.active_site}


# fmt: off
HELD_CASES = [
    pytest.param(on(A), "UUD", (FORCED_C,), {C: 1, A: NEVER, B: NEVER}, id="forced-pin"),
    pytest.param(on(A), "DDD", (FORCED_C,), {C: 1, A: NEVER, B: NEVER}, id="forced-all-down"),
    pytest.param(on(A), "DUU", (FREEZE,), {A: 1, B: NEVER, C: NEVER}, id="freeze"),
    pytest.param(on(A), "DUU", (FREEZE, DRAIN_C), {A: 1, B: NEVER, C: NEVER}, id="freeze-drain"),
]
# fmt: on


@pytest.mark.parametrize(("current", "world", "intents", "expected"), HELD_CASES)
def test_held_site_keeps_the_traffic(
    current: Mapping, world: str, intents: tuple[Intent, ...], expected: dict[str, int]
) -> None:
    """A forced pin or a freeze on a site that is down sends traffic there, not to a standby."""
    mapping = run(World(world), current, intents).mapping
    assert priorities(mapping) == expected
    assert mapping.action is Action.STAY
    assert {loc.site for loc in mapping.best()} == {mapping.active_site}


def test_weighted_freeze_yields_to_a_drain_of_the_active_site() -> None:
    before = run(World("UUD"), pol=WEIGHTED).mapping
    decision = run(World("UDU"), before, (FREEZE, DRAIN_A), WEIGHTED)
    mapping = decision.mapping
    assert (mapping.active_site, priorities(mapping)) == (C, {A: NEVER, B: 2, C: 1})
    assert mapping.action is Action.NONE
    assert decision.reason == "1 of 3 sites healthy; sharing traffic among dc-paris"


def test_weighted_freeze_with_every_kept_site_down_holds_the_first() -> None:
    before = run(World("UUD"), pol=WEIGHTED).mapping
    decision = run(World("DDU"), before, (FREEZE,), WEIGHTED)
    mapping = decision.mapping
    assert (mapping.active_site, priorities(mapping)) == (A, {A: 1, B: 1, C: NEVER})
    assert mapping.action is Action.STAY
    assert {loc.site for loc in mapping.best()} == {A}
    assert decision.reason.endswith(HELD_A)


# fmt: off
PRIORITIES_CASES = [
    pytest.param(None, on(B), "UUU", (), {B: 1, C: 2, A: 3}, {}, id="whack-after-active"),
    pytest.param(PRIO, on(B), "DUU", (), {B: 1, A: 2, C: 3}, {}, id="prio-preference"),
    pytest.param(None, on(A), "UUU", (DRAIN_C,), {A: 1, B: 2, C: NEVER}, {C: 0},
                 id="drained"),
    pytest.param(None, on(A), "UUU", (DRAIN_B,), {A: 1, C: 2, B: NEVER}, {B: 0},
                 id="drained-mid"),
    pytest.param(None, on(A), "UUU", (DRAIN_C, PIN_C), {C: 1, A: 2, B: 3}, {},
                 id="pin-undrains"),
    pytest.param(None, on(A), "UDD", (DRAIN_A,), {A: NEVER, B: 2, C: 3}, {A: 0},
                 id="drained-active"),
]
# fmt: on


@pytest.mark.parametrize(
    ("pol", "current", "world", "intents", "expected", "weights"), PRIORITIES_CASES
)
def test_priorities(
    pol: ServicePolicy | None,
    current: Mapping,
    world: str,
    intents: tuple[Intent, ...],
    expected: dict[str, int],
    weights: dict[str, int],
) -> None:
    mapping = run(World(world), current, intents, pol).mapping
    assert priorities(mapping) == expected
    assert {loc.site: loc.weight for loc in mapping.locators} == {
        site: weights.get(site, 100) for site in SITES
    }


def test_locator_states_follow_verdicts() -> None:
    world = World("U?D")
    verdicts = world.verdicts()
    del verdicts[lid(B)]
    mapping = decide(policy(), None, verdicts, world.sites(), (), NOW).mapping
    assert [loc.state for loc in mapping.locators] == [State.UP, State.UNKNOWN, State.DOWN]
    assert [(loc.address, loc.port) for loc in mapping.locators] == [
        (ADDRESSES[site], 443) for site in SITES
    ]


def test_missing_site_health_counts_as_unhealthy() -> None:
    world = World("DUU")
    sites = world.sites()
    del sites[B]
    decision = decide(policy(), on(A), world.verdicts(), sites, (), NOW)
    assert decision.mapping.active_site == C


WEIGHTED = policy(policy=PolicyKind.WEIGHTED)
SHARED_AB = "2 of 3 sites healthy; sharing traffic among aws-use1, gcp-euw1"


SHARED_BC = "2 of 3 sites healthy; sharing traffic among gcp-euw1, dc-paris"
SHARED_ABC = "3 of 3 sites healthy; sharing traffic among aws-use1, gcp-euw1, dc-paris"


# fmt: off
WEIGHTED_CASES = [
    pytest.param(None, "UUD", (), A, {A: 1, B: 1, C: 2}, NONE, SHARED_AB, id="first"),
    pytest.param(on(A), "DUU", (), B, {A: 2, B: 1, C: 1}, NONE, SHARED_BC, id="first-down"),
    pytest.param(on(B), "UUU", (), A, {A: 1, B: 1, C: 1}, NONE, SHARED_ABC,
                 id="recovered-rejoins"),
    pytest.param(on(B), "DDD", (), B, {B: 1, A: 2, C: 3}, STAY,
                 f"{ALL_DOWN} staying on gcp-euw1 (all_down: stay)", id="all-down"),
    pytest.param(None, "???", (), A, {A: 1, B: 2, C: 3}, STAY,
                 f"{UNKNOWN_A}; starting on it", id="first-unknown"),
    pytest.param(on(A), "?DD", (), A, {A: 1, B: 2, C: 3}, STAY,
                 f"{UNKNOWN_A}; staying on it", id="active-unknown"),
    pytest.param(on("old"), "DDD", (), A, {A: 1, B: 2, C: 3}, STAY,
                 f"{GONE}; {ALL_DOWN} moved to aws-use1 (all_down: stay)",
                 id="removed-all-down"),
    pytest.param(None, "UUU", (PIN_C,), C, {C: 1, A: 2, B: 3}, NONE, PINNED_C, id="pin"),
    pytest.param(None, "UUU", (DRAIN_A,), B, {A: NEVER, B: 1, C: 1}, NONE, SHARED_BC,
                 id="drain"),
    pytest.param(on(A), "DUU", (FREEZE,), B, {A: 2, B: 1, C: 1}, NONE, SHARED_BC,
                 id="freeze-without-active-set"),
]
# fmt: on


@pytest.mark.parametrize(
    ("current", "world", "intents", "active", "expected", "action", "reason"), WEIGHTED_CASES
)
def test_weighted(
    current: Mapping | None,
    world: str,
    intents: tuple[Intent, ...],
    active: str,
    expected: dict[str, int],
    action: Action,
    reason: str,
) -> None:
    decision = run(World(world), current, intents, WEIGHTED)
    mapping = decision.mapping
    assert (mapping.active_site, priorities(mapping), mapping.action) == (active, expected, action)
    assert decision.reason == reason


# fmt: off
WEIGHTED_FREEZE_CASES = [
    pytest.param((FREEZE,), B, {A: 1, B: 1, C: 2},
                 f"{FROZEN}; keeping gcp-euw1, aws-use1 active", id="kept"),
    pytest.param((FREEZE, DRAIN_A), B, {A: NEVER, B: 1, C: 2},
                 f"{FROZEN}; keeping gcp-euw1 active", id="drain-beats-freeze"),
]
# fmt: on


@pytest.mark.parametrize(("intents", "active", "expected", "reason"), WEIGHTED_FREEZE_CASES)
def test_weighted_freeze(
    intents: tuple[Intent, ...], active: str, expected: dict[str, int], reason: str
) -> None:
    before = run(World("UUD"), pol=WEIGHTED).mapping
    decision = run(World("DUU"), before, intents, WEIGHTED)
    assert (decision.mapping.active_site, priorities(decision.mapping)) == (active, expected)
    assert decision.reason == reason


def test_first_mapping() -> None:
    decision = run(World("UUU"), writer="gtm-1")
    mapping = decision.mapping
    assert (decision.changed, decision.moved) == (True, False)
    assert (mapping.service, mapping.version, mapping.epoch, mapping.ttl) == ("billing", 1, 1, 5)
    assert (mapping.updated_at, mapping.written_by) == (NOW, "gtm-1")


def test_unchanged_input_keeps_the_mapping() -> None:
    first = run(World("UUU")).mapping
    again = run(World("UUU"), first, now=NOW + 60, writer="gtm-2")
    assert (again.changed, again.moved) == (False, False)
    assert again.mapping is first


def test_reason_alone_does_not_bump_the_version() -> None:
    first = run(World("UUU")).mapping
    frozen = run(World("UUU"), first, (FREEZE,), now=NOW + 1)
    assert not frozen.changed
    assert frozen.mapping is first
    assert frozen.reason == "frozen by carol: investigating; staying on aws-use1"


@pytest.mark.parametrize(
    ("world", "pol", "version", "epoch", "moved"),
    [
        pytest.param("UUD", None, 2, 1, False, id="standby-state"),
        pytest.param("UUU", policy(ttl=30), 2, 1, False, id="ttl"),
        pytest.param("UUU", policy(all_down=AllDown.CLOSED), 1, 1, False, id="unused-rule"),
        pytest.param("DDD", policy(all_down=AllDown.CLOSED), 2, 1, False, id="action"),
        pytest.param("DUU", None, 2, 2, True, id="move"),
    ],
)
def test_versions_and_epochs(
    world: str, pol: ServicePolicy | None, version: int, epoch: int, moved: bool
) -> None:
    first = run(World("UUU")).mapping
    decision = run(World(world), first, pol=pol, now=NOW + 1)
    assert (decision.mapping.version, decision.mapping.epoch) == (version, epoch)
    assert (decision.changed, decision.moved) == (version == 2, moved)


def test_active_site_set_after_none_bumps_epoch_without_moving() -> None:
    decision = run(World("UUU"), on(None, version=4, epoch=2))
    assert (decision.mapping.version, decision.mapping.epoch, decision.moved) == (5, 3, False)


def test_whack_a_mole_chain() -> None:
    """A fails, B fails, C fails: traffic walks A -> B -> C -> A and never goes back early."""
    steps = [
        ("UUU", A, 1, False),
        ("DUU", B, 2, True),
        ("UUU", B, 2, False),
        ("UDU", C, 3, True),
        ("UUU", C, 3, False),
        ("UUD", A, 4, True),
        ("UUU", A, 4, False),
    ]
    mapping = None
    for n, (world, active, epoch, moved) in enumerate(steps):
        decision = run(World(world), mapping, now=NOW + n)
        mapping = decision.mapping
        assert (mapping.active_site, mapping.epoch, decision.moved) == (active, epoch, moved)


@pytest.mark.parametrize("kind", list(PolicyKind))
def test_versions_and_epochs_only_grow(kind: PolicyKind) -> None:
    rng = random.Random(7)
    pol = policy(policy=kind, failback=Failback.AUTO, dwell=5.0)
    pool = [FREEZE, PIN_C, FORCED_C, DRAIN_A, DRAIN_B, intent(IntentKind.PIN, A)]
    since: dict[str, float | None] = {}
    mapping: Mapping | None = None
    states = "UUU"
    for step in range(400):
        now = NOW + step
        new_states = "".join(rng.choice("UUUD?") for _ in SITES)
        for site, old, new in zip(SITES, states, new_states, strict=True):
            if (old == "U") != (new == "U"):
                since[site] = now
        states = new_states
        intents = tuple(x for x in pool if rng.random() < 0.15)
        decision = run(World(states, dict(since)), mapping, intents, pol, now)
        after = decision.mapping
        if mapping is None:
            assert (after.version, after.epoch) == (1, 1)
        else:
            assert after.version == mapping.version + int(decision.changed)
            assert after.epoch == mapping.epoch + int(after.active_site != mapping.active_site)
            assert decision.moved == (after.active_site != mapping.active_site)
        mapping = after


TWICE = (LocatorSpec(lid(A), B, ADDRESSES[B], 443), *specs())
MANY_SITES = SITES + tuple(f"s{n}" for n in range(252))


# fmt: off
POLICY_REFUSED_CASES = [
    pytest.param({"sites": ()}, "has no sites", id="no-sites"),
    pytest.param({"sites": (A, B, C, A)}, "lists a site twice", id="duplicate-site"),
    pytest.param({"sites": MANY_SITES}, "has 255 sites, at most 254", id="too-many"),
    pytest.param({"sites": (A, B)}, "has locators in unlisted sites", id="unlisted"),
    pytest.param({"sites": (*SITES, "x")}, "has sites without locators", id="empty-site"),
    pytest.param({"locators": TWICE}, "has duplicate locator ids", id="duplicate-id"),
    pytest.param({"locators": specs(weight=101)}, "has weights outside 0..100", id="weight"),
    pytest.param({"locators": specs(port=0)}, "has ports outside 1..65535", id="port"),
    pytest.param({"ttl": -1}, "has a negative ttl", id="ttl"),
    pytest.param({"dwell": -1.0}, "has a negative dwell", id="dwell"),
]
# fmt: on


@pytest.mark.parametrize(("changes", "problem"), POLICY_REFUSED_CASES)
def test_policy_refused(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        replace(policy(), **changes)
    assert str(caught.value).startswith("policy: service billing ")
    assert [p for p in caught.value.problems if p.startswith(f"service billing {problem}")]


def weights(mapping: Mapping) -> dict[str, tuple[int, int]]:
    """(priority, weight) per site of a one-locator-per-site mapping."""
    return {loc.site: (loc.priority, loc.weight) for loc in mapping.locators}


def shift(site: str, share: int, **changes: Any) -> Intent:
    return replace(
        Intent(f"shift-{site}", IntentKind.SHIFT, "billing", site, "run", "planned"),
        share=share,
        **changes,
    )


SHIFT_CASES = [
    pytest.param(
        "UUU",
        (shift(B, 0),),
        {A: (1, 100), B: (1, 0), C: (3, 100)},
        "0% of traffic",
        id="ramp-start",
    ),
    pytest.param(
        "UUU",
        (shift(B, 40),),
        {A: (1, 60), B: (1, 40), C: (3, 100)},
        "40% of traffic",
        id="ramp-middle",
    ),
    pytest.param(
        "UUU",
        (shift(B, 100),),
        {A: (1, 0), B: (1, 100), C: (3, 100)},
        "100% of traffic",
        id="ramp-end",
    ),
    pytest.param(
        "UUU",
        (shift(B, 150),),
        {A: (1, 0), B: (1, 100), C: (3, 100)},
        "100% of traffic",
        id="clamped",
    ),
    pytest.param(
        "UDU",
        (shift(B, 50),),
        {A: (1, 100), B: (2, 100), C: (3, 100)},
        "shift to gcp-euw1 ignored: gcp-euw1 is down",
        id="target-down",
    ),
    pytest.param(
        "UUU",
        (shift(A, 50),),
        {A: (1, 100), B: (2, 100), C: (3, 100)},
        "already the active site",
        id="to-active",
    ),
    pytest.param(
        "UUU",
        (shift("mars", 50),),
        {A: (1, 100), B: (2, 100), C: (3, 100)},
        "mars is not a site",
        id="unknown-site",
    ),
    pytest.param(
        "UUU",
        (replace(shift(B, 50), share=None),),
        {A: (1, 100), B: (2, 100), C: (3, 100)},
        "staying on it",
        id="no-share",
    ),
]


@pytest.mark.parametrize(("states", "intents", "expected", "reason"), SHIFT_CASES)
def test_shift_ramps_traffic_without_moving(
    states: str, intents: tuple[Intent, ...], expected: dict[str, tuple[int, int]], reason: str
) -> None:
    decision = run(World(states), on(A), intents)
    assert decision.mapping.active_site == A
    assert decision.mapping.epoch == 3
    assert weights(decision.mapping) == expected
    assert reason in decision.reason


def test_shift_is_ignored_under_weighted_policy() -> None:
    decision = run(World("UUU"), on(A), (shift(B, 40),), policy(policy=PolicyKind.WEIGHTED))
    assert "shifted" not in decision.reason


TTL_CASES = [
    pytest.param(Intent("t", IntentKind.TTL, "billing", ttl=2), 2, "ttl lowered to 2s", id="lower"),
    pytest.param(Intent("t", IntentKind.TTL, "billing", ttl=60), 5, None, id="never-raises"),
    pytest.param(Intent("t", IntentKind.TTL, "billing"), 5, None, id="no-value"),
    pytest.param(Intent("t", IntentKind.TTL, None, ttl=1), 5, None, id="needs-a-service"),
]


@pytest.mark.parametrize(("ttl_intent", "ttl", "reason"), TTL_CASES)
def test_ttl_intent_lowers_the_published_ttl(
    ttl_intent: Intent, ttl: int, reason: str | None
) -> None:
    decision = run(World("UUU"), on(A), (ttl_intent,))
    assert decision.mapping.ttl == ttl
    assert reason is None or reason in decision.reason
