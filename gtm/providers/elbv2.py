"""ELBv2 as a provider: an Application Load Balancer listener per service, weighted by site.

Each managed service has a listener whose forward action spreads requests over one
target group per site; the weights follow the mapping (the active site 100, the others
0; a weighted policy splits). Weights are computed purely (:func:`desired_weights`), the
new listener actions too (:func:`build_default_actions`), and :class:`Elbv2` carries
them with boto3 in a thread. gtm owns the weights, not the listeners: it never creates
or deletes one.
"""

from __future__ import annotations

from collections.abc import Mapping as Lookup
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from gtm.config.provider_checks import check_provider
from gtm.config.providers import Elbv2Provider
from gtm.core.changes import Change, ChangeKind, Owned
from gtm.core.model import Mapping, best, shares
from gtm.providers.aws import AwsRejected, Retry, call, make_client
from gtm.providers.base import Capabilities, managed

MAX_WEIGHT = 100
"""Weight of a target group that takes all the traffic (ELBv2 allows 0 to 999)."""


@dataclass(frozen=True, slots=True)
class ForwardWeights:
    """The target-group weights of one service's listener, sorted by target group ARN."""

    service: str
    listener_arn: str
    weights: tuple[tuple[str, int], ...]

    def describe(self) -> str:
        """A short text form for plans: ``billing-use1=100 billing-usw2=0``."""
        return " ".join(f"{_short(arn)}={weight}" for arn, weight in self.weights) or "no forward"


def _short(arn: str) -> str:
    # ``arn:…:targetgroup/<name>/<id>``: the name is what operators recognise.
    parts = arn.split("/")
    return parts[-2] if len(parts) >= 3 else arn


def desired_weights(mapping: Mapping, groups: Lookup[str, str]) -> tuple[tuple[str, int], ...]:
    """Weights for ``groups`` (site -> target group ARN) that send traffic where ``mapping`` says.

    A site's weight is its locators' share of ``mapping.best()`` times 100, among the
    sites that have a group (a site without one is out of this load balancer's reach, so
    it is ignored). A load balancer cannot answer "no such service", and a forward
    action whose weights are all 0 is at best a 503 for everyone, so when no locator of
    ``best()`` is in a site with a group, the weights fall back, in order, to:

    1. the best usable locators among the sites with a group (traffic went to a site
       this load balancer cannot reach; what still reaches it goes to the next best);
    2. the active site's group at 100 (nothing usable: keep the last place traffic went,
       as the ``stay`` rule would; DNS providers carry a ``closed`` service's absence);
    3. every group alike (no active site with a group either: nothing to prefer).
    """
    reachable = [loc for loc in mapping.locators if loc.site in groups]
    chosen = [loc for loc in mapping.best() if loc.site in groups] or list(best(reachable))
    by_site: dict[str, float] = {}
    if chosen:
        by_id = shares(chosen)
        for loc in chosen:
            by_site[loc.site] = by_site.get(loc.site, 0.0) + by_id[loc.id]
    elif mapping.active_site is not None and mapping.active_site in groups:
        by_site[mapping.active_site] = 1.0
    else:
        by_site = {site: 1.0 / len(groups) for site in groups}
    return tuple(
        sorted(
            (
                arn,
                max(1, round(MAX_WEIGHT * by_site[site])) if by_site.get(site, 0.0) > 0 else 0,
            )
            for site, arn in groups.items()
        )
    )


def observed_weights(actions: Sequence[dict[str, Any]]) -> tuple[tuple[str, int], ...]:
    """The target-group weights of a listener's forward action (none: no forward action)."""
    for action in actions:
        if action.get("Type") != "forward":
            continue
        tuples = action.get("ForwardConfig", {}).get("TargetGroups")
        if tuples:
            # A tuple without a weight gets ELBv2's default, 1.
            return tuple(sorted((t["TargetGroupArn"], int(t.get("Weight", 1))) for t in tuples))
        return ((action["TargetGroupArn"], 1),)
    return ()


def build_default_actions(
    current: Sequence[dict[str, Any]], weights: Sequence[tuple[str, int]]
) -> list[dict[str, Any]]:
    """A listener's new default actions: ``current`` with its last action a weighted forward.

    ``ModifyListener`` replaces the whole list, so authentication actions in front are
    kept (an OIDC one told to keep its stored client secret, which reads never return),
    as are the forward action's stickiness settings and the last action's order. The
    terminal action (forward, or a fixed response or redirect set by hand) is replaced.
    """
    kept: list[dict[str, Any]] = []
    terminal: dict[str, Any] = {}
    for action in current:
        if str(action.get("Type", "")).startswith("authenticate-"):
            copy = dict(action)
            oidc = copy.get("AuthenticateOidcConfig")
            if oidc is not None and "ClientSecret" not in oidc:
                copy["AuthenticateOidcConfig"] = {**oidc, "UseExistingClientSecret": True}
            kept.append(copy)
        else:
            terminal = action
    config: dict[str, Any] = {
        "TargetGroups": [{"TargetGroupArn": arn, "Weight": weight} for arn, weight in weights]
    }
    stickiness = terminal.get("ForwardConfig", {}).get("TargetGroupStickinessConfig")
    if terminal.get("Type") == "forward" and stickiness is not None:
        config["TargetGroupStickinessConfig"] = stickiness
    forward: dict[str, Any] = {"Type": "forward", "ForwardConfig": config}
    if "Order" in terminal:
        forward["Order"] = terminal["Order"]
    return [*kept, forward]


