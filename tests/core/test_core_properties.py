"""Properties over random health, intents and runs: what is reported is what happens.

- the active site a mapping names is where its traffic goes (``best()``);
- no decision moves traffic to a site that is down unless a forced pin asks for it (or
  every site is down or drained), and a planned run's target is never drained or down;
- a run's preview (``outcome``) is the mapping the controller ends up publishing when the
  run's intents are written and withdrawn one at a time, as the executor does.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from gtm.core.health import Verdict
from gtm.core.model import Action, Intent, IntentKind, Mapping
from gtm.core.moves import Refusal, keeps_pin, outcome, screen, target
from gtm.core.policy import AllDown, Failback, LocatorSpec, PolicyKind, ServicePolicy, decide
from gtm.core.runbook import RunKind
from gtm.core.sites import SiteHealth, site_health

SITES = ("aws-use1", "gcp-euw1", "dc-paris", "azure-weu")
NOW = 1000.0
SPECS = tuple(
    LocatorSpec(f"billing@{site}/lb-{n}", site, f"192.0.2.{i * 2 + n}", 443)
    for i, site in enumerate(SITES)
    for n in (1, 2)
)

policies = st.builds(
    lambda kind, all_down, failback: ServicePolicy(
        "billing", SITES, SPECS, policy=kind, all_down=all_down, failback=failback, dwell=60.0
    ),
    st.sampled_from(list(PolicyKind)),
    st.sampled_from(list(AllDown)),
    st.sampled_from(list(Failback)),
)
verdict_maps = st.fixed_dictionaries(
    {spec.id: st.sampled_from([Verdict.UP, Verdict.DOWN]) for spec in SPECS}
)
site_names = st.sampled_from(SITES)


@st.composite
def intent_lists(draw: st.DrawFn) -> list[Intent]:
    count = draw(st.integers(0, 4))
    intents = []
    for n in range(count):
        kind = draw(st.sampled_from([IntentKind.PIN, IntentKind.DRAIN, IntentKind.FREEZE]))
        service = "billing" if kind is IntentKind.PIN else draw(st.sampled_from(["billing", None]))
        site = None if kind is IntentKind.FREEZE else draw(site_names)
        force = kind is IntentKind.PIN and draw(st.booleans())
        intents.append(Intent(f"i{n}", kind, service, site, "alice", "why", float(n), force=force))
    return intents


def healths(policy: ServicePolicy, verdicts: dict[str, Verdict]) -> dict[str, SiteHealth]:
    return {
        site: site_health(
            site, [verdicts[s.id] for s in policy.locators if s.site == site], 1, None, 0.0
        )
        for site in policy.sites
    }


def published(
    policy: ServicePolicy, start: str, verdicts: dict[str, Verdict]
) -> tuple[Mapping, dict[str, SiteHealth]]:
    """A mapping the controller could have published, active on ``start``."""
    sites = healths(policy, verdicts)
    pin = Intent("start", IntentKind.PIN, "billing", start, force=True)
    first = decide(policy, None, verdicts, sites, [pin], 0.0).mapping
    return decide(policy, first, verdicts, sites, [], 0.0).mapping, sites


def visible(mapping: Mapping) -> tuple[object, ...]:
    return (
        mapping.active_site,
        mapping.epoch,
        mapping.ttl,
        mapping.action,
        tuple((loc.id, loc.priority, loc.weight, loc.state) for loc in mapping.locators),
    )


def forced_pin_to(intents: list[Intent], site: str | None) -> bool:
    pins = [i for i in intents if i.kind is IntentKind.PIN and i.applies_to("billing")]
    latest = max(pins, key=lambda i: i.created_at, default=None)
    return latest is not None and latest.site == site and latest.force


@settings(max_examples=300, deadline=None)
@given(policies, site_names, verdict_maps, verdict_maps, intent_lists())
def test_the_active_site_is_where_traffic_goes(
    policy: ServicePolicy,
    start: str,
    before: dict[str, Verdict],
    verdicts: dict[str, Verdict],
    intents: list[Intent],
) -> None:
    current, _ = published(policy, start, before)
    decision = decide(policy, current, verdicts, healths(policy, verdicts), intents, NOW)
    mapping = decision.mapping
    chosen = {loc.site for loc in mapping.best()}
    if chosen and mapping.action is not Action.OPEN:
        assert mapping.active_site in chosen, mapping.reason
        if policy.policy is not PolicyKind.WEIGHTED:
            assert chosen == {mapping.active_site}, mapping.reason


@settings(max_examples=300, deadline=None)
@given(policies, site_names, verdict_maps, verdict_maps, intent_lists())
def test_no_move_to_a_down_site_unless_forced(
    policy: ServicePolicy,
    start: str,
    before: dict[str, Verdict],
    verdicts: dict[str, Verdict],
    intents: list[Intent],
) -> None:
    current, _ = published(policy, start, before)
    sites = healths(policy, verdicts)
    decision = decide(policy, current, verdicts, sites, intents, NOW)
    new = decision.mapping.active_site
    drained = {i.site for i in intents if i.kind is IntentKind.DRAIN and i.applies_to("billing")}
    eligible = [site for site in SITES if sites[site].healthy and site not in drained]
    if decision.moved and new is not None and not sites[new].healthy:
        # Only an operator's forced pin, or the all-down rule when no site may take
        # traffic, puts the service on a site that is down.
        assert forced_pin_to(intents, new) or not eligible, decision.reason


@settings(max_examples=300, deadline=None)
@given(policies, site_names, verdict_maps, intent_lists(), st.booleans(), st.booleans())
def test_a_run_targets_a_healthy_undrained_site_and_its_preview_is_the_result(
    policy: ServicePolicy,
    start: str,
    verdicts: dict[str, Verdict],
    intents: list[Intent],
    replace_intents: bool,
    force: bool,
) -> None:
    current, sites = published(policy, start, verdicts)
    chosen = target(RunKind.FAILOVER, policy, current, verdicts, sites, intents, NOW)
    if isinstance(chosen, Refusal):
        return
    drained = {i.site for i in intents if i.kind is IntentKind.DRAIN and i.applies_to("billing")}
    assert sites[chosen].healthy and chosen not in drained and chosen != current.active_site
    screening = screen("billing", chosen, intents, NOW, replace_intents)
    if screening.refusal is not None:
        assert not replace_intents or screening.refusal.intent is not None
        return
    replaced = {i.id for i in screening.replaced}
    preview = outcome(
        policy, current, verdicts, sites, intents, chosen, NOW, force=force, replaced=replaced
    )

    # The executor: the run's pin is written, then the replaced intents are withdrawn,
    # then (unless the policy keeps it) the pin; the controller decides after each write.
    pin = Intent("run", IntentKind.PIN, "billing", chosen, force=force, created_at=NOW)
    standing = [*intents, pin]
    mapping = decide(policy, current, verdicts, sites, standing, NOW).mapping
    assert mapping.active_site == chosen  # the switch lands where the run said
    standing = [i for i in standing if i.id not in replaced]
    mapping = decide(policy, mapping, verdicts, sites, standing, NOW).mapping
    if not keeps_pin(policy):
        standing = [i for i in standing if i is not pin]
        mapping = decide(policy, mapping, verdicts, sites, standing, NOW).mapping
    assert visible(preview) == visible(replace(mapping, version=preview.version))
    assert mapping.active_site == chosen  # nothing standing moves it back
