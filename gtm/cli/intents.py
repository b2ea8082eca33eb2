"""Commands that write or list intents: pin, drain, maintenance, freeze, unfreeze, intents."""

from __future__ import annotations

import argparse

from gtm.cli.calls import call
from gtm.cli.render import clock, describe_intent, intent_doc, print_json, print_table
from gtm.client import GtmClient, IntentRequest
from gtm.core.codec import intent_to_dict
from gtm.core.model import Intent, IntentKind
from gtm.core.runbook import Run
from gtm.core.status import owners


def pin(args: argparse.Namespace) -> int:
    """Pin a service to a site."""
    return add_intent(args, IntentKind.PIN, args.service, args.site, force=args.force)


def drain(args: argparse.Namespace) -> int:
    """Drain a site, for one service or every one, until withdrawn or ``--ttl``."""
    return add_intent(args, IntentKind.DRAIN, args.service, args.site)


def maintenance(args: argparse.Namespace) -> int:
    """Drain a site for the length of a window (``--for``)."""
    return add_intent(args, IntentKind.DRAIN, args.service, args.site)


def freeze(args: argparse.Namespace) -> int:
    """Stop automatic moves of one service, or of every one."""
    return add_intent(args, IntentKind.FREEZE, args.service, None)


def unfreeze(args: argparse.Namespace) -> int:
    """Withdraw the freezes of one service, or every freeze."""

    async def withdraw(client: GtmClient) -> list[Intent]:
        freezes = [
            i
            for i in await client.intents()
            if i.kind is IntentKind.FREEZE and (args.service is None or i.service == args.service)
        ]
        return [await client.remove_intent(i.id) for i in freezes]

    removed = call(args, withdraw)
    if args.json:
        print_json({"removed": [intent_to_dict(i) for i in removed]})
        return 0
    for intent in removed:
        print(f"withdrew intent {intent.id} ({describe_intent(intent)})")
    if not removed:
        print("no freeze to withdraw")
    return 0


def intents(args: argparse.Namespace) -> int:
    """List the standing intents, each with the run that made it; or withdraw one."""
    if args.delete:
        removed = call(args, lambda client: client.remove_intent(args.delete))
        if args.json:
            print_json(intent_to_dict(removed))
        else:
            print(f"deleted intent {removed.id} ({describe_intent(removed)})")
        return 0

    async def both(client: GtmClient) -> tuple[list[Intent], list[Run]]:
        return await client.intents(), await client.runs()

    standing, runs = call(args, both)
    owned = owners(runs)
    if args.json:
        print_json({"intents": [intent_doc(i, owned) for i in standing]})
        return 0
    rows = [["ID", "INTENT", "WHO", "WHY", "EXPIRES"]]
    for intent in standing:
        rows.append(
            [
                intent.id,
                describe_intent(intent, owned.get(intent.id)),
                intent.who or "-",
                intent.why,
                clock(intent.expires_at) if intent.expires_at else "never",
            ]
        )
    print_table(rows)
    return 0


def add_intent(
    args: argparse.Namespace,
    kind: IntentKind,
    service: str | None,
    site: str | None,
    *,
    force: bool = False,
) -> int:
    """Ask for an intent with the command's reason, author and ``--ttl``; print it."""
    request = IntentRequest(
        kind=kind,
        why=args.reason,
        service=service,
        site=site,
        ttl=args.ttl,
        force=force,
        who=args.who or None,
    )
    intent = call(args, lambda client: client.add_intent(request))
    if args.json:
        print_json(intent_to_dict(intent))
    else:
        print(f"intent {intent.id}: {describe_intent(intent)} ({intent.why})")
    return 0
