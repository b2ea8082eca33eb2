"""The controller's view of every vantage: its own verdicts and the others', counted.

With several instances, the verdicts a decision uses are the quorum's
(:func:`gtm.core.quorum.tally`), not this vantage's alone. This keeps the live vantages'
reports (this one's as it judges, the others' as they published them), the combined verdict
of each locator, and since when each vantage has disagreed; it publishes this vantage's own
verdicts through a :class:`VerdictSink`. It decides nothing itself: the core counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from gtm.core.health import Verdict
from gtm.core.quorum import (
    MAJORITY,
    Quorum,
    Tally,
    VantageReport,
    lasting_disagreements,
    tally,
    track_disagreements,
)

DISAGREE_AFTER = 30.0
"""Seconds a vantage must disagree with the combined verdict before it is shown."""


class VerdictSink(Protocol):
    """Where this vantage's verdicts are published (:class:`gtm.cluster.verdicts.VerdictBoard`).

    Implementations must return at once (they note the change and publish it later) and
    must not raise.
    """

    def set_verdict(self, locator: str, verdict: Verdict) -> None:
        """This vantage's verdict of ``locator`` is now ``verdict``."""
        ...

    def set_vantage(self, degraded: bool, reasons: tuple[str, ...]) -> None:
        """This vantage is now degraded or not, for ``reasons``."""
        ...


class Vantages:
    """Every live vantage's verdicts and their tallies.

    Args:
        instance: This vantage's name.
        locators: Every locator id the controller judges.
        quorum: The configured quorum.
        sink: Where this vantage's own verdicts are published; None: nowhere.
        disagree_after: Seconds of disagreement before it is shown.
    """

    def __init__(
        self,
        instance: str,
        locators: Iterable[str],
        quorum: Quorum = MAJORITY,
        *,
        sink: VerdictSink | None = None,
        disagree_after: float = DISAGREE_AFTER,
    ) -> None:
        self.instance = instance
        self.quorum = quorum
        self._sink = sink
        self._disagree_after = disagree_after
        self._own = VantageReport(instance, {})
        self._others: dict[str, VantageReport] = {}
        self._tallies = {locator: tally(locator, [], quorum) for locator in locators}
        self._tracked: dict[tuple[str, str], float] = {}

    def set_own(self, locator: str, verdict: Verdict) -> None:
        """This vantage judged ``locator`` ``verdict``; published through the sink."""
        verdicts = dict(self._own.verdicts)
        verdicts[locator] = verdict
        self._own = VantageReport(self.instance, verdicts, self._own.degraded, self._own.reasons)
        if self._sink is not None:
            self._sink.set_verdict(locator, verdict)

    def set_own_vantage(self, degraded: bool, reasons: tuple[str, ...]) -> None:
        """This vantage is degraded or not: a degraded vantage abstains."""
        self._own = VantageReport(self.instance, self._own.verdicts, degraded, reasons)
        if self._sink is not None:
            self._sink.set_vantage(degraded, reasons)

    def set_others(self, reports: Mapping[str, VantageReport]) -> None:
        """The other live vantages' reports, as last read (this vantage's own is ignored)."""
        self._others = {name: r for name, r in reports.items() if name != self.instance}

    def recount(self, locators: Iterable[str], now: float) -> list[Tally]:
        """Count the votes on ``locators`` again; the tallies whose verdict changed."""
        live = [self._own, *self._others.values()]
        changed = []
        for locator in locators:
            before = self._tallies[locator]
            after = tally(locator, live, self.quorum, before.verdict)
            self._tallies[locator] = after
            if after.verdict is not before.verdict:
                changed.append(after)
        self._tracked = track_disagreements(self._tracked, self._tallies.values(), now)
        return changed

    @property
    def locators(self) -> tuple[str, ...]:
        """Every locator counted."""
        return tuple(self._tallies)

    def verdict(self, locator: str) -> Verdict:
        """The combined verdict of ``locator``."""
        return self._tallies[locator].verdict

    def tally(self, locator: str) -> Tally:
        """The last count of the votes on ``locator``."""
        return self._tallies[locator]

    def status(self, now: float, wall: float) -> dict[str, object]:
        """The vantages for ``/v1/cluster`` and ``gtm status``.

        Each live vantage with whether it is degraded, why, and how many locators it
        judges up, down and unknown; the quorum; the disagreements that have lasted
        ``disagree_after`` seconds, each with its start in wall time.

        Args:
            now: Monotonic time now.
            wall: Wall time now (the disagreements' starts are shown in it).
        """
        vantages = []
        for report in sorted([self._own, *self._others.values()], key=lambda r: r.vantage):
            counts = {verdict.value: 0 for verdict in Verdict}
            for locator in self._tallies:
                counts[report.verdicts.get(locator, Verdict.UNKNOWN).value] += 1
            vantages.append(
                {
                    "name": report.vantage,
                    "degraded": report.degraded,
                    "reasons": list(report.reasons),
                    "verdicts": counts,
                }
            )
        lasting = lasting_disagreements(
            self._tracked, self._tallies.values(), now, self._disagree_after
        )
        return {
            "quorum": self.quorum,
            "vantages": vantages,
            "disagreements": [
                {
                    "vantage": d.vantage,
                    "locator": d.locator,
                    "says": d.vote.value,
                    "verdict": d.verdict.value,
                    "since": round(wall - (now - d.since), 3),
                }
                for d in lasting
            ],
        }
