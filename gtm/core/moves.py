"""Planned moves and intents, judged from values: where a run goes, what stands in its way,
the mapping it leaves behind, and whether an operator's intent may be stored.

The runbook executor, its preview (``--dry-run``) and the intents API all ask these
questions. Answering them here, with the same ``decide()`` the controller applies, is what
makes a dry run describe the move the real run makes, and keeps a run from reporting a
move that a standing intent then undoes.

The rule set for intents against runs:

- a run never targets a drained site;
- a standing pin of the service to another site, or a freeze of the service, refuses a
  run, naming the intent (id, who, why); with ``replace_intents`` the run withdraws it in
  the step where its own pin takes over;
- an intent about every service (a freeze of all of them) is never withdrawn by a run of
  one service: it refuses the run;
- a pin to a site that is down is refused unless forced.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from collections.abc import Mapping as Lookup
from dataclasses import dataclass, replace

from gtm.core.health import Verdict
from gtm.core.model import Intent, IntentKind, Locator, Mapping, State
from gtm.core.policy import Failback, PolicyKind, ServicePolicy, decide
from gtm.core.runbook import RunKind
from gtm.core.sites import SiteHealth, site_health

_STANDING = (IntentKind.PIN, IntentKind.DRAIN, IntentKind.FREEZE)
"""Intents operators write; shifts and TTL caps belong to runs."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request may not go ahead, naming what stands in its way."""

    message: str
    """One sentence for the operator, naming the site and its state, or the intent."""
    intent: Intent | None = None
    """The standing intent the request conflicts with, when that is the reason."""
    site: str | None = None
    """The site the request was refused for, when that is the reason."""


@dataclass(frozen=True, slots=True)
class Screening:
    """How a planned run stands against the intents in force."""

    refusal: Refusal | None
    """Why the run may not go ahead, or None."""
    replaced: tuple[Intent, ...] = ()
    """Intents the run withdraws when its own pin takes over (``replace_intents``)."""


_WHAT: dict[IntentKind, Callable[[Intent, str], str]] = {
    IntentKind.PIN: lambda i, about: f"pin of {about} to {i.site}",
    IntentKind.DRAIN: lambda i, _: (
        f"drain of {i.site}" + (f" for {i.service}" if i.service else "")
    ),
    IntentKind.FREEZE: lambda i, about: f"freeze of {about}",
    IntentKind.SHIFT: lambda i, about: f"shift of {i.share}% of {about} to {i.site}",
    IntentKind.TTL: lambda i, about: f"ttl cap of {about} at {i.ttl}s",
}
"""What each kind of intent does, by kind; every kind has its entry (a test holds it)."""


def describe(intent: Intent) -> str:
    """An intent as refusals name it: what it does, its id, who asked and why."""
    what = _WHAT[intent.kind](intent, intent.service or "every service")
    why = f": {intent.why}" if intent.why else ""
    return f"{what} (intent {intent.id}, by {intent.who or 'unknown'}{why})"


def admit(intent: Intent, sites: Lookup[str, SiteHealth], now: float) -> Refusal | None:
    """Whether an operator's intent may be stored now; None when it may.

    A pin to a site that is not healthy is refused unless forced: stored, it would be
    ignored until the site recovered, then move traffic there without anyone asking again.
    Drains and freezes are always admitted.

    Args:
        intent: The intent as asked for.
        sites: The health of each site of the intent's service (used for a pin).
        now: The current time; an intent already expired is refused.
    """
    if intent.expires_at is not None and intent.expires_at <= now:
        return Refusal(f"{describe(intent)} refused: it has already expired")
    if intent.kind is not IntentKind.PIN or intent.site is None:
        return None
    site = intent.site
    health = sites.get(site)
    if health is None and sites:
        return Refusal(
            f"pin of {intent.service} to {site} refused: {site} is not a site of "
            f"{intent.service}; its sites: {', '.join(sites)}",
            site=site,
        )
    if intent.force or (health is not None and health.healthy):
        return None
    state = health.reason if health is not None else f"the health of {site} is not known yet"
    return Refusal(
        f"pin of {intent.service} to {site} refused: {state}; "
        "pin with force to send traffic there anyway",
        site=site,
    )


def published_health(mapping: Mapping, now: float) -> dict[str, SiteHealth]:
    """Each site's health as a published mapping shows it, one locator up sufficing.

    For readers that have the registry but not the controller's health (the API without a
    runbook executor); the controller's own health, with each site's ``min_healthy``, is
    preferred wherever it is at hand.
    """
    by_site: dict[str, list[Locator]] = {}
    for loc in mapping.locators:
        by_site.setdefault(loc.site, []).append(loc)
    states = {State.UP: Verdict.UP, State.DOWN: Verdict.DOWN}
    return {
        site: site_health(
            site, [states.get(loc.state, Verdict.UNKNOWN) for loc in locs], 1, None, now
        )
        for site, locs in by_site.items()
    }


