"""The argument tree of the ``gtm`` command and its ``--help`` texts.

Each subcommand names its handler (a function of the parsed arguments returning the exit
code) in the module of its family; values are checked here, so a bad one is a usage error
naming its option.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

from gtm import __version__
from gtm.api.query import parse_moment, parse_seconds
from gtm.cli import events, health, intents, local, runs, status, watch
from gtm.cli.calls import DEFAULT_API
from gtm.core.journal import EVENT_KINDS
from gtm.logs import LOG_FORMATS

Handler = Callable[[argparse.Namespace], int]
"""A command: the parsed arguments in, the exit code out."""

DEFAULT_CONFIG = "config/gtm.yaml"


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
REASON_HELP = "why: kept in the audit journal (required)"


def build_parser() -> argparse.ArgumentParser:
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
        local.run,
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
    run.add_argument(
        "--log-format",
        default=os.environ.get("GTM_LOG_FORMAT", "auto"),
        type=log_format,
        metavar="FORMAT",
        help="json (one object per line), text (key=value fields after the message), or "
        "auto: text on a terminal, JSON otherwise (default: $GTM_LOG_FORMAT, else auto)",
    )

    config = command("config", "check a config file", local.usage)
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
    check.set_defaults(func=local.check_config_file, command="config check", parser=check)

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
                type=duration,
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
            local.plan,
        ),
        ("apply", "make every provider's system hold gtm's mappings now", local.apply),
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

    status_cmd = command(
        "status",
        "table of services (active site, epoch, locator states) and providers",
        status.status,
    )
    api_args(status_cmd)

    health_cmd = command(
        "health",
        "every locator's verdict, recent failure rate, failures needed to fall, flap penalty "
        "and last probes",
        health.health,
        "FALL is the current failure streak over the consecutive failures that would bring "
        "the locator down now; PROBES shows the last ones, oldest first: . ok, x failed, "
        "? unknown (not trusted).",
    )
    health_cmd.add_argument(
        "service", nargs="?", help="only this service's locators (default: every service)"
    )
    api_args(health_cmd)

    resolve = command(
        "resolve", "where a service is now: its addresses, active site and epoch", status.resolve
    )
    resolve.add_argument("service", help="the service, by its name in the config")
    resolve.add_argument(
        "--watch", action="store_true", help="keep running and print every change as it happens"
    )
    api_args(resolve)

    pin = command(
        "pin",
        "serve a service from one site (an intent)",
        intents.pin,
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
        intents.drain,
        "The drain stands until --ttl runs out or 'gtm intents --delete ID' withdraws it.",
    )
    drain.add_argument("site", help="the site, by its name in the config")
    drain.add_argument("--service", help="only this service (default: every service)")
    intent_args(drain)

    freeze = command(
        "freeze",
        "stop automatic moves of one service or of all (an intent)",
        intents.freeze,
        "The freeze stands until --ttl runs out or 'gtm unfreeze' withdraws it.",
    )
    freeze.add_argument("service", nargs="?", help="the service (default: every service)")
    intent_args(freeze)

    unfreeze = command("unfreeze", "withdraw freezes (of one service or all)", intents.unfreeze)
    unfreeze.add_argument("service", nargs="?", help="the service (default: every freeze)")
    api_args(unfreeze)
    token_arg(unfreeze, "operate")

    maintenance = command(
        "maintenance",
        "a maintenance window: drain a site until the window ends by itself",
        intents.maintenance,
    )
    maintenance.add_argument("site", help="the site, by its name in the config")
    maintenance.add_argument(
        "--for",
        dest="ttl",
        required=True,
        type=duration,
        metavar="DURATION",
        help="how long the window lasts, e.g. 45m, 2h",
    )
    maintenance.add_argument("--service", help="only this service (default: every service)")
    intent_args(maintenance, ttl=False)

    intents_cmd = command(
        "intents", "list standing intents, or withdraw one with --delete ID", intents.intents
    )
    api_args(intents_cmd)
    intents_cmd.add_argument("--delete", metavar="ID", help="withdraw this intent (needs --token)")
    token_arg(intents_cmd, "operate")

    events_cmd = command(
        "events",
        "the journal: moves, runs and provider changes, with their timelines",
        events.events,
    )
    api_args(events_cmd)
    events_cmd.add_argument("--service", help="only this service")
    events_cmd.add_argument("--site", help="only moves from or to this site")
    events_cmd.add_argument(
        "--kind", choices=EVENT_KINDS, help=f"only this kind: {', '.join(EVENT_KINDS)}"
    )
    events_cmd.add_argument(
        "--since",
        type=moment,
        metavar="WHEN",
        help="only after this: a duration ago (2h, 10m) or Unix seconds",
    )
    events_cmd.add_argument(
        "--until",
        type=moment,
        metavar="WHEN",
        help="only before this: a duration ago (2h, 10m) or Unix seconds",
    )
    events_cmd.add_argument(
        "--limit",
        type=count,
        default=20,
        metavar="N",
        help="the newest N matching events, printed oldest first (default 20)",
    )
    events_cmd.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="then keep printing each new matching event as it is recorded (with --json, "
        "one object per line), through restarts of gtm",
    )

    watch_cmd = command(
        "watch",
        "print every change as it happens: where each service moves, and the journal",
        watch.watch,
        "One line per change, with its time: the service, old site -> new site, version, "
        "epoch and reason; then each journal event (moves, runs, providers, health). Says "
        "when gtm is lost and when it is back, and catches up on what happened meanwhile. "
        "Ctrl-C stops it.",
    )
    watch_cmd.add_argument(
        "services", nargs="*", metavar="SERVICE", help="only these services (default: all)"
    )
    api_args(watch_cmd)

    def run_args(cmd: argparse.ArgumentParser, *, required: bool = True) -> None:
        api_args(cmd)
        token_arg(cmd, "operate")
        reason_arg(cmd, required=required)
        cmd.add_argument(
            "--drain",
            type=duration,
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
            type=duration,
            metavar="DURATION",
            help="how long the new site must stay healthy before the run is done (default 2s)",
        )
        cmd.add_argument(
            "--verify-timeout",
            type=duration,
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
        runs.failover,
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
        "failback", "planned move back to the service's most preferred site", runs.failback
    )
    failback.add_argument("service", help="the service, by its name in the config")
    run_args(failback)

    evacuate = command(
        "evacuate",
        "move every service active on a site to its next healthy site, then one summary",
        runs.evacuate,
    )
    evacuate.add_argument("site", help="the site, by its name in the config")
    evacuate.add_argument(
        "--parallel", type=count, default=8, metavar="N", help="at most N runs at once (default 8)"
    )
    run_args(evacuate)

    drill = command(
        "drill", "rehearsal: move a service to its next site and back, with timings", runs.drill
    )
    drill.add_argument("service", help="the service, by its name in the config")
    run_args(drill)

    runs_cmd = command(
        "runs", "planned moves, running and past; or one of them, step by step", runs.runs
    )
    runs_cmd.add_argument("id", nargs="?", metavar="ID", help="show this run with its steps")
    runs_cmd.add_argument(
        "--limit",
        type=count,
        default=None,
        metavar="N",
        help="the latest N runs (default: the server's, 100; at most 1000)",
    )
    api_args(runs_cmd)

    demo = command(
        "demo",
        "three simulated sites on loopback and gtm in front of them",
        local.demo,
        "Prints what to try from another terminal; Ctrl-C stops everything.",
    )
    demo.add_argument(
        "--scenario",
        choices=["whack-a-mole", "release", "burst"],
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


def duration(text: str) -> float:
    """Seconds in a command-line duration (``30s``, ``2h``, a plain number of seconds)."""
    try:
        return parse_seconds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def moment(text: str) -> float:
    """Unix seconds of ``2h`` (that long ago) or of Unix seconds given as such."""
    try:
        return parse_moment(text, time.time())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def log_format(text: str) -> str:
    """One of :data:`gtm.logs.LOG_FORMATS`, in any case."""
    if text.lower() not in LOG_FORMATS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a log format: use json, text or auto (--log-format or "
            "$GTM_LOG_FORMAT)"
        )
    return text.lower()


def count(text: str) -> int:
    """A whole number of at least 1."""
    if not (text.isascii() and text.isdigit() and int(text) >= 1):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)
