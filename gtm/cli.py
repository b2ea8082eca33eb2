"""The ``gtm`` command: thin wrappers that parse arguments, load config and call the parts.

Commands that read or change a running gtm (status, resolve, pin, drain, freeze, intents,
events) talk to its sidecar API, so they work the same against a local or a remote gtm.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar, assert_never

from gtm import __version__
from gtm.api.events import EVENT_KINDS
from gtm.api.query import parse_moment, parse_seconds
from gtm.client import GtmClient
from gtm.core.codec import event_to_dict, intent_to_dict, mapping_to_dict
from gtm.core.model import Event, Intent, IntentKind, Locator, Mapping
from gtm.core.runbook import run_from_dict
from gtm.core.status import ServiceStatus, Share, owners, service_status
from gtm.errors import ApiUnreachable, ConfigError, GtmError, Unauthorized

T = TypeVar("T")
Handler = Callable[[argparse.Namespace], int]

DEFAULT_CONFIG = "config/gtm.yaml"
DEFAULT_API = "http://127.0.0.1:18080"
MAX_EVENTS = 1000
"""Most journal moves ``gtm status`` reads to date each service's last move."""


def main(argv: list[str] | None = None) -> int:
    """Run the ``gtm`` command; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    handler: Handler = args.func
    try:
        return handler(args)
    except ConfigError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return 1
    except GtmError as exc:
        print(f"gtm: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


# -- parser ---------------------------------------------------------------------------

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
REASON_HELP = "why: kept in the audit journal (required)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gtm",
        description=(
            "gtm moves traffic between replicated sites: it probes every replica, fails a "
            "service over to the next healthy site when its site dies (whack-a-mole, no "
            "automatic fail-back), and publishes where each service is over DNS and HTTP."
        ),
        epilog=(
            "Start with 'gtm demo', or 'gtm run -c config/gtm.example.yaml'. Commands that "
            "read or change a running gtm reach its API at --api URL, $GTM_API or "
            f"{DEFAULT_API}; changes need a token (--token or $GTM_TOKEN). "
            "'gtm COMMAND --help' explains each command."
        ),
    )
    parser.add_argument("--version", action="version", version=f"gtm {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, text: str, handler: Handler, more: str = "") -> argparse.ArgumentParser:
        """A subcommand: ``text`` in the command list; ``more`` added to its own --help."""
        description = f"{text[:1].upper()}{text[1:]}." + (f" {more}" if more else "")
        cmd = commands.add_parser(name, help=text, description=description)
        cmd.set_defaults(func=handler, command=name, parser=cmd)
        return cmd

    run = command(
        "run",
        "run gtm: probers, controller, DNS responder and API",
        _cmd_run,
        "Runs until Ctrl-C or SIGTERM. Check the config first with 'gtm config check FILE'.",
    )
    run.add_argument(
        "-c",
        "--config",
        default=DEFAULT_CONFIG,
        metavar="FILE",
        help=f"config file (default {DEFAULT_CONFIG})",
    )
    run.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=LOG_LEVELS,
        help="least severe log level shown: DEBUG, INFO, WARNING or ERROR, in any case "
        "(default INFO)",
    )

    config = command("config", "check a config file", _usage)
    config_commands = config.add_subparsers(title="config commands", metavar="COMMAND")
    check = config_commands.add_parser(
        "check",
        help="report every problem of a config file, each with field, value, fix",
        description="Report every problem of a config file, each with its field, value and "
        "fix; exit 1 when there is any.",
    )
    check.add_argument("file", help="config file (YAML) to check")
    check.add_argument(
        "--secrets",
        action="store_true",
        help="also resolve every secret reference (env:NAME, file:PATH) and report the ones "
        "missing",
    )
    check.set_defaults(func=_cmd_config_check, command="config check", parser=check)

    def api_args(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument(
            "--api",
            metavar="URL",
            help="base URL of the gtm API (default: the api.listen of -c FILE, else $GTM_API, "
            f"else {DEFAULT_API})",
        )
        cmd.add_argument(
            "-c", "--config", metavar="FILE", help="take the API address from this config file"
        )
        cmd.add_argument("--json", action="store_true", help="print JSON instead of text")

    def token_arg(cmd: argparse.ArgumentParser, scope: str) -> None:
        cmd.add_argument(
            "--token",
            default=os.environ.get("GTM_TOKEN"),
            help=f"API bearer token, of scope {scope} or higher (default: $GTM_TOKEN)",
        )

    def reason_arg(cmd: argparse.ArgumentParser, *, required: bool = True) -> None:
        cmd.add_argument(
            "--reason", "--why", dest="reason", metavar="TEXT", required=required, help=REASON_HELP
        )

    def intent_args(cmd: argparse.ArgumentParser, *, ttl: bool = True) -> None:
        api_args(cmd)
        token_arg(cmd, "operate")
        reason_arg(cmd)
        if ttl:
            cmd.add_argument(
                "--ttl",
                type=_duration,
                metavar="DURATION",
                help="withdraw it by itself after this long, e.g. 30m, 2h (default: never)",
            )
        cmd.add_argument(
            "--who",
            default=os.environ.get("USER", ""),
            help="who asks (default: $USER); the journal names the token as the author and "
            "this name as 'on behalf of' when it differs",
        )

    for verb, text, handler in (
        (
            "plan",
            "show, per provider, what its system must change to hold gtm's mappings",
            _cmd_plan,
        ),
        ("apply", "make every provider's system hold gtm's mappings now", _cmd_apply),
    ):
        cmd = command(verb, text, handler)
        cmd.add_argument(
            "-c",
            "--config",
            default=DEFAULT_CONFIG,
            metavar="FILE",
            help=f"config file (default {DEFAULT_CONFIG})",
        )
        cmd.add_argument(
            "--provider",
            action="append",
            metavar="NAME",
            help="only this provider, by its name in the config (repeatable; default: all)",
        )
        cmd.add_argument(
            "--force",
            action="store_true",
            help="include changes the safety rule refuses (leaving a service with no records)",
        )

    status = command(
        "status",
        "table of services (active site, epoch, locator states) and providers",
        _cmd_status,
    )
    api_args(status)

    resolve = command(
        "resolve", "where a service is now: its addresses, active site and epoch", _cmd_resolve
    )
    resolve.add_argument("service", help="the service, by its name in the config")
    resolve.add_argument(
        "--watch", action="store_true", help="keep running and print every change as it happens"
    )
    api_args(resolve)

    pin = command(
        "pin",
        "serve a service from one site (an intent)",
        _cmd_pin,
        "The pin stands until --ttl runs out or 'gtm intents --delete ID' withdraws it.",
    )
    pin.add_argument("service", help="the service, by its name in the config")
    pin.add_argument("site", help="the site, by its name in the config")
    pin.add_argument(
        "--force", action="store_true", help="pin even if the site is down (needs scope admin)"
    )
    intent_args(pin)

    drain = command(
        "drain",
        "drain a site: no traffic and no new primaries there (an intent)",
        _cmd_drain,
        "The drain stands until --ttl runs out or 'gtm intents --delete ID' withdraws it.",
    )
    drain.add_argument("site", help="the site, by its name in the config")
    drain.add_argument("--service", help="only this service (default: every service)")
    intent_args(drain)

    freeze = command(
        "freeze",
        "stop automatic moves of one service or of all (an intent)",
        _cmd_freeze,
        "The freeze stands until --ttl runs out or 'gtm unfreeze' withdraws it.",
    )
    freeze.add_argument("service", nargs="?", help="the service (default: every service)")
    intent_args(freeze)

    unfreeze = command("unfreeze", "withdraw freezes (of one service or all)", _cmd_unfreeze)
    unfreeze.add_argument("service", nargs="?", help="the service (default: every freeze)")
    api_args(unfreeze)
    token_arg(unfreeze, "operate")

    maintenance = command(
        "maintenance",
        "a maintenance window: drain a site until the window ends by itself",
        _cmd_maintenance,
    )
    maintenance.add_argument("site", help="the site, by its name in the config")
    maintenance.add_argument(
        "--for",
        dest="ttl",
        required=True,
        type=_duration,
        metavar="DURATION",
        help="how long the window lasts, e.g. 45m, 2h",
    )
    maintenance.add_argument("--service", help="only this service (default: every service)")
    intent_args(maintenance, ttl=False)

    intents = command(
        "intents", "list standing intents, or withdraw one with --delete ID", _cmd_intents
    )
    api_args(intents)
    intents.add_argument("--delete", metavar="ID", help="withdraw this intent (needs --token)")
    token_arg(intents, "operate")

    events = command(
        "events",
        "the journal: moves, runs and provider changes, with their timelines",
        _cmd_events,
    )
    api_args(events)
    events.add_argument("--service", help="only this service")
    events.add_argument("--site", help="only moves from or to this site")
    events.add_argument(
        "--kind", choices=EVENT_KINDS, help=f"only this kind: {', '.join(EVENT_KINDS)}"
    )
    events.add_argument(
        "--since",
        type=_moment,
        metavar="WHEN",
        help="only after this: a duration ago (2h, 10m) or Unix seconds",
    )
    events.add_argument(
        "--until",
        type=_moment,
        metavar="WHEN",
        help="only before this: a duration ago (2h, 10m) or Unix seconds",
    )
    events.add_argument(
        "--limit",
        type=_count,
        default=20,
        metavar="N",
        help="the newest N matching events, printed oldest first (default 20)",
    )

    def run_args(cmd: argparse.ArgumentParser, *, required: bool = True) -> None:
        api_args(cmd)
        token_arg(cmd, "operate")
        reason_arg(cmd, required=required)
        cmd.add_argument(
            "--drain",
            type=_duration,
            metavar="DURATION",
            help="ramp traffic to the new site over this long, e.g. 30s (default: at once)",
        )
        cmd.add_argument(
            "--lower-ttl",
            action="store_true",
            help="publish a short DNS TTL first and wait until caches hold only it",
        )
        cmd.add_argument(
            "--hold",
            type=_duration,
            metavar="DURATION",
            help="how long the new site must stay healthy before the run is done (default 2s)",
        )
        cmd.add_argument(
            "--verify-timeout",
            type=_duration,
            metavar="DURATION",
            help="longest wait for DNS and load balancers to serve the new site (default 10s)",
        )
        cmd.add_argument(
            "--dry-run",
            action="store_true",
            help="print the steps and each provider's changes; change nothing",
        )
        cmd.add_argument(
            "--force",
            action="store_true",
            help="move even if the target fails preflight (needs scope admin)",
        )
        cmd.add_argument(
            "--replace-intents",
            action="store_true",
            help="withdraw the service's standing pin or freeze when the move switches",
        )

    failover = command(
        "failover",
        "planned move: preflight, drain, switch, verify, hold; rolls back on failure",
        _cmd_failover,
    )
    failover.add_argument("service", help="the service, by its name in the config")
    failover.add_argument("--to", metavar="SITE", help="target site (default: next healthy site)")
    failover.add_argument(
        "--abort",
        action="store_true",
        help="stop the service's running move and roll it back (needs no --reason)",
    )
    run_args(failover, required=False)

    failback = command(
        "failback", "planned move back to the service's most preferred site", _cmd_failback
    )
    failback.add_argument("service", help="the service, by its name in the config")
    run_args(failback)

    evacuate = command(
        "evacuate",
        "move every service active on a site to its next healthy site, then one summary",
        _cmd_evacuate,
    )
    evacuate.add_argument("site", help="the site, by its name in the config")
    evacuate.add_argument(
        "--parallel", type=_count, default=8, metavar="N", help="at most N runs at once (default 8)"
    )
    run_args(evacuate)

    drill = command(
        "drill", "rehearsal: move a service to its next site and back, with timings", _cmd_drill
    )
    drill.add_argument("service", help="the service, by its name in the config")
    run_args(drill)

    runs = command(
        "runs", "planned moves, running and past; or one of them, step by step", _cmd_runs
    )
    runs.add_argument("id", nargs="?", metavar="ID", help="show this run with its steps")
    api_args(runs)

    demo = command(
        "demo",
        "three simulated sites on loopback and gtm in front of them",
        _cmd_demo,
        "Prints what to try from another terminal; Ctrl-C stops everything.",
    )
    demo.add_argument(
        "--scenario",
        choices=["whack-a-mole"],
        help="play this scenario without waiting for input, then exit",
    )
    demo.add_argument(
        "-c",
        "--config",
        default="config/demo.yaml",
        metavar="FILE",
        help="demo config (default config/demo.yaml)",
    )
    return parser


def _duration(text: str) -> float:
    """Seconds in a command-line duration (``30s``, ``2h``, a plain number of seconds)."""
    try:
        return parse_seconds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _moment(text: str) -> float:
    """Unix seconds of ``2h`` (that long ago) or of Unix seconds given as such."""
    try:
        return parse_moment(text, time.time())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _count(text: str) -> int:
    """A whole number of at least 1."""
    if not (text.isascii() and text.isdigit() and int(text) >= 1):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


# -- commands -------------------------------------------------------------------------


def _usage(args: argparse.Namespace) -> int:
    """A command given without its subcommand: its help, and the usage-error exit code."""
    parser: argparse.ArgumentParser = args.parser
    parser.print_help(sys.stderr)
    return 2


def _cmd_run(args: argparse.Namespace) -> int:
    from gtm.config.loader import check_config, load_config
    from gtm.runtime import run_forever

    # The runtime checks secrets too; checking the file here first names its lines.
    problems = check_config(args.config, secrets=True)
    if problems:
        raise ConfigError(problems[0], problems)
    _setup_logging(args.log_level)
    config = load_config(args.config)
    asyncio.run(run_forever(config))
    return 0


def _cmd_config_check(args: argparse.Namespace) -> int:
    from gtm.config.loader import check_config, load_config

    problems = check_config(args.file, secrets=args.secrets)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        print(f"{args.file}: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    config = load_config(args.file)
    locators = sum(len(service.locators) for service in config.services.values())
    print(
        f"{args.file}: OK ({len(config.sites)} sites, {len(config.services)} services, "
        f"{locators} locators)"
    )
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    from gtm.config.loader import load_config
    from gtm.controller.providing import plan_providers

    return asyncio.run(plan_providers(load_config(args.config), args.provider, args.force, False))


def _cmd_apply(args: argparse.Namespace) -> int:
    from gtm.config.loader import load_config
    from gtm.controller.providing import plan_providers

    return asyncio.run(plan_providers(load_config(args.config), args.provider, args.force, True))


def _cmd_status(args: argparse.Namespace) -> int:
    Documents = list[dict[str, Any]]

    async def gather(
        client: GtmClient,
    ) -> tuple[list[Mapping], Documents, list[Intent], list[Event], Documents]:
        events = await client.events(kind="move", limit=MAX_EVENTS)
        services, providers = await client.services(), await client.providers()
        return services, providers, await client.intents(), events, await client.runs()

    mappings, providers, intents, events, runs = _call(args, gather)
    now = time.time()
    statuses = [service_status(m, intents, events, now) for m in mappings]
    owned = owners(run_from_dict(run) for run in runs)
    if args.json:
        _print_json(
            {
                "services": [_status_doc(status, owned, now) for status in statuses],
                "providers": providers,
            }
        )
        return 0
    _print_statuses(statuses, owned, now)
    if providers:
        print()
        rows = [["PROVIDER", "TYPE", "LAST SUCCESS", "PENDING", "LAST ERROR"]]
        for item in providers:
            success = item.get("last_success")
            rows.append(
                [
                    str(item["name"]),
                    str(item["kind"]),
                    _clock(success) if success else "never",
                    str(item.get("pending", 0)),
                    str(item.get("last_error") or "-")[:80],
                ]
            )
        _print_table(rows)
    return 0


def _print_statuses(statuses: list[ServiceStatus], owned: dict[str, str], now: float) -> None:
    """One row per service, then its reason, intents in force and locators by priority."""
    rows = [["SERVICE", "ACTIVE", "EPOCH", "VERSION", "TRAFFIC", "LAST MOVE"]]
    for status in statuses:
        mapping = status.mapping
        rows.append(
            [
                mapping.service,
                mapping.active_site or "-",
                str(mapping.epoch),
                str(mapping.version),
                _traffic(status.traffic),
                "never"
                if status.last_move is None
                else f"{_duration_text(now - status.last_move)} ago",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def line(row: list[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))

    print(line(rows[0]).rstrip())
    for row, status in zip(rows[1:], statuses, strict=True):
        print(line(row).rstrip())
        print(f"    reason: {status.mapping.reason or '-'}")
        for intent in status.intents:
            until = _clock(intent.expires_at) if intent.expires_at else "never"
            print(
                f"    intent {intent.id}: {_describe_intent(intent, owned.get(intent.id))}, "
                f"by {intent.who or '-'}, until {until}"
            )
        sites = [loc.site for loc in status.locators]
        print(
            "    locators: "
            + " ".join(_locator_text(loc, sites.count(loc.site) > 1) for loc in status.locators)
        )


def _status_doc(status: ServiceStatus, owned: dict[str, str], now: float) -> dict[str, Any]:
    """A service's status as JSON: its mapping's fields and what the text shows besides."""
    doc = mapping_to_dict(replace(status.mapping, locators=status.locators))
    doc["traffic"] = [{"site": share.site, "percent": share.percent} for share in status.traffic]
    doc["intents"] = [_intent_doc(intent, owned) for intent in status.intents]
    moved = status.last_move
    doc["last_move"] = moved
    doc["seconds_since_move"] = None if moved is None else round(now - moved, 3)
    return doc


def _intent_doc(intent: Intent, owned: dict[str, str]) -> dict[str, Any]:
    """An intent as JSON, with the run that created it (null when none is known)."""
    return {**intent_to_dict(intent), "run": owned.get(intent.id)}


def _traffic(split: tuple[Share, ...]) -> str:
    """``aws-use1 70% → gcp-euw1 30%``, or ``nowhere``."""
    return " → ".join(f"{share.site} {share.percent:g}%" for share in split) or "nowhere"


def _locator_text(loc: Locator, named: bool) -> str:
    """``site:state/pN/wN``; ``named``: the locator's id in the site for the site's name."""
    name = (loc.id.partition("@")[2] or loc.id) if named else loc.site
    return f"{name}:{loc.state.value}/p{loc.priority}/w{loc.weight}"


def _duration_text(seconds: float) -> str:
    """A duration for people: ``45s``, ``3m12s``, ``2h05m``, ``3d04h``."""
    whole = max(0, int(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def _cmd_resolve(args: argparse.Namespace) -> int:
    if args.watch:

        async def watch(client: GtmClient) -> None:
            # One plain request first: the watch itself retries while nothing answers, which
            # suits an application but would leave a mistyped --api waiting in silence.
            await client.resolve(args.service)
            async for mapping in client.watch(args.service):
                _print_mapping(mapping, args.json)

        _call(args, watch)
        return 0
    _print_mapping(_call(args, lambda client: client.resolve(args.service)), args.json)
    return 0


def _cmd_pin(args: argparse.Namespace) -> int:
    body = {"kind": "pin", "service": args.service, "site": args.site, "force": args.force}
    return _add_intent(args, body)


def _cmd_drain(args: argparse.Namespace) -> int:
    return _add_intent(args, {"kind": "drain", "site": args.site, "service": args.service})


def _cmd_maintenance(args: argparse.Namespace) -> int:
    return _add_intent(args, {"kind": "drain", "site": args.site, "service": args.service})


def _cmd_freeze(args: argparse.Namespace) -> int:
    return _add_intent(args, {"kind": "freeze", "service": args.service})


def _cmd_intents(args: argparse.Namespace) -> int:
    if args.delete:
        removed = _call(args, lambda client: client.remove_intent(args.delete))
        if args.json:
            _print_json(intent_to_dict(removed))
        else:
            print(f"deleted intent {removed.id} ({_describe_intent(removed)})")
        return 0

    async def both(client: GtmClient) -> tuple[list[Intent], list[dict[str, Any]]]:
        return await client.intents(), await client.runs()

    intents, runs = _call(args, both)
    owned = owners(run_from_dict(run) for run in runs)
    if args.json:
        _print_json({"intents": [_intent_doc(i, owned) for i in intents]})
        return 0
    rows = [["ID", "INTENT", "WHO", "WHY", "EXPIRES"]]
    for intent in intents:
        rows.append(
            [
                intent.id,
                _describe_intent(intent, owned.get(intent.id)),
                intent.who or "-",
                intent.why,
                _clock(intent.expires_at) if intent.expires_at else "never",
            ]
        )
    _print_table(rows)
    return 0


def _cmd_events(args: argparse.Namespace) -> int:
    events = _call(
        args,
        lambda client: client.events(
            service=args.service,
            limit=args.limit,
            site=args.site,
            kind=args.kind,
            since=args.since,
            until=args.until,
        ),
    )
    if args.json:
        _print_json({"events": [event_to_dict(e) for e in events]})
        return 0
    for event in events:
        print(_describe_event(event))
    return 0


def _cmd_failover(args: argparse.Namespace) -> int:
    if args.abort:
        return _abort(args)
    if not args.reason:
        parser: argparse.ArgumentParser = args.parser
        parser.error("the following arguments are required: --reason/--why (unless --abort)")
    return _start_run(args, {"kind": "failover", "service": args.service, "to": args.to})


def _abort(args: argparse.Namespace) -> int:
    """Stop the service's running move; 0 once it has rolled back, as asked."""

    async def abort(client: GtmClient) -> dict[str, Any]:
        running = [
            r
            for r in await client.runs()
            if r["service"] == args.service and r["state"] == "running"
        ]
        if not running:
            raise GtmError(f"no running move of {args.service} to abort")
        await client.abort_run(running[0]["id"])
        return await _follow(client, running[0])

    run = _call(args, abort)
    if args.json:
        _print_json(run)
    print(_run_line(run))
    if run["state"] == "rolled-back":
        return 0
    if run["state"] == "done":
        print(f"the abort came too late: {args.service} stays moved", file=sys.stderr)
    return 1


