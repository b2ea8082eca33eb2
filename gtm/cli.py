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
from typing import Any, TypeVar

from gtm import __version__
from gtm.client import GtmClient
from gtm.core.codec import event_to_dict, intent_to_dict, mapping_to_dict
from gtm.core.model import Event, Intent, Mapping
from gtm.errors import ConfigError, GtmError

T = TypeVar("T")

DEFAULT_CONFIG = "config/gtm.yaml"
DEFAULT_API = "http://127.0.0.1:18080"


def main(argv: list[str] | None = None) -> int:
    """Run the ``gtm`` command; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    handler: Callable[[argparse.Namespace], int] = args.func
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gtm",
        description=(
            "gtm moves traffic between replicated sites: it probes every replica, fails a "
            "service over to the next healthy site when its site dies (whack-a-mole, no "
            "automatic fail-back), and publishes where each service is over DNS and HTTP."
        ),
        epilog="Start with 'gtm demo', or 'gtm run -c config/gtm.example.yaml'.",
    )
    parser.add_argument("--version", action="version", version=f"gtm {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    run = commands.add_parser("run", help="run gtm: probers, controller, DNS and API")
    run.add_argument("-c", "--config", default=DEFAULT_CONFIG, help="config file (YAML)")
    run.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    run.set_defaults(func=_cmd_run)

    config = commands.add_parser("config", help="check a config file")
    config_commands = config.add_subparsers(title="config commands", metavar="COMMAND")
    check = config_commands.add_parser(
        "check", help="report every problem of a config file, each with field, value, fix"
    )
    check.add_argument("file", help="config file (YAML)")
    check.set_defaults(func=_cmd_config_check)

    def api_args(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument(
            "--api",
            default=os.environ.get("GTM_API"),
            help=f"gtm API base URL (default: $GTM_API, the config's api.listen, or {DEFAULT_API})",
        )
        cmd.add_argument("-c", "--config", help="take the API address from this config file")
        cmd.add_argument("--json", action="store_true", help="print JSON instead of a table")

    def write_args(cmd: argparse.ArgumentParser) -> None:
        api_args(cmd)
        cmd.add_argument(
            "--token",
            default=os.environ.get("GTM_TOKEN"),
            help="API bearer token for changes (default: $GTM_TOKEN)",
        )
        cmd.add_argument("--why", required=True, help="reason, kept in the journal")
        cmd.add_argument("--ttl", help="expire after this long, e.g. 30m, 2h (default: never)")
        cmd.add_argument("--who", default=os.environ.get("USER", ""), help="who asks")

    for verb, text in (
        ("plan", "show, per provider, what the mappings want changed in each system"),
        ("apply", "make every provider's system hold the mappings now"),
    ):
        cmd = commands.add_parser(verb, help=text)
        cmd.add_argument("-c", "--config", default=DEFAULT_CONFIG, help="config file (YAML)")
        cmd.add_argument("--provider", action="append", help="only this provider (repeatable)")
        cmd.add_argument(
            "--force",
            action="store_true",
            help="include changes the safety rule refuses (leaving a service with no records)",
        )
        cmd.set_defaults(func=_cmd_plan if verb == "plan" else _cmd_apply)

    status = commands.add_parser("status", help="table of services: active site, epoch, states")
    api_args(status)
    status.set_defaults(func=_cmd_status)

    resolve = commands.add_parser("resolve", help="where is a service now?")
    resolve.add_argument("service")
    resolve.add_argument(
        "--watch", action="store_true", help="keep running and print every change as it happens"
    )
    api_args(resolve)
    resolve.set_defaults(func=_cmd_resolve)

    pin = commands.add_parser("pin", help="pin a service to a site (intent)")
    pin.add_argument("service")
    pin.add_argument("site")
    pin.add_argument("--force", action="store_true", help="pin even if the site is down")
    write_args(pin)
    pin.set_defaults(func=_cmd_pin)

    drain = commands.add_parser("drain", help="drain a site: no traffic, no new primaries there")
    drain.add_argument("site")
    drain.add_argument("--service", help="only this service (default: every service)")
    write_args(drain)
    drain.set_defaults(func=_cmd_drain)

    freeze = commands.add_parser("freeze", help="stop automatic moves (one service or all)")
    freeze.add_argument("service", nargs="?", help="service (default: every service)")
    write_args(freeze)
    freeze.set_defaults(func=_cmd_freeze)

    intents = commands.add_parser("intents", help="list intents, or delete one with --delete ID")
    api_args(intents)
    intents.add_argument("--delete", metavar="ID", help="delete this intent")
    intents.add_argument("--token", default=os.environ.get("GTM_TOKEN"), help="for --delete")
    intents.set_defaults(func=_cmd_intents)

    events = commands.add_parser("events", help="the journal: moves with their timelines")
    api_args(events)
    events.add_argument("--service", help="only this service")
    events.add_argument("--limit", type=int, default=20, help="newest N events (default 20)")
    events.set_defaults(func=_cmd_events)

    demo = commands.add_parser(
        "demo", help="three simulated sites on loopback and gtm in front of them"
    )
    demo.add_argument(
        "--scenario",
        choices=["whack-a-mole"],
        help="play this scenario without waiting for input, then exit",
    )
    demo.add_argument(
        "-c", "--config", default="config/demo.yaml", help="demo config (default config/demo.yaml)"
    )
    demo.set_defaults(func=_cmd_demo)
    return parser


# -- commands -------------------------------------------------------------------------


def _cmd_run(args: argparse.Namespace) -> int:
    from gtm.config.loader import load_config
    from gtm.runtime import run_forever

    _setup_logging(args.log_level)
    config = load_config(args.config)
    asyncio.run(run_forever(config))
    return 0


def _cmd_config_check(args: argparse.Namespace) -> int:
    from gtm.config.loader import check_config, load_config

    problems = check_config(args.file)
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
    async def both(client: GtmClient) -> tuple[list[Mapping], list[dict[str, Any]]]:
        return await client.services(), await client.providers()

    mappings, providers = _call(args, both)
    if args.json:
        _print_json({"services": [mapping_to_dict(m) for m in mappings], "providers": providers})
        return 0
    rows = [["SERVICE", "ACTIVE", "EPOCH", "VERSION", "LOCATORS"]]
    for mapping in mappings:
        states = " ".join(
            f"{loc.site}:{loc.state.value}/p{loc.priority}" for loc in mapping.locators
        )
        rows.append(
            [
                mapping.service,
                mapping.active_site or "-",
                str(mapping.epoch),
                str(mapping.version),
                states,
            ]
        )
    _print_table(rows)
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


def _cmd_resolve(args: argparse.Namespace) -> int:
    if args.watch:

        async def watch(client: GtmClient) -> None:
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


def _cmd_freeze(args: argparse.Namespace) -> int:
    return _add_intent(args, {"kind": "freeze", "service": args.service})


def _cmd_intents(args: argparse.Namespace) -> int:
    if args.delete:
        removed = _call(args, lambda client: client.remove_intent(args.delete))
        print(f"deleted intent {removed.id} ({_describe_intent(removed)})")
        return 0
    intents = _call(args, lambda client: client.intents())
    if args.json:
        _print_json({"intents": [intent_to_dict(i) for i in intents]})
        return 0
    rows = [["ID", "INTENT", "WHO", "WHY", "EXPIRES"]]
    for intent in intents:
        rows.append(
            [
                intent.id,
                _describe_intent(intent),
                intent.who or "-",
                intent.why,
                _clock(intent.expires_at) if intent.expires_at else "never",
            ]
        )
    _print_table(rows)
    return 0


def _cmd_events(args: argparse.Namespace) -> int:
    events = _call(args, lambda client: client.events(service=args.service, limit=args.limit))
    if args.json:
        _print_json({"events": [event_to_dict(e) for e in events]})
        return 0
    for event in events:
        print(_describe_event(event))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from gtm.demo.scenario import run_demo

    _setup_logging("ERROR")  # the demo narrates moves itself
    return asyncio.run(run_demo(args.config, args.scenario))


# -- helpers --------------------------------------------------------------------------


def _add_intent(args: argparse.Namespace, body: dict[str, Any]) -> int:
    body = {key: value for key, value in body.items() if value is not None}
    body["why"] = args.why
    if args.who:
        body["who"] = args.who
    if args.ttl:
        from gtm.config.models import parse_duration

        body["ttl"] = parse_duration(args.ttl)
    intent = _call(args, lambda client: client.add_intent(body))
    if args.json:
        _print_json(intent_to_dict(intent))
    else:
        print(f"intent {intent.id}: {_describe_intent(intent)} ({intent.why})")
    return 0


def _api_url(args: argparse.Namespace) -> str:
    if args.api:
        return str(args.api)
    if args.config:
        from gtm.config.loader import load_config

        listen = load_config(args.config).api.listen
        host = f"[{listen.host}]" if ":" in listen.host else listen.host
        return f"http://{host}:{listen.port}"
    return DEFAULT_API


def _call(args: argparse.Namespace, action: Callable[[GtmClient], Awaitable[T]]) -> T:
    token = getattr(args, "token", None)

    async def run() -> T:
        async with GtmClient(_api_url(args), token=token) as client:
            return await action(client)

    return asyncio.run(run())


def _describe_intent(intent: Intent) -> str:
    target = intent.service or "every service"
    if intent.kind.value == "pin":
        return f"pin {target} to {intent.site}" + (" (forced)" if intent.force else "")
    if intent.kind.value == "drain":
        return f"drain {intent.site} for {target}"
    return f"freeze {target}"


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
