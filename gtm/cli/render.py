"""Typed values as the text a person reads: tables, timelines, intents, runs, mappings.

Every command prints through these, so a run or an intent reads the same in every command.
"""

from __future__ import annotations

import json
import time
from typing import Any, assert_never

from gtm.core.codec import intent_to_dict, mapping_to_dict
from gtm.core.model import Event, Intent, IntentKind, Locator, Mapping
from gtm.core.runbook import Run, RunState, StepRecord
from gtm.core.status import Share


def describe_intent(intent: Intent, run: str | None = None) -> str:
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


def describe_event(event: Event) -> str:
    line = f"{clock(event.time)}  #{event.seq} {event.kind:<8} {event.service or '-'}"
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


def print_mapping(mapping: Mapping, as_json: bool) -> None:
    if as_json:
        print_json(mapping_to_dict(mapping))
        return
    for line in mapping_lines(mapping):
        print(line)


def mapping_lines(mapping: Mapping) -> list[str]:
    """Where a service is: its chosen addresses, active site, epoch, version, ttl, reason."""
    chosen = mapping.best()
    where = ", ".join(f"{loc.address}:{loc.port} ({loc.site})" for loc in chosen) or "nowhere"
    return [
        f"{mapping.service} -> {where}",
        f"  active {mapping.active_site or '-'}, epoch {mapping.epoch}, "
        f"version {mapping.version}, ttl {mapping.ttl}s",
        f"  {mapping.reason}",
    ]


def print_table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def print_json(doc: Any) -> None:
    print(json.dumps(doc, indent=2, sort_keys=True))


def clock(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def traffic(split: tuple[Share, ...]) -> str:
    """``aws-use1 70% → gcp-euw1 30%``, or ``nowhere``."""
    return " → ".join(f"{share.site} {share.percent:g}%" for share in split) or "nowhere"


def locator_text(loc: Locator, named: bool, damped: float | None = None) -> str:
    """``site:state/pN/wN``, then ``(damped 3.4)`` while flap damping holds it down with
    that penalty; ``named``: the locator's id in the site for the site's name."""
    name = (loc.id.partition("@")[2] or loc.id) if named else loc.site
    held = f"(damped {damped:.1f})" if damped is not None else ""
    return f"{name}:{loc.state.value}/p{loc.priority}/w{loc.weight}{held}"


def duration_text(seconds: float) -> str:
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


def run_line(run: Run) -> str:
    """``state: outcome``, without saying the state twice when the outcome starts with it."""
    state, outcome = run.state.value, run.outcome
    if outcome.startswith(f"{state}:"):
        return outcome
    return f"{state}: {outcome}" if outcome else state


def move_text(run: Run) -> str:
    """``from -> to``, with ``-`` for a run that starts from no site."""
    return f"{run.from_site or '-'} -> {run.to_site}"


def step_line(step: StepRecord) -> str:
    """One step as a run in progress shows it: running, or how it ended and how long."""
    if step.finished_at is None:
        return f"  {step.step.value:<10} ... {step.detail}".rstrip()
    mark = "ok" if step.ok else "FAILED"
    return f"  {step.step.value:<10} {mark} in {step.seconds or 0.0:.2f}s  {step.detail}"


def print_run(run: Run) -> None:
    """One run: what moves where, who asked and why, each step, and how it ended."""
    print(f"run {run.id}: {run.kind} of {run.service} {move_text(run)}")
    print(f"  asked by {run.who or '-'} at {clock(run.created_at)}: {run.reason}")
    if run.steps:
        rows = [["  STEP", "RESULT", "SECONDS", "DETAIL"]]
        for step in run.steps:
            result = "running" if step.ok is None else "ok" if step.ok else "FAILED"
            seconds = "-" if step.seconds is None else f"{step.seconds:.2f}"
            rows.append([f"  {step.step.value}", result, seconds, step.detail])
        print_table(rows)
    print(run_line(run) if run.state is not RunState.RUNNING else "running")


def intent_doc(intent: Intent, owned: dict[str, str]) -> dict[str, Any]:
    """An intent as JSON, with the run that created it (null when none is known)."""
    return {**intent_to_dict(intent), "run": owned.get(intent.id)}
