"""Decide where one service's traffic goes: whack-a-mole and friends, intents, all-down.

The decision is a pure function of the service's policy, its current mapping, the
verdicts and site health, the operator's intents and ``now``, so every failover rule is
table-tested without a clock or a store; the controller publishes what it returns.
"""

from __future__ import annotations

from collections.abc import Mapping as Lookup
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from gtm.core.health import Verdict
from gtm.core.model import NEVER, Action, Intent, IntentKind, Locator, Mapping, State
from gtm.core.readiness import Readiness, choose, move_note, rank
from gtm.core.sites import SiteHealth
from gtm.errors import ConfigError


class PolicyKind(StrEnum):
    """How a service chooses its active site."""

    WHACK_A_MOLE = "whack-a-mole"
    """Keep the active site while it is healthy; when it fails, take the next one after it."""
    PRIORITY = "priority"
    """Always the most preferred healthy site, returning to it after ``dwell``."""
    WEIGHTED = "weighted"
    """Every healthy site at once, shared by the locators' weights."""
    BURST = "burst"
    """Whack-a-mole, plus an overspill site that takes a share while the active one is
    overloaded (:mod:`gtm.core.burst` says when and how much)."""


class AllDown(StrEnum):
    """What a service's mapping says when none of its sites is healthy."""

    STAY = "stay"
    """Keep sending traffic to the active site."""
    OPEN = "open"
    """Send traffic to every locator that is not drained."""
    CLOSED = "closed"
    """Answer as if the service did not exist."""


class Failback(StrEnum):
    """Whether whack-a-mole returns to a more preferred site once it has recovered."""

    MANUAL = "manual"
    """Never by itself: going back is an operator's decision."""
    AUTO = "auto"
    """After the site has been healthy for ``dwell`` seconds."""


_ACTIONS = {AllDown.STAY: Action.STAY, AllDown.OPEN: Action.OPEN, AllDown.CLOSED: Action.NXDOMAIN}
_ALL_DOWN_PHRASES = {
    AllDown.STAY: "",
    AllDown.OPEN: "serving every locator, ",
    AllDown.CLOSED: "answering NXDOMAIN, ",
}
_STATES = {Verdict.UP: State.UP, Verdict.DOWN: State.DOWN, Verdict.UNKNOWN: State.UNKNOWN}


@dataclass(frozen=True, slots=True)
class LocatorSpec:
    """One configured replica endpoint of a service."""

    id: str
    site: str
    address: str
    port: int
    weight: int = 100
    """Share of traffic among the active locators, 0 to 100."""


@dataclass(frozen=True, slots=True)
class ServicePolicy:
    """How one service fails over, as configured.

    Raises:
        ConfigError: when the policy cannot be applied; the message lists every problem.
    """

    service: str
    sites: tuple[str, ...]
    """Sites in preference order: the order of the locators' sites in config."""
    locators: tuple[LocatorSpec, ...]
    policy: PolicyKind = PolicyKind.WHACK_A_MOLE
    ttl: int = 5
    """Seconds a cache may keep the service's mapping."""
    all_down: AllDown = AllDown.STAY
    failback: Failback = Failback.MANUAL
    """Whack-a-mole only: whether it returns to a more preferred site by itself."""
    dwell: float = 300.0
    """Seconds a more preferred site must have been healthy before traffic returns to it."""
    readiness: Readiness = Readiness.OFF
    """How a move to a site running another release is treated (:mod:`gtm.core.readiness`)."""

    def __post_init__(self) -> None:
        ids = [spec.id for spec in self.locators]
        located = {spec.site for spec in self.locators}
        checks = (
            (bool(self.sites), "has no sites"),
            (len(set(self.sites)) == len(self.sites), f"lists a site twice in {self.sites}"),
            # Priorities 2..254 rank the standby sites; 255 means never.
            (len(self.sites) < NEVER, f"has {len(self.sites)} sites, at most {NEVER - 1}"),
            (not located - set(self.sites), f"has locators in unlisted sites {located}"),
            (not set(self.sites) - located, f"has sites without locators in {self.sites}"),
            (len(set(ids)) == len(ids), f"has duplicate locator ids in {ids}"),
            (
                all(0 <= spec.weight <= 100 for spec in self.locators),
                f"has weights outside 0..100: {[spec.weight for spec in self.locators]}",
            ),
            (
                all(0 < spec.port < 65536 for spec in self.locators),
                f"has ports outside 1..65535: {[spec.port for spec in self.locators]}",
            ),
            (self.ttl >= 0, f"has a negative ttl {self.ttl}"),
            (self.dwell >= 0, f"has a negative dwell {self.dwell}"),
        )
        problems = [f"service {self.service} {message}" for ok, message in checks if not ok]
        if problems:
            raise ConfigError("policy: " + "; ".join(problems), problems)


