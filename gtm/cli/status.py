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
from gtm.errors import ApiUnreachable, NotFound, Unavailable

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
    dict[str, Any],
]
"""What ``status`` asks the API for: mappings, providers, intents, moves, runs, vantage,
releases and the cluster."""


def status(args: argparse.Namespace) -> int:
    """A table of services (where traffic goes, intents, reason, locators) and providers."""

    async def gather(client: GtmClient) -> Gathered:
        try:
            events = await client.events(kind=EventKind.MOVE, limit=MAX_EVENTS)
        except ApiUnreachable:
            raise
        except Unavailable:
            # The journal lives in the store: when the store cannot answer (a Consul
            # cluster without quorum), the rest of the status still can.
            events = []
        services, providers = await client.services(), await client.providers()
        intents, runs = await client.intents(), await client.runs()
        vantage, cluster = await client.vantage(), await client.cluster()
        releases = await releases_of(client)
        return services, providers, intents, events, runs, vantage, releases, cluster

    mappings, providers, intents, events, runs, vantage, releases, cluster = call(args, gather)
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
                "cluster": cluster,
            }
        )
        return 0
    if cluster.get("cluster"):
        for text in cluster_lines(cluster):
            print(text)
        print()
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


def cluster_lines(doc: dict[str, Any]) -> list[str]:
    """The cluster as ``GET /v1/cluster`` describes it: the leader and its term, this
    instance's part, every instance, each vantage, and Consul's health."""
    leader = doc.get("leader") or {}
    me = doc.get("instance") or "-"
    if leader.get("instance"):
        head = f"cluster: leader {leader['instance']} (term {leader.get('term')})"
        head += f" at {leader.get('address') or '-'}"
    else:
        head = "cluster: NO LEADER"
    part = "leads" if doc.get("acting") else f"does not act ({doc.get('why') or '-'})"
    lines = [f"{head}; this instance, {me}, {part}"]
    instances = [
        f"{entry.get('instance')} ({'alive' if entry.get('alive') else 'gone'}"
        f"{', leader' if entry.get('leader') else ''})"
        for entry in doc.get("instances") or []
    ]
    lines.append(f"    instances: {', '.join(instances) or '-'}")
    lines += vantages_lines(doc.get("vantages") or {})
    consul = doc.get("consul") or {}
    if consul.get("ok"):
        peers = len(consul.get("peers") or [])
        lines.append(f"    consul: leader {consul.get('leader')}, {peers} servers")
    else:
        lines.append(f"    consul: NO LEADER: {consul.get('why') or '-'}")
    lines += [f"    problem: {problem}" for problem in doc.get("problems") or []]
    return lines


def vantages_lines(doc: dict[str, Any]) -> list[str]:
    """The vantages' part of ``GET /v1/cluster``: the quorum, each live vantage (how many
    locators it judges up, down and unknown, or why it abstains), each lasting disagreement."""
    if not doc:
        return []
    lines = [f"    vantages (quorum {doc.get('quorum')}):"]
    for vantage in doc.get("vantages") or []:
        counts = vantage.get("verdicts") or {}
        judged = ", ".join(f"{counts.get(v, 0)} {v}" for v in ("up", "down", "unknown"))
        state = ""
        if vantage.get("degraded"):
            reasons = "; ".join(vantage.get("reasons") or []) or "no reason given"
            state = f" DEGRADED, does not vote: {reasons}"
        lines.append(f"      {vantage.get('name')}: {judged}{state}")
    for d in doc.get("disagreements") or []:
        lines.append(
            f"      disagrees: {d.get('vantage')} says {d.get('locator')} is {d.get('says')},"
            f" the quorum says {d.get('verdict')} (since {clock(float(d.get('since') or 0))};"
            " not obeyed)"
        )
    return lines


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
