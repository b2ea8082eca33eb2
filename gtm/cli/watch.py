"""``gtm watch``, ``gtm events --follow``, ``gtm resolve --watch``: a running gtm's changes,
as they happen.

Both read the API's live feed through :meth:`gtm.client.GtmClient.feed`, which reconnects
by itself; they say when gtm is lost and when it is back, so a quiet screen means a quiet
gtm, not a dead connection.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from gtm.cli.calls import call
from gtm.cli.render import clock, describe_event, mapping_lines, move_text, run_line, step_line
from gtm.client import GtmClient
from gtm.core.codec import event_to_dict, mapping_to_dict
from gtm.core.journal import EventKind
from gtm.core.model import Event, Mapping
from gtm.core.runbook import Run, RunState, run_to_dict
from gtm.errors import GtmError
from gtm.feed import FeedItem, JournalEntry, Lost, MappingChange, Regained, RunProgress, Snapshot


def watch(args: argparse.Namespace) -> int:
    """Print every change of the services named (all by default) until interrupted."""
    printer = ChangePrinter(args.json, time.time)

    async def follow(client: GtmClient) -> None:
        async for item in client.feed(args.services):
            printer.show(item)

    call(args, follow)
    return 0


def resolve_watch(args: argparse.Namespace) -> int:
    """``gtm resolve NAME --watch``: the service's mapping, then every new version of it."""
    printer = MappingPrinter(args.json, time.time)

    async def follow(client: GtmClient) -> None:
        async for item in client.feed([args.service]):
            printer.show(item)

    call(args, follow)
    return 0


def stamp(at: float) -> str:
    """``2026-12-02 04:40:01.123``: a change's wall-clock time, to the millisecond."""
    return f"{clock(at)}.{int(at * 1000) % 1000:03d}"


def emit(doc: dict[str, Any]) -> None:
    """One JSON object on one line, flushed, so a reader sees it at once."""
    print(json.dumps(doc, sort_keys=True, separators=(",", ":")), flush=True)


class ChangePrinter:
    """Prints feed items as ``gtm watch`` shows them, one line each.

    Remembers each service's last mapping, so a change shows where traffic was before, and
    a snapshot after gtm restarted shows only what changed while it was away; and each
    planned run's last revision, so a run's progress is printed once per change.

    Args:
        as_json: One JSON object per line instead of text.
        now: Wall clock, for the time of the client's own news (lost, regained).
    """

    def __init__(self, as_json: bool, now: Callable[[], float]) -> None:
        self._json = as_json
        self._now = now
        self._known: dict[str, Mapping] = {}
        self._revisions: dict[str, int] = {}

    def show(self, item: FeedItem) -> None:
        """Print ``item`` (nothing for a snapshot that changes nothing known)."""
        match item:
            case Snapshot(mappings):
                for mapping in mappings:
                    known = self._known.get(mapping.service)
                    if known is None or known.version != mapping.version:
                        self._mapping(mapping)
            case MappingChange(mapping):
                self._mapping(mapping)
            case JournalEntry(event):
                self._event(event)
            case RunProgress(run):
                self._run(run)
            case Lost(url, reason, _):
                self._news("lost", f"lost gtm at {url}: {reason}; retrying", url, reason)
            case Regained(url):
                self._news("regained", f"regained gtm at {url}", url, None)

    def _mapping(self, mapping: Mapping) -> None:
        before = self._known.get(mapping.service)
        self._known[mapping.service] = mapping
        at = mapping.updated_at or self._now()
        old = None if before is None else before.active_site
        if self._json:
            emit(
                {
                    "type": "mapping",
                    "time": at,
                    "service": mapping.service,
                    "from_site": old,
                    "to_site": mapping.active_site,
                    "version": mapping.version,
                    "epoch": mapping.epoch,
                    "reason": mapping.reason,
                    "mapping": mapping_to_dict(mapping),
                }
            )
            return
        where = (
            f"now at {mapping.active_site or '-'}"
            if before is None
            else f"{old or '-'} -> {mapping.active_site or '-'}"
        )
        print(
            f"{stamp(at)}  {mapping.service}  {where}  version {mapping.version}, "
            f"epoch {mapping.epoch}: {mapping.reason}",
            flush=True,
        )

    def _event(self, event: Event) -> None:
        if self._json:
            emit({"type": "journal", "time": event.time, "event": event_to_dict(event)})
            return
        sites = ""
        if event.from_site or event.to_site:
            sites = f"  {event.from_site or '-'} -> {event.to_site or '-'}"
        print(
            f"{stamp(event.time)}  {event.service or '-'}  {event.kind} #{event.seq}{sites}: "
            f"{event.reason}",
            flush=True,
        )

    def _run(self, run: Run) -> None:
        if self._revisions.get(run.id, -1) >= run.revision:
            return
        self._revisions[run.id] = run.revision
        last = run.steps[-1] if run.steps else None
        if last is None:
            at = run.created_at
        else:
            at = last.finished_at if last.finished_at is not None else last.started_at
        if self._json:
            emit({"type": "run", "time": at, "run": run_to_dict(run)})
            return
        if run.state is not RunState.RUNNING:
            what = run_line(run)
        elif last is None:
            what = f"started by {run.who or '-'}: {run.reason}"
        else:
            what = step_line(last).strip()
        print(
            f"{stamp(at)}  {run.service}  run {run.id} {run.kind} {move_text(run)}: {what}",
            flush=True,
        )

    def now(self) -> float:
        """The wall-clock time now."""
        return self._now()

    def _news(self, kind: str, text: str, url: str, reason: str | None) -> None:
        at = self._now()
        if self._json:
            doc: dict[str, Any] = {"type": kind, "time": at, "url": url}
            if reason is not None:
                doc["reason"] = reason
            emit(doc)
            return
        print(f"{stamp(at)}  {text}", flush=True)