@dataclass(frozen=True, slots=True)
class Decision:
    """The mapping a service should have, and whether publishing it changes anything."""

    mapping: Mapping
    """The new mapping, or the current one unchanged when ``changed`` is False."""
    changed: bool
    """Whether anything a client could see changed (and the version went up)."""
    moved: bool
    """Whether traffic moved from one active site to another."""
    reason: str
    """One sentence: why the mapping looks the way it does."""


def decide(
    policy: ServicePolicy,
    current: Mapping | None,
    verdicts: Lookup[str, Verdict],
    sites: Lookup[str, SiteHealth],
    intents: Sequence[Intent],
    now: float,
    writer: str = "",
    overspill: int = 0,
) -> Decision:
    """Decide the mapping one service should have now.

    Precedence: a pin beats a drain, a drain beats a freeze, a freeze beats health. A
    site whose locators have no verdict yet is neither failed away from nor failed over
    to: an active site stays until it is known to be down, and a first decision takes the
    first site in preference order that is healthy or not known yet.

    The active site is always the one traffic goes to. When an operator holds traffic on
    a site that is down (a forced pin, or a freeze while the active site is down), the
    other sites get priority 255 and the action ``stay``, so DNS and load balancers keep
    answering with the held site instead of a standby the mapping does not name.

    Args:
        policy: the service's configured policy.
        current: the service's published mapping, None before the first one.
        verdicts: by locator id; a locator without one counts as unknown.
        sites: the health of the service's sites, by name; a missing site is unhealthy.
        intents: every standing intent; those inactive at ``now`` or about other
            services are ignored.
        now: the current time.
        writer: who publishes the mapping, recorded in it when it changes.
        overspill: under ``burst``, the percent of traffic the next healthy site after
            the active one takes (:func:`gtm.core.burst.share`); a pin, a freeze, a shift,
            traffic held on a site that is down, or all sites down set it aside.

    Returns:
        The decision; its mapping is ``current`` itself when nothing visible changed.
    """
    standing = _Standing.of(intents, policy.service, now)
    view = _View.of(policy, verdicts, sites, standing.drains)
    pin, note = _effective_pin(policy, view, standing.pin)
    if pin is not None:
        site, intent = pin
        # A pin beats a drain: a pinned site that is also drained still gets traffic.
        view = replace(view, drained={k: v for k, v in view.drained.items() if k != site})
        held = not view.healthy(site)
        forced = f" (forced although {view.describe(site)})" if held else ""
        choice = _Choice((site,), f"pinned to {site}{_by(intent)}{forced}", held)
    elif policy.policy is PolicyKind.WEIGHTED:
        choice = _choose_weighted(policy, view, standing.freeze, current)
    else:
        choice = _choose_one(policy, view, standing.freeze, current, now)
    all_down = pin is None and not any(view.eligible(site) for site in view.order)
    action = _ACTIONS[policy.all_down] if all_down else Action.NONE
    reason = choice.reason if note is None else f"{note}; {choice.reason}"
    previous = current.active_site if current is not None else None
    if warning := move_note(policy.readiness, previous, choice.active[0], view.health):
        reason = f"{reason}; {warning}"
    if choice.held and not all_down:
        action = Action.STAY
        reason = f"{reason}; traffic held on {choice.active[0]}, no standby takes over"
    locators = _locators(policy, view, choice, verdicts)
    if standing.shift is not None and policy.policy is not PolicyKind.WEIGHTED:
        locators, said = _shift(view, choice.active[0], locators, standing.shift)
        reason = f"{reason}; {said}"
    elif overspill > 0 and policy.policy is PolicyKind.BURST:
        quiet = pin is None and standing.freeze is None and not choice.held and not all_down
        locators, said = _overspill(view, choice.active[0], locators, overspill, quiet)
        reason = f"{reason}; {said}"
    ttl = policy.ttl
    if standing.ttl is not None and standing.ttl.ttl is not None and standing.ttl.ttl < ttl:
        ttl = standing.ttl.ttl
        reason = f"{reason}; ttl lowered to {ttl}s{_by(standing.ttl)}"
    return _publish(
        replace(policy, ttl=ttl),
        current,
        choice.active[0],
        locators,
        action,
        reason,
        now,
        writer,
    )


