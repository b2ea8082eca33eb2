"""Commands that work on this machine, with no running gtm: run, config check, plan, apply,
demo."""

from __future__ import annotations

import argparse
import asyncio
import sys


def usage(args: argparse.Namespace) -> int:
    """A command given without its subcommand: its help, and the usage-error exit code."""
    parser: argparse.ArgumentParser = args.parser
    parser.print_help(sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from gtm.config.loader import load_config
    from gtm.runtime import run_forever

    # The runtime checks secrets too; checking them here first names their lines.
    config = load_config(args.config, secrets=True)
    setup_logging(args.log_level, args.log_format)
    asyncio.run(run_forever(config))
    return 0


def check_config_file(args: argparse.Namespace) -> int:
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


def plan(args: argparse.Namespace) -> int:
    from gtm.config.loader import load_config
    from gtm.controller.providing import plan_providers

    return asyncio.run(plan_providers(load_config(args.config), args.provider, args.force, False))


def apply(args: argparse.Namespace) -> int:
    from gtm.config.loader import load_config
    from gtm.controller.providing import plan_providers

    return asyncio.run(plan_providers(load_config(args.config), args.provider, args.force, True))


def demo(args: argparse.Namespace) -> int:
    from gtm.demo.scenario import run_demo

    setup_logging("ERROR")  # the demo narrates moves itself
    return asyncio.run(run_demo(args.config, args.scenario))


def setup_logging(level: str, log_format: str = "auto") -> None:
    from gtm.logs import setup_logging

    setup_logging(level, log_format)
