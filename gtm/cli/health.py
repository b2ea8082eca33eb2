"""``gtm health``: every locator's verdict and the probes behind it, from a running gtm."""

from __future__ import annotations

import argparse
from typing import Any

from gtm.cli.calls import call
from gtm.cli.render import clock, print_json, print_table

LAST_PROBES = 10
"""Probes shown per locator in the table (``--json`` has every one the API keeps)."""

MARKS = {"ok": ".", "fail": "x", "unknown": "?"}
"""One character per probe result, oldest first, in the table's PROBES column."""


def health(args: argparse.Namespace) -> int:
    """A table of locators: verdict, published state, failure rate, threshold, penalty."""
    locators = call(args, lambda client: client.locators(args.service))
    if args.json:
        print_json({"locators": locators})
        return 0
    print_table(table(locators))
    return 0


def table(locators: list[dict[str, Any]]) -> list[list[str]]:
    """The table's rows, heading first; with a RELEASE column once any locator has a
    release read (its service's check names one)."""
    releases = any(locator.get("release") is not None for locator in locators)
    head = ["LOCATOR", "VERDICT", "STATE", "SINCE", "FAIL RATE", "FALL", "PENALTY", "LATENCY"]
    head += ["PROBES", "REASON"]
    rows = [head] + [row(locator) for locator in locators]
    if releases:
        rows[0].insert(3, "RELEASE")
        for cells, locator in zip(rows[1:], locators, strict=True):
            cells.insert(3, locator.get("release") or "-")
    return rows


def row(locator: dict[str, Any]) -> list[str]:
    """One locator's table row (without its release)."""
    probes: list[dict[str, Any]] = locator["probes"]
    latencies = [p["latency_s"] for p in probes if p["latency_s"] is not None]
    since = locator["since"]
    penalty = f"{locator['penalty']:.2f}" + (" held" if locator["held"] else "")
    return [
        locator["id"],
        locator["verdict"],
        locator["state"] or "-",
        clock(since) if since is not None else "-",
        f"{locator['failure_rate'] * 100:.1f}%",
        f"{locator['fail_streak']}/{locator['required_failures']}",
        penalty,
        f"{latencies[-1] * 1000:.1f} ms" if latencies else "-",
        "".join(MARKS.get(p["result"], "?") for p in probes[-LAST_PROBES:]) or "-",
        locator["reason"],
    ]