class Elbv2:
    """Application Load Balancer listeners whose target-group weights follow the mappings.

    Args:
        name: The provider's name from the config.
        config: Its settings: a listener per service, a target group per service and site.
        retry: How long to keep trying a throttled request before reporting the
            provider unavailable.

    Raises:
        ConfigError: An option is unusable (the checks of ``gtm config check``), or the
            credentials' secret references cannot be resolved.
    """

    kind = "elbv2"

    def __init__(self, name: str, config: Elbv2Provider, retry: Retry | None = None) -> None:
        check_provider(f"elbv2 {name}", config)
        self.name = name
        self.services = frozenset(config.services)
        # One ModifyListener call carries one listener's weights.
        self.capabilities = Capabilities(max_batch=1)
        self.listeners = dict(config.listeners)
        self.target_groups = {
            service: dict(sites) for service, sites in config.target_groups.items()
        }
        self.retry = retry or Retry()
        self.client = make_client(
            "elbv2",
            region=config.region,
            endpoint_url=config.endpoint_url,
            credentials=config.credentials,
            timeout=config.timeout,
        )

    def _handled(self, service: str) -> bool:
        return service in self.listeners and bool(self.target_groups.get(service))

    def _what(self, operation: str, arns: Sequence[str]) -> str:
        shown = ", ".join(arns[:3]) + (f" and {len(arns) - 3} more" if len(arns) > 3 else "")
        return f"elbv2 {self.name}: {operation} on listener(s) {shown}"

    def desired(self, mappings: Sequence[Mapping]) -> dict[str, Owned[ForwardWeights]]:
        """Weights for each managed service that has a listener and target groups."""
        items: dict[str, Owned[ForwardWeights]] = {}
        for mapping in managed(mappings, self.services):
            service = mapping.service
            if self._handled(service):
                weights = desired_weights(mapping, self.target_groups[service])
                item = ForwardWeights(service, self.listeners[service], weights)
                items[service] = Owned(service, item)
        return items

    async def observe(self) -> dict[str, Owned[ForwardWeights]]:
        """The forward weights the managed services' listeners hold now."""
        services = [
            s
            for s in self.listeners
            if self._handled(s) and (not self.services or s in self.services)
        ]
        actions = await self._actions([self.listeners[s] for s in services])
        return {
            service: Owned(
                service,
                ForwardWeights(
                    service,
                    self.listeners[service],
                    observed_weights(actions[self.listeners[service]]),
                ),
            )
            for service in services
        }

    async def _actions(self, arns: list[str]) -> dict[str, list[dict[str, Any]]]:
        if not arns:
            return {}

        def describe() -> dict[str, list[dict[str, Any]]]:
            paginator = self.client.get_paginator("describe_listeners")
            return {
                listener["ListenerArn"]: listener.get("DefaultActions", [])
                for page in paginator.paginate(ListenerArns=arns)
                for listener in page["Listeners"]
            }

        return await call(describe, self._what("DescribeListeners", arns), self.retry)

    async def apply(self, changes: Sequence[Change[ForwardWeights]]) -> None:
        """Set each changed listener's weights, one ``ModifyListener`` call per listener.

        Raises:
            AwsRejected: AWS refused a call, or a change would delete a service's
                listener weights (a configured service without a mapping): gtm does not
                own listeners, so it leaves them, after applying every other change.
        """
        updates = [change.after for change in changes if change.after is not None]
        current = await self._actions(sorted({item.listener_arn for item in updates}))
        for item in updates:
            actions = build_default_actions(current[item.listener_arn], item.weights)
            await call(
                partial(
                    self.client.modify_listener,
                    ListenerArn=item.listener_arn,
                    DefaultActions=actions,
                ),
                self._what(f"ModifyListener for {item.service}", [item.listener_arn]),
                self.retry,
            )
        removed = [change for change in changes if change.kind is ChangeKind.DELETE]
        if removed:
            raise AwsRejected(
                f"elbv2 {self.name}: will not remove the listener weights of "
                f"{', '.join(change.service for change in removed)}: they have no mapping, "
                "and gtm does not own listeners; publish a mapping or remove the service "
                "from this provider's listeners",
                "NoMapping",
            )

    async def close(self) -> None:
        """Close the client's connections."""
        self.client.close()