def follow_events(args: argparse.Namespace) -> int:
    """``gtm events --follow``: the newest matching events, then each new one as recorded."""
    if args.until is not None:
        raise GtmError("events: --follow shows events as they come; it takes no --until")
    kind = None if args.kind is None else EventKind(args.kind)

    def matches(event: Event) -> bool:
        return (
            (args.service is None or event.service == args.service)
            and (kind is None or event.kind == kind)
            and (args.site is None or args.site in (event.from_site, event.to_site))
        )

    def show(event: Event) -> None:
        if args.json:
            emit(event_to_dict(event))
        else:
            print(describe_event(event), flush=True)

    def note(text: str) -> None:
        print(f"{stamp(time.time())}  {text}", file=sys.stderr, flush=True)

    async def follow(client: GtmClient) -> None:
        shown: set[int] | None = None
        services = () if args.service is None else (args.service,)
        async for item in client.feed(services):
            match item:
                case Snapshot() if shown is None:
                    # The stream is open before the journal is read: nothing falls between.
                    found = await client.events(
                        service=args.service,
                        limit=args.limit,
                        site=args.site,
                        kind=kind,
                        since=args.since,
                    )
                    shown = {event.seq for event in found}
                    for event in found:
                        show(event)
                case JournalEntry(event) if shown is not None and matches(event):
                    if event.seq not in shown:
                        show(event)
                case Lost(url, reason, _):
                    note(f"lost gtm at {url}: {reason}; retrying")
                case Regained(url):
                    note(f"regained gtm at {url}")

    call(args, follow)
    return 0


class MappingPrinter:
    """Prints one service's mappings as ``gtm resolve --watch`` shows them: each new version
    as ``gtm resolve`` would, every line stamped with the time it was published, and the
    client's own news (gtm lost, regained) as :class:`ChangePrinter` does.

    Args:
        as_json: One JSON object per line instead of text.
        now: Wall clock, for the time of the client's own news.
    """

    def __init__(self, as_json: bool, now: Callable[[], float]) -> None:
        self._json = as_json
        self._version = -1
        self._news = ChangePrinter(as_json, now)

    def show(self, item: FeedItem) -> None:
        """Print ``item`` when it is a new version of the mapping or news of the connection."""
        match item:
            case Snapshot(mappings):
                for mapping in mappings:
                    self._mapping(mapping)
            case MappingChange(mapping):
                self._mapping(mapping)
            case Lost() | Regained():
                self._news.show(item)

    def _mapping(self, mapping: Mapping) -> None:
        if mapping.version <= self._version:
            return
        self._version = mapping.version
        at = mapping.updated_at or self._news.now()
        if self._json:
            emit({"type": "mapping", "time": at, "mapping": mapping_to_dict(mapping)})
            return
        for line in mapping_lines(mapping):
            print(f"{stamp(at)}  {line}", flush=True)