def _cmd_failback(args: argparse.Namespace) -> int:
    return _start_run(args, {"kind": "failback", "service": args.service})


def _cmd_evacuate(args: argparse.Namespace) -> int:
    body = {"site": args.site, "parallel": args.parallel, **_run_options(args)}
    if not args.json:
        print(f"evacuating {args.site}: every service active there moves to its next healthy site")
    report = _call(args, lambda client: client.evacuate(body))
    return _print_report(report, args.json)


def _cmd_drill(args: argparse.Namespace) -> int:
    body = {"service": args.service, **_run_options(args)}
    if not args.json:
        print(f"drill of {args.service}: to its next site and back")
    report = _call(args, lambda client: client.drill(body))
    return _print_report(report, args.json)


def _cmd_runs(args: argparse.Namespace) -> int:
    if args.id:
        run = _call(args, lambda client: client.run(args.id))
        if args.json:
            _print_json(run)
        else:
            _print_run(run)
        return 0
    runs = _call(args, lambda client: client.runs())
    if args.json:
        _print_json({"runs": runs})
        return 0
    rows = [["ID", "KIND", "SERVICE", "MOVE", "STATE", "WHO", "WHEN", "REASON"]]
    for run in runs:
        rows.append(
            [
                run["id"],
                run["kind"],
                run["service"],
                f"{run['from_site'] or '-'} -> {run['to_site']}",
                run["state"],
                run["who"] or "-",
                _clock(run["created_at"]),
                run["reason"],
            ]
        )
    _print_table(rows)
    return 0