def _shift(
    view: _View, active: str, locators: tuple[Locator, ...], intent: Intent
) -> tuple[tuple[Locator, ...], str]:
    """Share traffic between the active site and the shift's site, by the shift's percent.

    The shift's site joins priority 1; its locators keep ``share`` percent of their
    weight and the active site's keep the rest, so a planned failover can ramp traffic
    over in steps before it switches the active site.
    """
    site, share = intent.site, max(0, min(100, intent.share or 0))
    assert site is not None
    if site == active:
        return locators, f"shift to {site} ignored: it is already the active site"
    if site not in view.order or not view.eligible(site):
        state = view.describe(site) if site in view.order else f"{site} is not a site"
        return locators, f"shift to {site} ignored: {state}"

    def weight(loc: Locator) -> Locator:
        if loc.site == active:
            return replace(loc, weight=round(loc.weight * (100 - share) / 100))
        if loc.site == site:
            return replace(loc, priority=1, weight=round(loc.weight * share / 100))
        return loc

    return tuple(
        weight(loc) for loc in locators
    ), f"{share}% of traffic shifted to {site}{_by(intent)}"


def _overspill(
    view: _View, active: str, locators: tuple[Locator, ...], share: int, quiet: bool
) -> tuple[tuple[Locator, ...], str]:
    """Give the next eligible site after the active one ``share`` percent of traffic.

    It joins priority 1 with ``share`` percent of its weights, the active site keeping the
    rest of its own, as a shift would; ``quiet`` is False while an operator (a pin, a
    freeze) or the all-down rule holds traffic, and then the overspill waits.
    """
    if not quiet:
        return locators, f"overspill of {share}% set aside while traffic is held"
    site = next((s for s in view.after(active) if view.eligible(s)), None)
    if site is None:
        return locators, f"overspill of {share}% has no healthy site to go to"

    def weight(loc: Locator) -> Locator:
        if loc.site == active:
            return replace(loc, weight=round(loc.weight * (100 - share) / 100))
        if loc.site == site:
            return replace(loc, priority=1, weight=round(loc.weight * share / 100))
        return loc

    return tuple(
        weight(loc) for loc in locators
    ), f"bursting: {share}% of traffic overspills to {site}"


@dataclass(frozen=True, slots=True)
class _Standing:
    """The operator intents that apply to one service now; the latest of a kind wins."""

    pin: tuple[str, Intent] | None
    drains: dict[str, Intent]
    freeze: Intent | None
    shift: Intent | None = None
    ttl: Intent | None = None

    @classmethod
    def of(cls, intents: Sequence[Intent], service: str, now: float) -> _Standing:
        pin: tuple[str, Intent] | None = None
        drains: dict[str, Intent] = {}
        freeze: Intent | None = None
        shift: Intent | None = None
        ttl: Intent | None = None
        applying = (i for i in intents if i.active(now) and i.applies_to(service))
        for intent in sorted(applying, key=lambda i: i.created_at):
            if intent.kind is IntentKind.FREEZE:
                freeze = intent
            elif intent.kind is IntentKind.TTL:
                ttl = intent if intent.ttl is not None and intent.service else ttl
            elif intent.site is None:
                continue  # a pin or a drain without a site names nothing to act on
            elif intent.kind is IntentKind.PIN:
                pin = (intent.site, intent)
            elif intent.kind is IntentKind.SHIFT:
                shift = intent if intent.share is not None and intent.service else shift
            else:
                drains[intent.site] = intent
        return cls(pin, drains, freeze, shift, ttl)


@dataclass(frozen=True, slots=True)
class _View:
    """The sites of one service as a decision sees them."""

    order: tuple[str, ...]
    health: dict[str, SiteHealth]
    unknown: frozenset[str]
    """Sites none of whose locators has a verdict yet."""
    drained: dict[str, Intent]

    @classmethod
    def of(
        cls,
        policy: ServicePolicy,
        verdicts: Lookup[str, Verdict],
        sites: Lookup[str, SiteHealth],
        drains: dict[str, Intent],
    ) -> _View:
        unknown = frozenset(policy.sites) - {
            spec.site
            for spec in policy.locators
            if verdicts.get(spec.id, Verdict.UNKNOWN) is not Verdict.UNKNOWN
        }
        health = {
            site: sites.get(site) or SiteHealth(site, False, 0, 0, None, f"{site}: no health")
            for site in policy.sites
        }
        return cls(policy.sites, health, unknown, drains)

    def healthy(self, site: str) -> bool:
        return self.health[site].healthy

    def eligible(self, site: str) -> bool:
        """Whether traffic may move to ``site``: healthy and not drained."""
        return self.healthy(site) and site not in self.drained

    def after(self, site: str) -> tuple[str, ...]:
        """The other sites in the order whack-a-mole tries them after ``site``."""
        index = self.order.index(site)
        return self.order[index + 1 :] + self.order[:index]

    def describe(self, site: str) -> str:
        health = self.health[site]
        counts = f"({health.up}/{health.total} locators up, min {health.needed})"
        if health.healthy:
            return f"{site} is healthy {counts}"
        if site in self.unknown:
            return f"health of {site} is not known yet {counts}"
        return f"{site} is down {counts}"


