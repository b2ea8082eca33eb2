"""The ``events`` command: the journal, filtered, with each move's timeline."""

from __future__ import annotations

import argparse

from gtm.cli.calls import call
from gtm.cli.render import describe_event, print_json
from gtm.cli.watch import follow_events
from gtm.core.codec import event_to_dict
from gtm.core.journal import EventKind


def events(args: argparse.Namespace) -> int:
    """Print the newest matching events, oldest first; with ``--follow``, then new ones."""
    if args.follow:
        return follow_events(args)
    kind = None if args.kind is None else EventKind(args.kind)
    found = call(
        args,
        lambda client: client.events(
            service=args.service,
            limit=args.limit,
            site=args.site,
            kind=kind,
            since=args.since,
            until=args.until,
        ),
    )
    if args.json:
        print_json({"events": [event_to_dict(e) for e in found]})
        return 0
    for event in found:
        print(describe_event(event))
    return 0
