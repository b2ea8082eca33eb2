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
        cmd.add_argument(
            "--why", "--reason", dest="why", required=True, help="reason, kept in the journal"
        )
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
    events.add_argument("--site", help="only moves from or to this site")
    events.add_argument("--kind", help="only this kind: move, run, provider, drift")
    events.add_argument("--since", help="only after this: a duration ago (2h) or Unix seconds")
    events.add_argument("--until", help="only before this: a duration ago (10m) or Unix seconds")
    events.add_argument("--limit", type=int, default=20, help="newest N events (default 20)")
    events.set_defaults(func=_cmd_events)

    def run_args(cmd: argparse.ArgumentParser, *, reason: bool = True) -> None:
        api_args(cmd)
        cmd.add_argument(
            "--token",
            default=os.environ.get("GTM_TOKEN"),
            help="API bearer token of scope operate (default: $GTM_TOKEN)",
        )
        if reason:
            cmd.add_argument("--reason", required=True, help="why: kept in the audit journal")
        cmd.add_argument("--drain", help="ramp traffic over this long first, e.g. 30s")
        cmd.add_argument(
            "--lower-ttl", action="store_true", help="publish a short TTL and wait out caches"
        )
        cmd.add_argument("--hold", help="how long the new site must stay healthy (default 2s)")
        cmd.add_argument(
            "--verify-timeout", help="longest wait for DNS and load balancers (default 10s)"
        )
        cmd.add_argument("--dry-run", action="store_true", help="print the steps and changes only")
        cmd.add_argument(
            "--force", action="store_true", help="move even if the target fails preflight (admin)"
        )
        cmd.add_argument(
            "--replace-intents",
            action="store_true",
            help="withdraw the service's standing pin or freeze when the move switches",
        )

    failover = commands.add_parser(
        "failover",
        help="planned move: preflight, drain, switch, verify, hold; rolls back on failure",
    )
    failover.add_argument("service")
    failover.add_argument("--to", help="target site (default: the next healthy site)")
    failover.add_argument(
        "--abort", action="store_true", help="stop the service's running move and roll back"
    )
    run_args(failover, reason=False)
    failover.add_argument("--reason", help="why: required, kept in the audit journal")
    failover.set_defaults(func=_cmd_failover)

    failback = commands.add_parser("failback", help="planned move back to the preferred site")
    failback.add_argument("service")
    run_args(failback)
    failback.set_defaults(func=_cmd_failback)

    evacuate = commands.add_parser("evacuate", help="move every service off a site, one summary")
    evacuate.add_argument("site")
    evacuate.add_argument("--parallel", type=int, default=8, help="runs at once (default 8)")
    run_args(evacuate)
    evacuate.set_defaults(func=_cmd_evacuate)

    drill = commands.add_parser("drill", help="rehearsal: move a service to its next site and back")
    drill.add_argument("service")
    run_args(drill)
    drill.set_defaults(func=_cmd_drill)

    runs = commands.add_parser("runs", help="planned moves: running and past")
    api_args(runs)
    runs.set_defaults(func=_cmd_runs)

    unfreeze = commands.add_parser("unfreeze", help="withdraw freezes (of one service or all)")
    unfreeze.add_argument("service", nargs="?", help="service (default: every freeze)")
    api_args(unfreeze)
    unfreeze.add_argument("--token", default=os.environ.get("GTM_TOKEN"), help="API token")
    unfreeze.set_defaults(func=_cmd_unfreeze)

    maintenance = commands.add_parser(
        "maintenance", help="a maintenance window: drain a site until it expires by itself"
    )
    maintenance.add_argument("site")
    maintenance.add_argument("--for", dest="ttl", required=True, help="how long, e.g. 2h")
    maintenance.add_argument("--service", help="only this service (default: every service)")
    api_args(maintenance)
    maintenance.add_argument("--token", default=os.environ.get("GTM_TOKEN"), help="API token")
    maintenance.add_argument("--reason", dest="why", required=True, help="why")
    maintenance.add_argument("--who", default=os.environ.get("USER", ""), help="who asks")
    maintenance.set_defaults(func=_cmd_drain)

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
    events = _call(
        args,
        lambda client: client.events(
            service=args.service,
            limit=args.limit,
            site=args.site,
            kind=args.kind,
            since=_moment(args.since),
            until=_moment(args.until),
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

        return _run_exit(_call(args, abort))
    if not args.reason:
        raise GtmError("a planned failover needs --reason (kept in the audit journal)")
    return _start_run(args, {"kind": "failover", "service": args.service, "to": args.to})


def _cmd_failback(args: argparse.Namespace) -> int:
    return _start_run(args, {"kind": "failback", "service": args.service})


def _cmd_evacuate(args: argparse.Namespace) -> int:
    body = {"site": args.site, "parallel": args.parallel, **_run_options(args)}
    print(f"evacuating {args.site}: every service active there moves to its next healthy site")
    report = _call(args, lambda client: client.evacuate(body))
    return _print_report(report, args.json)


def _cmd_drill(args: argparse.Namespace) -> int:
    body = {"service": args.service, **_run_options(args)}
    print(f"drill of {args.service}: to its next site and back")
    report = _call(args, lambda client: client.drill(body))
    return _print_report(report, args.json)


def _cmd_runs(args: argparse.Namespace) -> int:
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
            if i.kind.value == "freeze" and (args.service is None or i.service == args.service)
        ]
        return [await client.remove_intent(i.id) for i in freezes]

    removed = _call(args, unfreeze)
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
        if value:
            body[name] = _seconds(name, value)
    return body


def _seconds(option: str, text: str) -> float:
    """A command-line duration (``30s``, ``2m``, a plain number of seconds) in seconds."""
    from gtm.config.models import parse_duration

    try:
        return float(text)
    except ValueError:
        pass
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise GtmError(f"--{option.replace('_', '-')}: {exc}") from None


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
    print(f"{run['state']}: {run['outcome']}")
    return 0 if run["state"] == "done" else 1


def _print_report(report: dict[str, Any], as_json: bool) -> int:
    if as_json:
        _print_json(report)
    else:
        for line in report["summary"]:
            print(f"  {line}")
        counts = ", ".join(f"{n} {state}" for state, n in sorted(report["counts"].items()))
        print(f"{len(report['runs'])} run(s): {counts or 'nothing to move'}")
    return 0 if set(report["counts"]) <= {"done"} else 1


def _moment(text: str | None) -> float | None:
    """``2h`` (that long ago) or Unix seconds, as Unix seconds."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return time.time() - _seconds("since", text)


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
        body["ttl"] = _seconds("ttl", args.ttl)
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