@dataclass(frozen=True, slots=True)
class _Choice:
    """Sites whose locators get priority 1 (the first is the active site), and why."""

    active: tuple[str, ...]
    reason: str
    held: bool = False
    """An operator holds traffic on the active site although it is not healthy: the
    other sites must not take it (priority 255), or the mapping would name one site while
    traffic went to another."""


def _effective_pin(
    policy: ServicePolicy, view: _View, pin: tuple[str, Intent] | None
) -> tuple[tuple[str, Intent] | None, str | None]:
    """The pin that takes effect, or a note saying why the latest one does not."""
    if pin is None:
        return None, None
    site, intent = pin
    refused = f"pin to {site}{_who(intent)} ignored"
    if site not in view.order:
        return None, f"{refused}: {site} is not a site of {policy.service}"
    if view.healthy(site) or intent.force:
        return pin, None
    return None, f"{refused}: {view.describe(site)}"


def _choose_one(
    policy: ServicePolicy,
    view: _View,
    freeze: Intent | None,
    current: Mapping | None,
    now: float,
) -> _Choice:
    """The active site under whack-a-mole or priority."""
    previous = current.active_site if current is not None else None
    if previous is None or previous not in view.order:
        return _first(policy, view, previous)
    if previous in view.drained:
        return _move(policy, view, previous, f"{previous} is drained{_by(view.drained[previous])}")
    if freeze is not None:
        held = not view.healthy(previous)
        down = f" although {view.describe(previous)}" if held else ""
        return _Choice((previous,), f"frozen{_by(freeze)}; staying on {previous}{down}", held)
    if previous in view.unknown:
        # Not knowing is not failing: a restarted controller must not move traffic
        # before it has seen the active site's probes.
        return _Choice((previous,), f"{view.describe(previous)}; staying on it")
    if not view.healthy(previous):
        return _move(policy, view, previous, view.describe(previous))
    return _keep(policy, view, previous, now)


def _first(policy: ServicePolicy, view: _View, previous: str | None) -> _Choice:
    """The first active site: the first in preference order that is healthy or not known.

    A site whose health is not known yet is taken rather than skipped, so which site a
    fresh start settles on does not depend on which site's probes happen to answer first.
    """
    lead = "" if previous is None else f"{previous} is no longer a site of {policy.service}; "
    verb = "starting on" if previous is None else "moved to"
    for site in view.order:
        if site not in view.drained and (view.healthy(site) or site in view.unknown):
            return _Choice((site,), f"{lead}{view.describe(site)}; {verb} it")
    site = next((s for s in view.order if s not in view.drained), view.order[0])
    return _Choice((site,), lead + _all_down(policy, site, verb))


def _move(policy: ServicePolicy, view: _View, previous: str, why: str) -> _Choice:
    """Leave ``previous``: for the next healthy site after it, or the first one."""
    if policy.policy is PolicyKind.PRIORITY:
        candidates, which = view.order, "the first healthy site in preference order"
    else:
        candidates, which = view.after(previous), "the next healthy site after it"
    target, said = choose(policy.readiness, previous, candidates, view.eligible, view.health)
    if target is None:
        return _Choice((previous,), _all_down(policy, previous, "staying on"))
    return _Choice((target,), f"{why}; moved to {target}, {which}" + (f"; {said}" if said else ""))


def _keep(policy: ServicePolicy, view: _View, previous: str, now: float) -> _Choice:
    """Stay on the healthy ``previous``, unless fail-back returns to a preferred site."""
    best = next(site for site in view.order if view.eligible(site))
    if best == previous:
        return _Choice((previous,), f"{view.describe(previous)}; staying on it")
    if policy.policy is not PolicyKind.PRIORITY and policy.failback is Failback.MANUAL:
        return _Choice(
            (previous,), f"{best} recovered, but failback is manual: staying on {previous}"
        )
    since = view.health[best].since
    healthy_for = now - since if since is not None else 0.0
    if healthy_for >= policy.dwell:
        return _Choice(
            (best,),
            f"{best} healthy for {healthy_for:.0f}s (dwell {policy.dwell:.0f}s); moved back to it",
        )
    return _Choice(
        (previous,),
        f"{best} healthy for {healthy_for:.0f}s, failback after {policy.dwell:.0f}s: "
        f"staying on {previous}",
    )


