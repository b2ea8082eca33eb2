"""Leadership rules: when a leader stops acting, which writes are stale, what runs it inherits."""

from __future__ import annotations

import pytest

from gtm.core.leadership import (
    Inheritance,
    Lease,
    authority,
    inherit,
    stale_term,
    term_of,
    writer,
)
from gtm.core.runbook import Run, RunKind, RunState, Step

TTL = 2.0
MARGIN = 0.25


@pytest.mark.parametrize(
    ("lease", "now", "acting", "until", "why"),
    [
        (Lease(), 10.0, False, None, "not the leader"),
        (Lease(term=0, confirmed_at=9.9, session_valid_until=11.9), 10.0, False, None, "not"),
        (Lease(term=7, session_valid_until=12.0), 10.0, False, None, "not confirmed yet"),
        # Confirmed 0.1 s ago, session passed 0.1 s ago: acts until 2 s on, less the margin.
        (Lease(7, 9.9, 11.9), 10.0, True, 11.65, "leader, term 7"),
        # The nearer bound wins: a session passed long ago limits a fresh confirmation.
        (Lease(7, 9.9, 10.5), 10.0, True, 10.25, "leader, term 7"),
        (Lease(7, 8.5, 11.9), 10.0, True, 10.25, "leader, term 7"),
        # Past the bound (a process stopped for a while): no longer acting.
        (Lease(7, 8.0, 10.0), 10.0, False, None, "stopped acting 0.25s ago"),
        (Lease(7, 8.25, 12.0), 10.0, False, None, "stopped acting 0.00s ago"),
    ],
)
def test_authority(lease: Lease, now: float, acting: bool, until: float | None, why: str) -> None:
    found = authority(lease, now, TTL, MARGIN)
    assert found.acting is acting
    assert found.until == (pytest.approx(until) if until is not None else None)
    assert why in found.why


@pytest.mark.parametrize(
    ("instance", "term", "written"),
    [("site-a", 7, "site-a term 7"), ("site-a", 0, "site-a"), ("a term b", 3, "a term b term 3")],
)
def test_writer_and_term_of(instance: str, term: int, written: str) -> None:
    assert writer(instance, term) == written
    assert term_of(written) == term


@pytest.mark.parametrize(
    ("written_by", "term"),
    [("", 0), ("gtm", 0), ("site-a term", 0), ("site-a term x", 0), ("site-b term 12", 12)],
)
def test_term_of(written_by: str, term: int) -> None:
    assert term_of(written_by) == term


@pytest.mark.parametrize(
    ("stored", "new", "refused"),
    [
        (None, "site-a term 1", False),
        ("site-a term 3", "site-b term 4", False),
        ("site-a term 3", "site-a term 3", False),
        ("gtm", "site-a term 1", False),
        ("gtm", "gtm", False),
        ("site-b term 4", "site-a term 3", True),
        ("site-b term 4", "gtm", True),
    ],
)
def test_stale_term(stored: str | None, new: str, refused: bool) -> None:
    why = stale_term(stored, new)
    assert (why is not None) is refused
    if why is not None:
        assert "deposed leader" in why and new in why


def run(state: RunState = RunState.RUNNING, started: bool = True) -> Run:
    made = Run("r1", RunKind.FAILOVER, "billing", "a", "b", "maintenance", "ops", 1.0, owner="x")
    made = made.begin(Step.PREFLIGHT, 2.0) if started else made
    return made if state is RunState.RUNNING else made.finish(state, "over")


@pytest.mark.parametrize(
    ("stored", "carrying_out", "what"),
    [
        (run(started=False), False, Inheritance.EXECUTE),
        (run(), False, Inheritance.ROLL_BACK),
        (run(), True, Inheritance.LEAVE),
        (run(started=False), True, Inheritance.LEAVE),
        (run(RunState.DONE), False, Inheritance.LEAVE),
        (run(RunState.ROLLED_BACK), False, Inheritance.LEAVE),
    ],
)
def test_inherit(stored: Run, carrying_out: bool, what: Inheritance) -> None:
    assert inherit(stored, carrying_out) is what
