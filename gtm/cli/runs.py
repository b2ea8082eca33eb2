"""Planned moves: failover (and its abort), failback, evacuate, drill, and ``runs``.

A run's steps are printed as they progress, by following the run with long polls; the exit
code says whether the move was made (0) or not (1).
"""

from __future__ import annotations

import argparse
import sys

from gtm.cli.calls import call
from gtm.cli.render import clock, move_text, print_json, print_run, print_table, run_line, step_line
from gtm.client import GtmClient, RunRequest
from gtm.core.reports import BatchReport, batch_report_to_dict
from gtm.core.runbook import Run, RunKind, RunOptions, RunState, run_to_dict
from gtm.errors import GtmError


def failover(args: argparse.Namespace) -> int:
    """Move a service to ``--to`` (or its next healthy site); or ``--abort`` its move."""
    if args.abort:
        return abort(args)
    if not args.reason:
        parser: argparse.ArgumentParser = args.parser
        parser.error("the following arguments are required: --reason/--why (unless --abort)")
    return start_run(args, RunKind.FAILOVER, to=args.to)


def abort(args: argparse.Namespace) -> int:
    """Stop the service's running move; 0 once it has rolled back, as asked."""

    async def stop(client: GtmClient) -> Run:
        running = [
            r
            for r in await client.runs()
            if r.service == args.service and r.state is RunState.RUNNING
        ]
        if not running:
            raise GtmError(f"no running move of {args.service} to abort")
        await client.abort_run(running[0].id)
        return await follow(client, running[0])

    run = call(args, stop)
    if args.json:
        print_json(run_to_dict(run))
    print(run_line(run))
    if run.state is RunState.ROLLED_BACK:
        return 0
    if run.state is RunState.DONE:
        print(f"the abort came too late: {args.service} stays moved", file=sys.stderr)
    return 1


def failback(args: argparse.Namespace) -> int:
    """Move a service back to its most preferred site."""
    return start_run(args, RunKind.FAILBACK)


def evacuate(args: argparse.Namespace) -> int:
    """Move every service active on a site to its next healthy site."""
    if not args.json:
        print(f"evacuating {args.site}: every service active there moves to its next healthy site")
    report = call(
        args,
        lambda client: client.evacuate(
            args.site, args.reason, run_options(args), parallel=args.parallel
        ),
    )
    return print_report(report, args.json)


def drill(args: argparse.Namespace) -> int:
    """Move a service to its next site and back."""
    if not args.json:
        print(f"drill of {args.service}: to its next site and back")
    report = call(args, lambda client: client.drill(args.service, args.reason, run_options(args)))
    return print_report(report, args.json)


def runs(args: argparse.Namespace) -> int:
    """Every run in a table; or, with an id, one run step by step."""
    if args.id:
        run = call(args, lambda client: client.run(args.id))
        if args.json:
            print_json(run_to_dict(run))
        else:
            print_run(run)
        return 0
    every = call(args, lambda client: client.runs(args.limit))
    if args.json:
        print_json({"runs": [run_to_dict(run) for run in every]})
        return 0
    rows = [["ID", "KIND", "SERVICE", "MOVE", "STATE", "WHO", "WHEN", "REASON"]]
    for run in every:
        rows.append(
            [
                run.id,
                run.kind,
                run.service,
                move_text(run),
                run.state.value,
                run.who or "-",
                clock(run.created_at),
                run.reason,
            ]
        )
    print_table(rows)
    return 0


def run_options(args: argparse.Namespace) -> RunOptions:
    """The options of a run from its flags; a duration not given keeps its default."""
    given = {
        name: getattr(args, name)
        for name in ("drain", "hold", "verify_timeout")
        if getattr(args, name) is not None
    }
    return RunOptions(
        lower_ttl=args.lower_ttl,
        force=args.force,
        dry_run=args.dry_run,
        replace_intents=args.replace_intents,
        **given,
    )


def start_run(args: argparse.Namespace, kind: RunKind, to: str | None = None) -> int:
    """Start a run of the service and follow it to its end; a dry run prints its outcome."""
    request = RunRequest(kind, args.service, args.reason, run_options(args), to=to)

    async def start(client: GtmClient) -> Run:
        run = await client.start_run(request)
        if args.dry_run:
            return run
        print(f"run {run.id}: {run.kind} of {run.service} {run.from_site} -> {run.to_site}")
        return await follow(client, run)

    run = call(args, start)
    if args.json:
        print_json(run_to_dict(run))  # a dry run's "preview": steps, mapping, provider changes
    if args.dry_run:
        if not args.json:
            print(run.outcome)
        return 0
    print(run_line(run))
    return 0 if run.state is RunState.DONE else 1


async def follow(client: GtmClient, run: Run) -> Run:
    """Print each step as it progresses until the run ends; return the final run."""
    shown: set[tuple[str, str, bool | None]] = set()
    while True:
        for step in run.steps:
            key = (step.step.value, step.detail, step.ok)
            if key not in shown:
                shown.add(key)
                print(step_line(step), flush=True)
        if run.state is not RunState.RUNNING:
            return run
        run = await client.run(run.id, revision=run.revision, wait=30)


def print_report(report: BatchReport, as_json: bool) -> int:
    """A batch's summary, one line per run, then the count of each end; 0 if all are done."""
    if as_json:
        print_json(batch_report_to_dict(report))
    else:
        for line in report.summary:
            print(f"  {line}")
        counts = ", ".join(f"{n} {state}" for state, n in sorted(report.counts.items()))
        print(f"{len(report.runs)} run(s): {counts or 'nothing to move'}")
    return 0 if report.succeeded() else 1