def _choose_weighted(
    policy: ServicePolicy, view: _View, freeze: Intent | None, current: Mapping | None
) -> _Choice:
    """Every healthy site active; the first in preference order is the active site."""
    if freeze is not None and current is not None:
        kept = [
            site
            for site in view.order
            if site not in view.drained
            and any(loc.site == site and loc.priority == 1 for loc in current.locators)
        ]
        # A kept site that is down takes no traffic, so it cannot be the active site
        # while another kept site is healthy.
        kept.sort(key=lambda site: not view.healthy(site))
        held = bool(kept) and not view.healthy(kept[0])
        # The freeze holds traffic on kept sites that are down only while it holds the
        # active site; when a drain took that away, the drain wins and traffic moves on.
        if kept and (not held or current.active_site in kept):
            return _Choice(
                tuple(kept), f"frozen{_by(freeze)}; keeping {', '.join(kept)} active", held
            )
    healthy = tuple(site for site in view.order if view.eligible(site))
    if healthy:
        return _Choice(
            healthy,
            f"{len(healthy)} of {len(view.order)} sites healthy; "
            f"sharing traffic among {', '.join(healthy)}",
        )
    previous = current.active_site if current is not None else None
    if previous is None or previous not in view.order:
        return _first(policy, view, previous)
    if previous in view.unknown:
        return _Choice((previous,), f"{view.describe(previous)}; staying on it")
    return _Choice((previous,), _all_down(policy, previous, "staying on"))


def _all_down(policy: ServicePolicy, site: str, verb: str) -> str:
    rule = policy.all_down
    return f"all sites down; {_ALL_DOWN_PHRASES[rule]}{verb} {site} (all_down: {rule})"


def _locators(
    policy: ServicePolicy, view: _View, choice: _Choice, verdicts: Lookup[str, Verdict]
) -> tuple[Locator, ...]:
    """The service's locators with priorities: active 1, standby 2, 3, ..., drained 255.

    Standby sites are ranked in the order the policy would pick them next (a strict
    service's sites on the active site's release first), so a client that cannot reach
    the active site fails over the same way the controller would. While traffic is held
    on a site that is down, there is no standby: every other site gets 255.
    """
    active = choice.active[0]
    ordered = (PolicyKind.WHACK_A_MOLE, PolicyKind.BURST)
    upcoming = view.after(active) if policy.policy in ordered else view.order
    upcoming = rank(policy.readiness, active, upcoming, view.health)
    standby = [
        s for s in upcoming if s not in choice.active and s not in view.drained and not choice.held
    ]
    priorities = {site: rank for rank, site in enumerate(standby, start=2)}
    priorities.update({site: 1 for site in choice.active})
    priorities.update({site: NEVER for site in view.order if site not in priorities})
    priorities.update({site: NEVER for site in view.drained})
    return tuple(
        Locator(
            id=spec.id,
            site=spec.site,
            address=spec.address,
            port=spec.port,
            priority=priorities[spec.site],
            weight=0 if spec.site in view.drained else spec.weight,
            state=_STATES[verdicts.get(spec.id, Verdict.UNKNOWN)],
        )
        for spec in policy.locators
    )


def _publish(
    policy: ServicePolicy,
    current: Mapping | None,
    active: str,
    locators: tuple[Locator, ...],
    action: Action,
    reason: str,
    now: float,
    writer: str,
) -> Decision:
    """The decided mapping with its epoch and version, or ``current`` if nothing shows."""
    epoch = 1 if current is None else current.epoch + int(active != current.active_site)
    mapping = Mapping(
        service=policy.service,
        version=1 if current is None else current.version + 1,
        epoch=epoch,
        ttl=policy.ttl,
        active_site=active,
        locators=locators,
        action=action,
        reason=reason,
        updated_at=now,
        written_by=writer,
    )
    if current is not None and _visible(current) == _visible(mapping):
        return Decision(current, changed=False, moved=False, reason=reason)
    moved = current is not None and current.active_site not in (None, active)
    return Decision(mapping, changed=True, moved=moved, reason=reason)


def _visible(mapping: Mapping) -> tuple[object, ...]:
    """What a client can see of a mapping: a change here needs a new version."""
    return (mapping.active_site, mapping.epoch, mapping.ttl, mapping.action, mapping.locators)


def _who(intent: Intent) -> str:
    return f" by {intent.who}" if intent.who else ""


def _by(intent: Intent) -> str:
    return _who(intent) + (f": {intent.why}" if intent.why else "")
