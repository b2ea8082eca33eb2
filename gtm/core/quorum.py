"""Vantage quorum: a locator is down only when enough live vantages say so.

With several gtm instances, each probes every locator from where it stands and publishes its
verdicts; the leader combines them here, so a vantage cut off from one site cannot move that
site's traffic on its own. A vantage that knows it is degraded (:mod:`gtm.core.vantage`)
abstains: it still counts among the live vantages, but its verdicts do not. A change of the
combined verdict, either way, needs a quorum; short of one the previous verdict stands. A
vantage that keeps disagreeing with the combined verdict is tracked, to be shown, never
obeyed. Everything here is a pure function of values and ``now``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from gtm.core.health import Verdict

MAJORITY: Literal["majority"] = "majority"
"""The default quorum: more than half of the live vantages."""

Quorum = int | Literal["majority"]
"""How many vantages must agree: ``majority`` of the live ones, or a fixed number."""


class Vote(StrEnum):
    """What one vantage says about one locator."""

    UP = "up"
    DOWN = "down"
    UNKNOWN = "unknown"
    """No verdict yet, or the vantage does not probe the locator."""
    ABSTAINED = "abstained"
    """The vantage reports itself degraded: its verdicts are not counted."""


@dataclass(frozen=True, slots=True)
class VantageReport:
    """One live vantage's verdicts, as it published them.

    Attributes:
        vantage: The instance's name.
        verdicts: Its verdict of each locator it probes, by locator id.
        degraded: It reports itself degraded (see :func:`gtm.core.vantage.assess`).
        reasons: Why it is degraded, one sentence per symptom.
    """

    vantage: str
    verdicts: Mapping[str, Verdict] = field(default_factory=dict)
    degraded: bool = False
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Ballot:
    """How one vantage voted on one locator."""

    vantage: str
    vote: Vote


@dataclass(frozen=True, slots=True)
class Tally:
    """The combined verdict of one locator and the ballots it rests on.

    Attributes:
        locator: The locator's id.
        verdict: The combined verdict.
        required: Votes a change of verdict needs.
        ballots: Every live vantage's vote, by vantage name.
    """

    locator: str
    verdict: Verdict
    required: int
    ballots: tuple[Ballot, ...]

    def count(self, vote: Vote) -> int:
        """How many live vantages voted ``vote``."""
        return sum(1 for ballot in self.ballots if ballot.vote is vote)

    def votes(self) -> dict[str, str]:
        """Each vantage's vote, by vantage name, as the journal records it."""
        return {ballot.vantage: ballot.vote.value for ballot in self.ballots}

    def describe(self) -> str:
        """One sentence: ``down by 2 of 3 live vantages (2 needed): a down, b down, c up``."""
        agreeing = self.count(Vote(self.verdict.value))
        votes = ", ".join(f"{ballot.vantage} {ballot.vote.value}" for ballot in self.ballots)
        return (
            f"{self.verdict.value} by {agreeing} of {len(self.ballots)} live vantages"
            f" ({self.required} needed): {votes or 'none'}"
        )


@dataclass(frozen=True, slots=True)
class Disagreement:
    """A vantage whose vote on a locator has differed from the combined verdict since ``since``."""

    vantage: str
    locator: str
    vote: Vote
    verdict: Verdict
    since: float


def required_votes(quorum: Quorum, live: int) -> int:
    """Votes a change of verdict needs among ``live`` vantages.

    ``majority`` is more than half of the live vantages, degraded ones included (they are
    alive, only their verdicts are not trusted), so abstaining never lowers the bar. A
    number is taken as given, even above the live count: then nothing changes until enough
    vantages are back.
    """
    return live // 2 + 1 if quorum == MAJORITY else int(quorum)


def vote_of(report: VantageReport, locator: str) -> Vote:
    """What ``report``'s vantage says about ``locator``."""
    if report.degraded:
        return Vote.ABSTAINED
    verdict = report.verdicts.get(locator, Verdict.UNKNOWN)
    return Vote(verdict.value)


def tally(
    locator: str,
    reports: Iterable[VantageReport],
    quorum: Quorum,
    previous: Verdict = Verdict.UNKNOWN,
) -> Tally:
    """The combined verdict of ``locator`` from the live vantages' reports.

    Down when at least the required number of voting vantages say down; else up when at
    least that many say up; else ``previous`` stands (a vantage cut off from a site, or
    one still starting, changes nothing on its own).

    Args:
        locator: The locator's id.
        reports: The report of every live vantage (one per vantage; a dead vantage's
            report has vanished with its session).
        quorum: The configured quorum.
        previous: The combined verdict so far.
    """
    ballots = tuple(
        sorted(
            (Ballot(report.vantage, vote_of(report, locator)) for report in reports),
            key=lambda ballot: ballot.vantage,
        )
    )
    required = required_votes(quorum, len(ballots))
    result = Tally(locator, previous, required, ballots)
    if result.count(Vote.DOWN) >= required:
        return Tally(locator, Verdict.DOWN, required, ballots)
    if result.count(Vote.UP) >= required:
        return Tally(locator, Verdict.UP, required, ballots)
    return result


def track_disagreements(
    tracked: Mapping[tuple[str, str], float], tallies: Iterable[Tally], now: float
) -> dict[tuple[str, str], float]:
    """Since when each vantage has disagreed with each locator's combined verdict.

    A vantage disagrees when it votes up or down and the combined verdict, itself up or
    down, is the other. Agreeing again, abstaining or not knowing ends a disagreement.

    Args:
        tracked: ``(vantage, locator)`` to the time its disagreement began, so far.
        tallies: The current tally of every locator.
        now: The time of these tallies.

    Returns:
        The disagreements now, each with the time it began.
    """
    current: dict[tuple[str, str], float] = {}
    for result in tallies:
        if result.verdict is Verdict.UNKNOWN:
            continue
        for ballot in result.ballots:
            if ballot.vote in (Vote.UP, Vote.DOWN) and ballot.vote.value != result.verdict.value:
                key = (ballot.vantage, result.locator)
                current[key] = tracked.get(key, now)
    return current


def lasting_disagreements(
    tracked: Mapping[tuple[str, str], float],
    tallies: Iterable[Tally],
    now: float,
    after: float,
) -> list[Disagreement]:
    """The disagreements that have lasted at least ``after`` seconds, oldest first.

    Args:
        tracked: What :func:`track_disagreements` returned for ``tallies``.
        tallies: The current tally of every locator.
        now: The time now.
        after: Seconds a disagreement must last to be shown.
    """
    by_locator = {result.locator: result for result in tallies}
    shown: list[Disagreement] = []
    for (vantage, locator), since in tracked.items():
        result = by_locator.get(locator)
        vote = None if result is None else result.votes().get(vantage)
        if result is None or vote is None or now - since < after:
            continue
        shown.append(Disagreement(vantage, locator, Vote(vote), result.verdict, since))
    return sorted(shown, key=lambda d: (d.since, d.vantage, d.locator))
