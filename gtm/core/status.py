"""What an operator is told about a service: where its traffic goes now, and why.

``gtm status`` and its ``--json`` read these answers rather than working them out, so the
split they show is the one the selection rule gives (the DNS responder's, the client
library's), and the intents they list are the ones the policy applies.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from collections.abc import Mapping as Document
from dataclasses import dataclass
from typing import Any

from gtm.core.model import Event, Intent, Locator, Mapping, shares
from gtm.core.runbook import Run


@dataclass(frozen=True, slots=True)
class Share:
    """The part of a service's traffic one site gets."""

    site: str
    percent: float
    """Percent of new connections, to one decimal place."""


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """One service as ``gtm status`` shows it."""

    mapping: Mapping
    traffic: tuple[Share, ...]
    """Where traffic goes now: the active site first, then by share; empty: nowhere."""
    intents: tuple[Intent, ...]
    """The intents in force on the service, oldest first."""
    last_move: float | None
    """When the service last moved (to its active site), as the journal says; None when
    the journal holds no move of it (it has stayed where it started)."""
    locators: tuple[Locator, ...]
    """The mapping's locators by priority, then site, then id."""


@dataclass(frozen=True, slots=True)
class VantageStatus:
    """Whether the instance answering is degraded, as ``gtm status`` shows it."""

    instance: str
    degraded: bool
    reasons: tuple[str, ...] = ()
    """One sentence per symptom (loop lag, late probes, descriptors, a stalled store)."""
    since: float | None = None
    """Wall-clock time the degraded spell began; None when not degraded."""
    held: tuple[str, ...] = ()
    """Services whose new mapping waits for the vantage to recover."""
    damped: tuple[tuple[str, float], ...] = ()
    """Locators flap damping holds down, with their penalty, by locator id."""


def vantage_status(healthz: Document[str, Any]) -> VantageStatus:
    """The vantage part of a ``/healthz`` document; an instance without one is not degraded.

    Args:
        healthz: The document ``GET /healthz`` answered.
    """
    vantage = healthz.get("vantage")
    part: Document[str, Any] = vantage if isinstance(vantage, dict) else {}
    since = part.get("since")
    return VantageStatus(
        instance=str(healthz.get("instance", "")),
        degraded=part.get("degraded") is True,
        reasons=tuple(str(reason) for reason in part.get("reasons", ())),
        since=float(since) if isinstance(since, int | float) else None,
        held=tuple(str(service) for service in part.get("held", ())),
        damped=_damped(healthz.get("damping")),
    )


def _damped(damping: object) -> tuple[tuple[str, float], ...]:
    """The held locators of ``/healthz``'s ``damping``, anything garbled left out."""
    entries = damping.items() if isinstance(damping, dict) else ()
    return tuple(
        (str(locator), float(entry["penalty"]))
        for locator, entry in sorted(entries)
        if isinstance(entry, dict)
        and entry.get("suppressed") is True
        and isinstance(entry.get("penalty"), int | float)
    )


def vantage_doc(status: VantageStatus) -> dict[str, Any]:
    """``status`` as the ``vantage`` object of ``gtm status --json``."""
    return {
        "instance": status.instance,
        "degraded": status.degraded,
        "reasons": list(status.reasons),
        "since": status.since,
        "held": list(status.held),
    }


def traffic(mapping: Mapping) -> tuple[Share, ...]:
    """Each site's share of the service's traffic, by the selection rule and weights.

    The locators traffic goes to are the mapping's best (the all-down action included);
    they split by weight (all zero: equally), and a site's share is the sum of its
    locators'. The active site comes first, the others by share, then by name.
    """
    chosen = mapping.best()
    by_id = shares(chosen)
    by_site: dict[str, float] = {}
    for loc in chosen:
        by_site[loc.site] = by_site.get(loc.site, 0.0) + by_id[loc.id]
    ranked = sorted(
        by_site.items(), key=lambda item: (item[0] != mapping.active_site, -item[1], item[0])
    )
    return tuple(Share(site, round(part * 100, 1)) for site, part in ranked)


def in_force(intents: Iterable[Intent], service: str, now: float) -> tuple[Intent, ...]:
    """The intents that apply to ``service`` at ``now``, oldest first."""
    applying = [i for i in intents if i.active(now) and i.applies_to(service)]
    return tuple(sorted(applying, key=lambda i: (i.created_at, i.id)))


def owners(runs: Iterable[Run]) -> dict[str, str]:
    """The run that created each run-made intent still listed by its run: intent id to run id."""
    return {intent_id: run.id for run in runs for intent_id in run.intents}


def last_move(mapping: Mapping, events: Iterable[Event]) -> float | None:
    """When the service came to its active site: the latest journal event that moved it
    there, or None without one.

    The mapping's own ``updated_at`` is no stand-in: it changes with every step of a
    drain and every TTL change, none of which moves the service.
    """
    times = [
        event.time
        for event in events
        if event.service == mapping.service
        and event.to_site == mapping.active_site
        and event.from_site != event.to_site
    ]
    return max(times, default=None)


def by_priority(locators: Iterable[Locator]) -> tuple[Locator, ...]:
    """Locators in the order a client tries them: priority, then site, then id."""
    return tuple(sorted(locators, key=lambda loc: (loc.priority, loc.site, loc.id)))


def service_status(
    mapping: Mapping, intents: Sequence[Intent], events: Sequence[Event], now: float
) -> ServiceStatus:
    """Everything ``gtm status`` says about one service.

    Args:
        mapping: The service's mapping as the registry holds it.
        intents: Every standing intent; those in force on the service are kept.
        events: Journal events (moves); the latest that brought the service to its
            active site dates its last move.
        now: The current time; expired intents are left out.
    """
    return ServiceStatus(
        mapping=mapping,
        traffic=traffic(mapping),
        intents=in_force(intents, mapping.service, now),
        last_move=last_move(mapping, events),
        locators=by_priority(mapping.locators),
    )
