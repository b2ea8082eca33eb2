"""Vantage quorum: combined verdicts, abstaining vantages, lasting disagreements."""

from __future__ import annotations

import pytest

from gtm.core.health import Verdict
from gtm.core.quorum import (
    MAJORITY,
    Ballot,
    Disagreement,
    Quorum,
    Tally,
    VantageReport,
    Vote,
    lasting_disagreements,
    required_votes,
    tally,
    track_disagreements,
    vote_of,
)

UP, DOWN, UNKNOWN = Verdict.UP, Verdict.DOWN, Verdict.UNKNOWN
LOC = "billing@a/1"


def reports(*verdicts: Verdict | None, degraded: str = "") -> list[VantageReport]:
    """One report per vantage ``v1``, ``v2``, …; None: the vantage has no verdict on LOC;
    the vantages named in ``degraded`` (by digit) report themselves degraded."""
    return [
        VantageReport(
            f"v{n}",
            {} if verdict is None else {LOC: verdict},
            degraded=str(n) in degraded,
            reasons=("event loop 0.500s late",) if str(n) in degraded else (),
        )
        for n, verdict in enumerate(verdicts, start=1)
    ]


@pytest.mark.parametrize(
    ("quorum", "live", "required"),
    [
        (MAJORITY, 1, 1),
        (MAJORITY, 2, 2),
        (MAJORITY, 3, 2),
        (MAJORITY, 4, 3),
        (MAJORITY, 5, 3),
        (MAJORITY, 0, 1),
        (2, 3, 2),
        (3, 2, 3),
    ],
)
def test_required_votes(quorum: Quorum, live: int, required: int) -> None:
    assert required_votes(quorum, live) == required


@pytest.mark.parametrize(
    ("report", "vote"),
    [
        (VantageReport("a", {LOC: UP}), Vote.UP),
        (VantageReport("a", {LOC: DOWN}), Vote.DOWN),
        (VantageReport("a", {LOC: UNKNOWN}), Vote.UNKNOWN),
        (VantageReport("a", {}), Vote.UNKNOWN),
        (VantageReport("a", {LOC: DOWN}, degraded=True), Vote.ABSTAINED),
    ],
)
def test_vote_of(report: VantageReport, vote: Vote) -> None:
    assert vote_of(report, LOC) is vote


@pytest.mark.parametrize(
    ("live", "quorum", "previous", "verdict"),
    [
        pytest.param(reports(DOWN), MAJORITY, UP, DOWN, id="one-instance-down"),
        pytest.param(reports(UP), MAJORITY, UNKNOWN, UP, id="one-instance-up"),
        pytest.param(reports(UNKNOWN), MAJORITY, UNKNOWN, UNKNOWN, id="one-instance-starting"),
        pytest.param(reports(DOWN, UP, UP), MAJORITY, UP, UP, id="cut-vantage-changes-nothing"),
        pytest.param(reports(DOWN, DOWN, UP), MAJORITY, UP, DOWN, id="two-of-three-down"),
        pytest.param(reports(DOWN, DOWN, DOWN), MAJORITY, UP, DOWN, id="all-down"),
        pytest.param(
            reports(DOWN, DOWN, UP, degraded="2"), MAJORITY, UP, UP, id="degraded-abstains"
        ),
        pytest.param(
            reports(DOWN, UNKNOWN, UP), MAJORITY, UP, UP, id="no-quorum-keeps-previous-up"
        ),
        pytest.param(
            reports(UP, UNKNOWN, DOWN), MAJORITY, DOWN, DOWN, id="no-quorum-keeps-previous-down"
        ),
        pytest.param(reports(UP, UP, DOWN), MAJORITY, DOWN, UP, id="quorum-brings-it-up"),
        pytest.param(reports(DOWN, UP), MAJORITY, UP, UP, id="two-vantages-split"),
        pytest.param(reports(DOWN, DOWN), MAJORITY, UP, DOWN, id="two-vantages-agree"),
        pytest.param(reports(DOWN, None, None), MAJORITY, UP, UP, id="others-do-not-probe-it"),
        pytest.param(reports(DOWN, DOWN, UP), 3, UP, UP, id="fixed-quorum-not-reached"),
        pytest.param(reports(DOWN, UP, UP), 1, UP, DOWN, id="fixed-quorum-of-one"),
        pytest.param(reports(DOWN, DOWN), 3, UP, UP, id="fixed-quorum-above-live"),
        pytest.param([], MAJORITY, UP, UP, id="no-live-vantage"),
    ],
)
def test_tally(
    live: list[VantageReport], quorum: Quorum, previous: Verdict, verdict: Verdict
) -> None:
    assert tally(LOC, live, quorum, previous).verdict is verdict


