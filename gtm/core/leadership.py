"""Who may act for the cluster, and which writes a deposed leader can no longer make.

Several gtm instances share one Consul cluster; the one whose session holds the leader
lock decides, reconciles providers and runs planned failovers. Consul ends a session
whose check is not passed within its TTL, and frees the lock once the lock delay is over;
the leader must have stopped acting by then, on its own clock, without asking anyone
(self-fencing). These rules are pure, so the runtime, the status pages and the tests all
ask the same question the same way.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from gtm.core.runbook import Run, RunState

TERM_MARK = re.compile(r"^(?P<instance>.*) term (?P<term>[0-9]+)$")
"""How a leader's term is written after its name in a mapping's ``written_by``."""


@dataclass(frozen=True, slots=True)
class Lease:
    """What an instance knows of its hold on the leader lock, on its monotonic clock.

    Attributes:
        term: The lock's ``LockIndex`` when this instance took it; 0 when it holds
            nothing.
        confirmed_at: When the last request that found the lock held by this instance's
            session was sent; None before the first.
        session_valid_until: Before when the session cannot have ended by its check
            (the send time of the last accepted pass plus the check's TTL).
    """

    term: int = 0
    confirmed_at: float | None = None
    session_valid_until: float = 0.0


@dataclass(frozen=True, slots=True)
class Authority:
    """Whether an instance may act for the cluster now, until when, and why.

    Attributes:
        acting: True while the instance may decide, write mappings and touch providers.
        until: The moment it must stop, unless confirmed again (None when not acting).
        why: One sentence for the status page and the log.
    """

    acting: bool
    until: float | None
    why: str


def authority(lease: Lease, now: float, ttl: float, margin: float) -> Authority:
    """Whether the holder of ``lease`` may still act at ``now``.

    The lock was held by this session when ``confirmed_at`` was sent, and the session
    cannot end by its check before ``session_valid_until``; both bounds are ``ttl`` long,
    and the instance stops ``margin`` seconds before the nearer one, so a process stopped
    or cut off stops acting before another can have taken the lock (that one waits out
    the lock delay on top).

    Args:
        lease: What the instance knows.
        now: Monotonic now.
        ttl: The session check's TTL, in seconds.
        margin: Seconds kept in hand for a clock read late or a slow step.
    """
    if lease.term <= 0:
        return Authority(False, None, "not the leader")
    if lease.confirmed_at is None:
        return Authority(False, None, f"term {lease.term}: the lock is not confirmed yet")
    until = min(lease.confirmed_at + ttl, lease.session_valid_until) - margin
    if now >= until:
        late = now - until
        return Authority(
            False,
            None,
            f"term {lease.term}: stopped acting {late:.2f}s ago, the lock or the session"
            " was not confirmed in time",
        )
    return Authority(True, until, f"leader, term {lease.term}")


def writer(instance: str, term: int) -> str:
    """The ``written_by`` of a mapping the leader of ``term`` writes (``a term 7``);
    just the name for an instance that leads nothing (term 0)."""
    return f"{instance} term {term}" if term > 0 else instance


def term_of(written_by: str) -> int:
    """The leader's term in a mapping's ``written_by``; 0 for a writer of no term."""
    found = TERM_MARK.match(written_by)
    return int(found.group("term")) if found else 0


def stale_term(stored_by: str | None, written_by: str) -> str | None:
    """Why a mapping written by ``written_by`` may not replace one by ``stored_by``.

    A write of a lower term than the stored mapping's comes from a leader that was
    deposed since: it is refused. None when the write may go ahead.
    """
    if stored_by is None:
        return None
    stored, new = term_of(stored_by), term_of(written_by)
    if new >= stored:
        return None
    return (
        f"term {new} of {written_by!r} is below term {stored} of the stored mapping"
        f" ({stored_by!r}): a deposed leader's write"
    )


class Inheritance(enum.StrEnum):
    """What a new leader does with a run it finds in the registry."""

    EXECUTE = "execute"
    """Not started yet (posted to another instance): carry it out from the start."""
    ROLL_BACK = "roll-back"
    """Started by a leader that is gone: roll it back."""
    LEAVE = "leave"
    """Finished, or being carried out by this leader already."""


def inherit(run: Run, carrying_out: bool) -> Inheritance:
    """What the leader does with ``run``.

    Only the leader carries runs out, so a running run that this leader is not carrying
    out was left by a leader that is gone (or by this one, before it lost the lock):
    whatever it did is undone, unless it never began a step.

    Args:
        run: A stored run.
        carrying_out: Whether this leader has the run in hand already.
    """
    if run.state is not RunState.RUNNING or carrying_out:
        return Inheritance.LEAVE
    return Inheritance.EXECUTE if not run.steps else Inheritance.ROLL_BACK
