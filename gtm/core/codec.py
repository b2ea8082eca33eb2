"""JSON-ready dicts for the model, shared by the stores, the API and the CLI.

One place decides how a mapping, an intent or an event looks on the wire, so the API's
answer, the SQLite row and the Consul key hold the same document.
"""

from __future__ import annotations

from typing import Any

from gtm.core.model import Action, Event, Intent, IntentKind, Locator, Mapping, State

Document = dict[str, Any]


def locator_to_dict(loc: Locator) -> Document:
    """A locator as a JSON object."""
    return {
        "id": loc.id,
        "site": loc.site,
        "address": loc.address,
        "port": loc.port,
        "priority": loc.priority,
        "weight": loc.weight,
        "state": loc.state.value,
    }


def locator_from_dict(doc: Document) -> Locator:
    """The inverse of :func:`locator_to_dict`."""
    return Locator(
        id=str(doc["id"]),
        site=str(doc["site"]),
        address=str(doc["address"]),
        port=int(doc["port"]),
        priority=int(doc["priority"]),
        weight=int(doc["weight"]),
        state=State(doc["state"]),
    )


def mapping_to_dict(mapping: Mapping) -> Document:
    """A mapping as a JSON object (the API's resolve answer)."""
    return {
        "service": mapping.service,
        "version": mapping.version,
        "epoch": mapping.epoch,
        "ttl": mapping.ttl,
        "active_site": mapping.active_site,
        "action": mapping.action.value,
        "locators": [locator_to_dict(loc) for loc in mapping.locators],
        "reason": mapping.reason,
        "updated_at": mapping.updated_at,
        "written_by": mapping.written_by,
    }


def mapping_from_dict(doc: Document) -> Mapping:
    """The inverse of :func:`mapping_to_dict`."""
    return Mapping(
        service=str(doc["service"]),
        version=int(doc["version"]),
        epoch=int(doc["epoch"]),
        ttl=int(doc["ttl"]),
        active_site=doc.get("active_site"),
        locators=tuple(locator_from_dict(item) for item in doc.get("locators", [])),
        action=Action(doc.get("action", Action.NONE.value)),
        reason=str(doc.get("reason", "")),
        updated_at=float(doc.get("updated_at", 0.0)),
        written_by=str(doc.get("written_by", "")),
    )


def intent_to_dict(intent: Intent) -> Document:
    """An intent as a JSON object."""
    return {
        "id": intent.id,
        "kind": intent.kind.value,
        "service": intent.service,
        "site": intent.site,
        "who": intent.who,
        "why": intent.why,
        "created_at": intent.created_at,
        "expires_at": intent.expires_at,
        "force": intent.force,
        "share": intent.share,
        "ttl": intent.ttl,
    }


def intent_from_dict(doc: Document) -> Intent:
    """The inverse of :func:`intent_to_dict`."""
    expires = doc.get("expires_at")
    return Intent(
        id=str(doc["id"]),
        kind=IntentKind(doc["kind"]),
        service=doc.get("service"),
        site=doc.get("site"),
        who=str(doc.get("who", "")),
        why=str(doc.get("why", "")),
        created_at=float(doc.get("created_at", 0.0)),
        expires_at=None if expires is None else float(expires),
        force=bool(doc.get("force", False)),
        share=None if doc.get("share") is None else int(doc["share"]),
        ttl=None if doc.get("ttl") is None else int(doc["ttl"]),
    )


def event_to_dict(event: Event) -> Document:
    """A journal event as a JSON object."""
    doc: Document = {
        "seq": event.seq,
        "kind": event.kind,
        "service": event.service,
        "time": event.time,
        "reason": event.reason,
        "from_site": event.from_site,
        "to_site": event.to_site,
        "epoch": event.epoch,
        "version": event.version,
        "actor": event.actor,
        "timeline": dict(event.timeline),
    }
    if event.votes:
        doc["votes"] = {locator: dict(votes) for locator, votes in event.votes.items()}
    return doc


def event_from_dict(doc: Document) -> Event:
    """The inverse of :func:`event_to_dict`."""
    return Event(
        kind=str(doc["kind"]),
        service=doc.get("service"),
        time=float(doc["time"]),
        reason=str(doc.get("reason", "")),
        seq=int(doc.get("seq", 0)),
        from_site=doc.get("from_site"),
        to_site=doc.get("to_site"),
        epoch=doc.get("epoch"),
        version=doc.get("version"),
        actor=str(doc.get("actor", "controller")),
        timeline={str(k): float(v) for k, v in doc.get("timeline", {}).items()},
        votes={
            str(locator): {str(k): str(v) for k, v in votes.items()}
            for locator, votes in doc.get("votes", {}).items()
        },
    )