def _cmd_unfreeze(args: argparse.Namespace) -> int:
    async def unfreeze(client: GtmClient) -> list[Intent]:
        freezes = [
            i
            for i in await client.intents()
            if i.kind is IntentKind.FREEZE and (args.service is None or i.service == args.service)
        ]
        return [await client.remove_intent(i.id) for i in freezes]

    removed = _call(args, unfreeze)
    if args.json:
        _print_json({"removed": [intent_to_dict(i) for i in removed]})
        return 0
    for intent in removed:
        print(f"withdrew intent {intent.id} ({_describe_intent(intent)})")
    if not removed:
        print("no freeze to withdraw")
    return 0


def _run_options(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"reason": args.reason, "lower_ttl": args.lower_ttl}
    body.update(dry_run=args.dry_run, force=args.force, replace_intents=args.replace_intents)
    for name in ("drain", "hold", "verify_timeout"):
        value = getattr(args, name)
        if value is not None:
            body[name] = value
    return body


def _start_run(args: argparse.Namespace, request: dict[str, Any]) -> int:
    body = {**{k: v for k, v in request.items() if v is not None}, **_run_options(args)}

    async def start(client: GtmClient) -> dict[str, Any]:
        run = await client.start_run(body)
        if args.dry_run:
            return run
        move = f"{run['from_site']} -> {run['to_site']}"
        print(f"run {run['id']}: {run['kind']} of {run['service']} {move}")
        return await _follow(client, run)

    run = _call(args, start)
    if args.dry_run:
        if args.json:
            _print_json(run)  # its "preview": steps, the resulting mapping, provider changes
        else:
            print(run["outcome"])
        return 0
    if args.json:
        _print_json(run)
    return _run_exit(run)