def target(
    kind: RunKind,
    policy: ServicePolicy,
    current: Mapping,
    verdicts: Lookup[str, Verdict],
    sites: Lookup[str, SiteHealth],
    intents: Sequence[Intent],
    now: float,
    to_site: str | None = None,
) -> str | Refusal:
    """The site a planned run of ``kind`` moves the service to.

    ``failback`` goes to the most preferred site; otherwise ``to_site`` when given, or the
    site the policy would move to if the active site failed now — healthy and not drained,
    in the policy's own order (after the active site, wrapping around, for whack-a-mole).
    """
    if kind is RunKind.FAILBACK:
        return policy.sites[0]
    if to_site:
        if to_site not in policy.sites:
            return Refusal(
                f"{to_site} is not a site of {policy.service}; "
                f"its sites: {', '.join(policy.sites)}",
                site=to_site,
            )
        return to_site
    active = current.active_site
    failed = {spec.id: Verdict.DOWN for spec in policy.locators if spec.site == active}
    gone = {
        site: replace(health, healthy=False) for site, health in sites.items() if site == active
    }
    drains = [i for i in intents if i.kind is IntentKind.DRAIN]
    chosen = decide(
        policy, current, {**verdicts, **failed}, {**sites, **gone}, drains, now
    ).mapping.active_site
    if chosen is None or chosen == active:
        return Refusal(
            f"{policy.service} has no healthy site that is not drained to move to besides {active}"
        )
    return chosen


def screen(
    service: str,
    to_site: str,
    intents: Sequence[Intent],
    now: float,
    replace_intents: bool = False,
    own: Collection[str] = (),
) -> Screening:
    """How a run of ``service`` to ``to_site`` stands against the intents in force.

    Args:
        service: The service the run moves.
        to_site: Its target.
        intents: Every standing intent.
        now: The current time; expired intents are ignored.
        replace_intents: Whether the run may withdraw the service's own pin or freeze.
        own: Ids of the run's own intents, which never stand in its way.
    """
    standing = [
        i
        for i in intents
        if i.kind in _STANDING
        and i.id not in own
        and i.active(now)
        and i.applies_to(service)
        and not (i.kind is IntentKind.PIN and i.site == to_site)
    ]
    lead = f"run of {service} to {to_site} refused"
    drains = [i for i in standing if i.kind is IntentKind.DRAIN and i.site == to_site]
    if drains:
        return Screening(
            Refusal(
                f"{lead}: {to_site} is drained, and a run never targets a drained site: "
                f"{describe(drains[0])}",
                drains[0],
                to_site,
            )
        )
    conflicts = [i for i in standing if i.kind is not IntentKind.DRAIN]
    shared = [i for i in conflicts if i.service is None]
    if shared:
        return Screening(
            Refusal(
                f"{lead}: {describe(shared[0])} stands, and a run of one service does not "
                "withdraw an intent about every service; withdraw it first",
                shared[0],
            )
        )
    if not conflicts:
        return Screening(None)
    if replace_intents:
        return Screening(None, tuple(conflicts))
    named = "; ".join(describe(i) for i in conflicts)
    return Screening(
        Refusal(
            f"{lead}: {named} would undo or block the move; withdraw it, or replace it "
            "with this run's pin (replace_intents, --replace-intents)",
            conflicts[0],
        )
    )


def keeps_pin(policy: ServicePolicy) -> bool:
    """Whether a finished run leaves its pin in place.

    Only whack-a-mole with manual fail-back keeps the new site by itself. Under
    ``priority`` or ``failback: auto`` dropping the pin would send traffic back to the
    preferred site, and under ``weighted`` the active site would again be the first
    healthy one: the run's move would not hold.
    """
    return policy.policy is not PolicyKind.WHACK_A_MOLE or policy.failback is Failback.AUTO


def outcome(
    policy: ServicePolicy,
    current: Mapping,
    verdicts: Lookup[str, Verdict],
    sites: Lookup[str, SiteHealth],
    intents: Sequence[Intent],
    to_site: str,
    now: float,
    *,
    force: bool = False,
    replaced: Collection[str] = (),
) -> Mapping:
    """The mapping a run to ``to_site`` leaves behind, decided as the controller decides.

    The run pins the service to ``to_site`` (withdrawing the ``replaced`` intents at the
    same time), and, once done, withdraws its pin unless :func:`keeps_pin`. The preview of
    a dry run is this mapping, so it shows what the real run publishes.
    """
    standing = [i for i in intents if i.id not in replaced]
    latest = max([now, *(i.created_at for i in standing)])
    pin = Intent("", IntentKind.PIN, policy.service, to_site, force=force, created_at=latest)
    switched = decide(policy, current, verdicts, sites, [*standing, pin], now).mapping
    if keeps_pin(policy):
        return switched
    return decide(policy, switched, verdicts, sites, standing, now).mapping
