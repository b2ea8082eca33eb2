"""What a running gtm says about its services: ``status`` (all of them) and ``resolve``."""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from typing import Any

from gtm.cli.calls import call
from gtm.cli.render import (
    clock,
    describe_intent,
    duration_text,
    intent_doc,
    locator_text,
    print_json,
    print_mapping,
    print_table,
    traffic,
)
from gtm.cli.watch import resolve_watch
from gtm.client import GtmClient
from gtm.core.codec import mapping_to_dict
from gtm.core.journal import EventKind
from gtm.core.model import Event, Intent, Mapping
from gtm.core.readiness import ServiceReleases
from gtm.core.reports import ProviderReport, provider_report_to_dict
from gtm.core.runbook import Run
from gtm.core.status import (
    ServiceStatus,
    VantageStatus,
    owners,
    service_status,
    vantage_doc,
)
from gtm.errors import NotFound

MAX_EVENTS = 1000
"""Most journal moves ``gtm status`` reads to date each service's last move."""

Gathered = tuple[
    list[Mapping],
    list[ProviderReport],
    list[Intent],
    list[Event],
    list[Run],
    VantageStatus,
    list[ServiceReleases],
]
"""What ``status`` asks the API for: mappings, providers, intents, moves, runs, vantage,
releases."""


def status(args: argparse.Namespace) -> int:
    """A table of services (where traffic goes, intents, reason, locators) and providers."""

    async def gather(client: GtmClient) -> Gathered:
        events = await client.events(kind=EventKind.MOVE, limit=MAX_EVENTS)
        services, providers = await client.services(), await client.providers()
        intents, runs = await client.intents(), await client.runs()
        vantage = await client.vantage()
        return services, providers, intents, events, runs, vantage, await releases_of(client)

    mappings, providers, intents, events, runs, vantage, releases = call(args, gather)
    now = time.time()
    statuses = [service_status(m, intents, events, now) for m in mappings]
    owned = owners(runs)
    drifts = {item.service: item for item in releases}
    if args.json:
        print_json(
            {
                "services": [
                    {
                        **status_doc(status, owned, now),
                        **release_doc(drifts.get(status.mapping.service)),
                    }
                    for status in statuses
                ],
                "providers": [provider_report_to_dict(p) for p in providers],
                "vantage": vantage_doc(vantage),
            }
        )
        return 0
    if vantage.degraded:
        print(vantage_line(vantage))
        print()
    print_statuses(statuses, owned, now, dict(vantage.damped), drifts)
    if providers:
        print()
        rows = [["PROVIDER", "TYPE", "LAST SUCCESS", "PENDING", "LAST ERROR"]]
        for item in providers:
            success = item.last_success
            rows.append(
                [
                    item.name,
                    item.kind,
                    clock(success) if success else "never",
                    str(item.pending),
                    (item.last_error or "-")[:80],
                ]
            )
        print_table(rows)
    return 0


def vantage_line(vantage: VantageStatus) -> str:
    """One line saying the instance distrusts itself, why, and which moves wait for it."""
    since = f" since {clock(vantage.since)}" if vantage.since is not None else ""
    reasons = "; ".join(vantage.reasons) or "no reason given"
    held = f"; held: {', '.join(vantage.held)}" if vantage.held else ""
    return (
        f"vantage {vantage.instance or '-'} DEGRADED{since}: {reasons}{held} "
        "(no automatic move until it recovers)"
    )


def print_statuses(
    statuses: list[ServiceStatus],
    owned: dict[str, str],
    now: float,
    damped: dict[str, float],
    releases: dict[str, ServiceReleases] | None = None,
) -> None:
    """One row per service, then its reason, a release drift, intents and locators.

    ``damped``: the penalty of each locator flap damping holds down, by locator id.
    ``releases``: each service's releases by site; a line shows when its sites drift.
    """
    rows = [["SERVICE", "ACTIVE", "EPOCH", "VERSION", "TRAFFIC", "LAST MOVE"]]
    for status in statuses:
        mapping = status.mapping
        rows.append(
            [
                mapping.service,
                mapping.active_site or "-",
                str(mapping.epoch),
                str(mapping.version),
                traffic(status.traffic),
                "never"
                if status.last_move is None
                else f"{duration_text(now - status.last_move)} ago",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def line(row: list[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))

    print(line(rows[0]).rstrip())
    for row, status in zip(rows[1:], statuses, strict=True):
        print(line(row).rstrip())
        print(f"    reason: {status.mapping.reason or '-'}")
        drift = (releases or {}).get(status.mapping.service)
        if drift is not None and drift.drift:
            print(f"    {drift.describe()}")
        for intent in status.intents:
            until = clock(intent.expires_at) if intent.expires_at else "never"
            print(
                f"    intent {intent.id}: {describe_intent(intent, owned.get(intent.id))}, "
                f"by {intent.who or '-'}, until {until}"
            )
        sites = [loc.site for loc in status.locators]
        print(
            "    locators: "
            + " ".join(
                locator_text(loc, sites.count(loc.site) > 1, damped.get(loc.id))
                for loc in status.locators
            )
        )


def status_doc(status: ServiceStatus, owned: dict[str, str], now: float) -> dict[str, Any]:
    """A service's status as JSON: its mapping's fields and what the text shows besides."""
    doc = mapping_to_dict(replace(status.mapping, locators=status.locators))
    doc["traffic"] = [{"site": share.site, "percent": share.percent} for share in status.traffic]
    doc["intents"] = [intent_doc(intent, owned) for intent in status.intents]
    moved = status.last_move
    doc["last_move"] = moved
    doc["seconds_since_move"] = None if moved is None else round(now - moved, 3)
    return doc


async def releases_of(client: GtmClient) -> list[ServiceReleases]:
    """Each service's releases by site; none from an API that does not serve them."""
    try:
        return await client.releases()
    except NotFound:
        return []


def release_doc(releases: ServiceReleases | None) -> dict[str, Any]:
    """A service's releases in its ``status --json`` document: by site, and the drift."""
    if releases is None:
        return {}
    return {
        "readiness": releases.readiness.value,
        "releases": dict(releases.sites),
        "release_drift": releases.drift,
    }


def resolve(args: argparse.Namespace) -> int:
    if args.watch:
        return resolve_watch(args)
    print_mapping(call(args, lambda client: client.resolve(args.service)), args.json)
    return 0