async def _follow(client: GtmClient, run: dict[str, Any]) -> dict[str, Any]:
    """Print each step as it progresses until the run ends; return the final run."""
    shown: set[tuple[str, str, bool | None]] = set()
    while True:
        for step in run["steps"]:
            key = (step["step"], step["detail"], step["ok"])
            if key in shown:
                continue
            shown.add(key)
            if step["finished_at"] is None:
                print(f"  {step['step']:<10} ... {step['detail']}".rstrip(), flush=True)
            else:
                mark = "ok" if step["ok"] else "FAILED"
                print(f"  {step['step']:<10} {mark} in {step['seconds']:.2f}s  {step['detail']}")
        if run["state"] != "running":
            return run
        run = await client.run(run["id"], revision=run["revision"], wait=30)


def _run_exit(run: dict[str, Any]) -> int:
    print(_run_line(run))
    return 0 if run["state"] == "done" else 1


def _run_line(run: dict[str, Any]) -> str:
    """``state: outcome``, without saying the state twice when the outcome starts with it."""
    state, outcome = str(run["state"]), str(run["outcome"])
    if outcome.startswith(f"{state}:"):
        return outcome
    return f"{state}: {outcome}" if outcome else state


def _print_run(run: dict[str, Any]) -> None:
    """One run: what moves where, who asked and why, each step, and how it ended."""
    print(f"run {run['id']}: {run['kind']} of {run['service']} ", end="")
    print(f"{run['from_site'] or '-'} -> {run['to_site']}")
    print(f"  asked by {run['who'] or '-'} at {_clock(run['created_at'])}: {run['reason']}")
    if run["steps"]:
        rows = [["  STEP", "RESULT", "SECONDS", "DETAIL"]]
        for step in run["steps"]:
            result = "running" if step["ok"] is None else "ok" if step["ok"] else "FAILED"
            seconds = "-" if step["seconds"] is None else f"{step['seconds']:.2f}"
            rows.append([f"  {step['step']}", result, seconds, step["detail"]])
        _print_table(rows)
    print(_run_line(run) if run["state"] != "running" else "running")