def test_a_tally_names_every_vantage_and_its_vote_in_order() -> None:
    live = [
        VantageReport("gtm-c", {LOC: UP}),
        VantageReport("gtm-a", {LOC: DOWN}),
        VantageReport("gtm-b", {LOC: DOWN}, degraded=True),
        VantageReport("gtm-d", {LOC: DOWN}),
    ]
    result = tally(LOC, live, MAJORITY, UP)
    assert result == Tally(
        LOC,
        UP,
        3,
        (
            Ballot("gtm-a", Vote.DOWN),
            Ballot("gtm-b", Vote.ABSTAINED),
            Ballot("gtm-c", Vote.UP),
            Ballot("gtm-d", Vote.DOWN),
        ),
    )
    assert result.votes() == {
        "gtm-a": "down",
        "gtm-b": "abstained",
        "gtm-c": "up",
        "gtm-d": "down",
    }
    assert result.describe() == (
        "up by 1 of 4 live vantages (3 needed): gtm-a down, gtm-b abstained, gtm-c up, gtm-d down"
    )


def test_a_tally_without_vantages_says_none() -> None:
    assert tally(LOC, [], MAJORITY).describe() == (
        "unknown by 0 of 0 live vantages (1 needed): none"
    )


def test_a_disagreement_keeps_its_start_until_it_ends() -> None:
    first = [tally(LOC, reports(DOWN, UP, UP), MAJORITY, UP)]
    tracked = track_disagreements({}, first, 10.0)
    assert tracked == {("v1", LOC): 10.0}
    tracked = track_disagreements(tracked, first, 12.0)
    assert tracked == {("v1", LOC): 10.0}
    assert lasting_disagreements(tracked, first, 12.0, after=5.0) == []
    assert lasting_disagreements(tracked, first, 15.0, after=5.0) == [
        Disagreement("v1", LOC, Vote.DOWN, UP, 10.0)
    ]
    agreed = [tally(LOC, reports(UP, UP, UP), MAJORITY, UP)]
    assert track_disagreements(tracked, agreed, 16.0) == {}


@pytest.mark.parametrize(
    "live",
    [
        pytest.param(reports(UNKNOWN, UP, UP), id="unknown"),
        pytest.param(reports(DOWN, UP, UP, degraded="1"), id="abstained"),
    ],
)
def test_not_knowing_or_abstaining_is_no_disagreement(live: list[VantageReport]) -> None:
    assert track_disagreements({}, [tally(LOC, live, MAJORITY, UP)], 1.0) == {}


def test_an_unknown_combined_verdict_has_no_disagreement() -> None:
    starting = [tally(LOC, reports(DOWN, UP, UNKNOWN), MAJORITY, UNKNOWN)]
    assert starting[0].verdict is UNKNOWN
    assert track_disagreements({}, starting, 1.0) == {}


def test_lasting_disagreements_skip_what_the_tallies_no_longer_hold() -> None:
    now = [tally(LOC, reports(DOWN, UP, UP), MAJORITY, UP)]
    tracked = {("v1", LOC): 0.0, ("gone", LOC): 0.0, ("v1", "other@b/1"): 0.0}
    assert lasting_disagreements(tracked, now, 100.0, after=1.0) == [
        Disagreement("v1", LOC, Vote.DOWN, UP, 0.0)
    ]


def test_lasting_disagreements_are_oldest_first() -> None:
    other = "billing@b/1"
    tallies = [
        tally(LOC, reports(DOWN, UP, UP), MAJORITY, UP),
        Tally(other, UP, 2, (Ballot("v2", Vote.DOWN), Ballot("v1", Vote.UP))),
    ]
    tracked = {("v1", LOC): 5.0, ("v2", other): 3.0}
    assert [d.vantage for d in lasting_disagreements(tracked, tallies, 10.0, 1.0)] == [
        "v2",
        "v1",
    ]