def _print_report(report: dict[str, Any], as_json: bool) -> int:
    if as_json:
        _print_json(report)
    else:
        for line in report["summary"]:
            print(f"  {line}")
        counts = ", ".join(f"{n} {state}" for state, n in sorted(report["counts"].items()))
        print(f"{len(report['runs'])} run(s): {counts or 'nothing to move'}")
    return 0 if set(report["counts"]) <= {"done"} else 1


def _cmd_demo(args: argparse.Namespace) -> int:
    from gtm.demo.scenario import run_demo

    _setup_logging("ERROR")  # the demo narrates moves itself
    return asyncio.run(run_demo(args.config, args.scenario))


# -- helpers --------------------------------------------------------------------------


def _add_intent(args: argparse.Namespace, body: dict[str, Any]) -> int:
    body = {key: value for key, value in body.items() if value is not None}
    body["why"] = args.reason
    if args.who:
        body["who"] = args.who
    if args.ttl is not None:
        body["ttl"] = args.ttl
    intent = _call(args, lambda client: client.add_intent(body))
    if args.json:
        _print_json(intent_to_dict(intent))
    else:
        print(f"intent {intent.id}: {_describe_intent(intent)} ({intent.why})")
    return 0


def _api_url(args: argparse.Namespace) -> tuple[str, str]:
    """The API's base URL, and where it was taken from (for messages).

    An address given on the command line (``--api``, or ``-c FILE``) beats ``$GTM_API``.
    """
    if args.api:
        return str(args.api), "from --api"
    if args.config:
        from gtm.config.loader import load_config

        listen = load_config(args.config).api.listen
        host = f"[{listen.host}]" if ":" in listen.host else listen.host
        return f"http://{host}:{listen.port}", f"the api.listen of {args.config}"
    if os.environ.get("GTM_API"):
        return os.environ["GTM_API"], "from GTM_API"
    return DEFAULT_API, "the default address"


def _call(args: argparse.Namespace, action: Callable[[GtmClient], Awaitable[T]]) -> T:
    """Run ``action`` with a client of the API; its refusals are explained in CLI terms."""
    token = getattr(args, "token", None)
    url, source = _api_url(args)

    async def run() -> T:
        async with GtmClient(url, token=token) as client:
            return await action(client)

    try:
        return asyncio.run(run())
    except ApiUnreachable as exc:
        raise GtmError(
            f"no gtm answers at {exc.url} ({source}; {exc.reason}): start one with "
            "'gtm run -c FILE' or 'make demo', or point at one with --api URL or GTM_API=URL"
        ) from exc
    except Unauthorized as exc:
        raise GtmError(_token_hint(args, url, exc)) from exc


def _token_hint(args: argparse.Namespace, url: str, exc: Unauthorized) -> str:
    """What to do about a refused token, in terms of ``--token`` and ``GTM_TOKEN``."""
    flags = [flag for flag in ("abort", "delete", "force") if getattr(args, flag, None)]
    what = " ".join(["gtm", args.command, *(f"--{flag}" for flag in flags)])
    needed = exc.needed or "operate"
    if exc.code == "read_only":
        return (
            f"the gtm at {url} is read-only: its config has no api.tokens; add a token of "
            f"scope {needed} there to allow {what}"
        )
    if exc.code == "insufficient_scope":
        return (
            f"{what} needs a token of scope {needed}; token {exc.token!r} has scope "
            f"{exc.scope}: pass one of scope {needed} with --token or GTM_TOKEN"
        )
    if exc.code == "forbidden":
        return (
            f"the token given (--token or GTM_TOKEN) is not one of the api.tokens of the gtm "
            f"at {url}; {what} needs a token of scope {needed}"
        )
    return (
        f"{what} needs a token of scope {needed}: pass --token TOKEN or set GTM_TOKEN "
        "(tokens are the api.tokens of the gtm config)"
    )


def _describe_intent(intent: Intent, run: str | None = None) -> str:
    """What an intent does, and the run that created it when that is known."""
    target = intent.service or "every service"
    match intent.kind:
        case IntentKind.PIN:
            text = f"pin {target} to {intent.site}" + (" (forced)" if intent.force else "")
        case IntentKind.DRAIN:
            text = f"drain {intent.site} for {target}"
        case IntentKind.FREEZE:
            text = f"freeze {target}"
        case IntentKind.SHIFT:
            text = f"shift {intent.share}% of {target} to {intent.site}"
        case IntentKind.TTL:
            text = f"cap the ttl of {target} at {intent.ttl}s"
        case _:
            assert_never(intent.kind)
    return text + (f" (run {run})" if run else "")


def _describe_event(event: Event) -> str:
    line = f"{_clock(event.time)}  #{event.seq} {event.kind:<8} {event.service or '-'}"
    if event.from_site or event.to_site:
        line += f"  {event.from_site or '-'} -> {event.to_site or '-'}"
    if event.epoch is not None:
        line += f"  epoch {event.epoch}"
    line += f"\n    {event.reason}"
    steps = sorted(event.timeline.items(), key=lambda item: item[1])
    if steps:
        start = steps[0][1]
        line += "\n    " + ", ".join(f"{name} +{(at - start) * 1000:.0f} ms" for name, at in steps)
    return line


def _print_mapping(mapping: Mapping, as_json: bool) -> None:
    if as_json:
        _print_json(mapping_to_dict(mapping))
        return
    chosen = mapping.best()
    where = ", ".join(f"{loc.address}:{loc.port} ({loc.site})" for loc in chosen) or "nowhere"
    print(f"{mapping.service} -> {where}")
    print(
        f"  active {mapping.active_site or '-'}, epoch {mapping.epoch}, "
        f"version {mapping.version}, ttl {mapping.ttl}s"
    )
    print(f"  {mapping.reason}")


def _print_table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _print_json(doc: Any) -> None:
    print(json.dumps(doc, indent=2, sort_keys=True))


def _clock(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def _setup_logging(level: str) -> None:
    from gtm.logs import setup_logging

    setup_logging(level)
