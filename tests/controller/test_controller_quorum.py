"""The controller with other vantages: decisions follow the quorum, not this vantage alone.

The other vantages' reports are handed in as the cluster's watch hands them; this
vantage probes scripted sites on the virtual-time loop.
"""

from __future__ import annotations

from clockbed import SERVICE, SITES, bed, sleep_until
from virtual_time import RunVirtual

from gtm.controller.vantages import Vantages
from gtm.core.health import Verdict
from gtm.core.model import Event
from gtm.core.quorum import VantageReport

A, B, C = (f"{SERVICE}@{site}" for site in SITES)
UP, DOWN = Verdict.UP, Verdict.DOWN


def peer(name: str, a: Verdict, *, degraded: bool = False) -> VantageReport:
    return VantageReport(name, {A: a, B: UP, C: UP}, degraded=degraded)


def vantages(published: list[tuple[str, object]] | None = None) -> Vantages:
    class Sink:
        def set_verdict(self, locator: str, verdict: Verdict) -> None:
            if published is not None:
                published.append((locator, verdict))

        def set_vantage(self, degraded: bool, reasons: tuple[str, ...]) -> None:
            if published is not None:
                published.append(("vantage", degraded))

    return Vantages("test", (A, B, C), sink=Sink(), disagree_after=5.0)


def test_a_vantage_cut_off_from_a_site_moves_nothing_and_is_shown(
    run_virtual: RunVirtual,
) -> None:
    published: list[tuple[str, object]] = []

    async def scenario() -> tuple[dict[str, object] | None, list[Event]]:
        async with bed(vantages=vantages(published)) as test_bed:
            test_bed.controller.peers({"p1": peer("p1", UP), "p2": peer("p2", UP)})
            await sleep_until(5.0)
            assert test_bed.registry.get(SERVICE).active_site == "site-a"
            # Only this vantage loses site-a: the others still reach it.
            test_bed.sites["site-a"].up = False
            await sleep_until(20.0)
            assert test_bed.controller.health(A).verdict is DOWN
            assert test_bed.controller.verdicts(SERVICE)[A] is UP
            assert test_bed.registry.get(SERVICE).active_site == "site-a"
            status = test_bed.controller.vantages_status()
            return status, await test_bed.registry.events(None, limit=100)

    status, events = run_virtual(scenario())

    assert [e.kind for e in events] == ["health"]  # this vantage's own verdict only
    assert (A, DOWN) in published
    assert status is not None
    assert status["quorum"] == "majority"
    assert [v["name"] for v in status["vantages"]] == ["p1", "p2", "test"]  # type: ignore[index]
    (disagreement,) = status["disagreements"]  # type: ignore[misc]
    assert disagreement["vantage"] == "test"
    assert disagreement["locator"] == A
    assert disagreement["says"] == "down"
    assert disagreement["verdict"] == "up"


def test_a_quorum_moves_and_the_move_names_the_votes(run_virtual: RunVirtual) -> None:
    async def scenario() -> list[Event]:
        async with bed(vantages=vantages()) as test_bed:
            test_bed.controller.peers({"p1": peer("p1", UP), "p2": peer("p2", UP)})
            await sleep_until(5.0)
            test_bed.sites["site-a"].up = False
            await sleep_until(10.0)
            assert test_bed.registry.get(SERVICE).active_site == "site-a"
            # A second vantage sees it too: two of three.
            test_bed.controller.peers({"p1": peer("p1", DOWN), "p2": peer("p2", UP)})
            await sleep_until(11.0)
            assert test_bed.registry.get(SERVICE).active_site == "site-b"
            return await test_bed.registry.events(None, limit=100)

    events = run_virtual(scenario())

    move = next(e for e in events if e.kind == "move")
    assert move.votes == {A: {"p1": "down", "p2": "up", "test": "down"}}
    assert f"{A} down by 2 of 3 live vantages (2 needed): p1 down, p2 up, test down" in (
        move.reason
    )
    assert "first_failed_probe" in move.timeline


def test_a_degraded_vantage_abstains(run_virtual: RunVirtual) -> None:
    async def scenario() -> None:
        async with bed(vantages=vantages()) as test_bed:
            test_bed.controller.peers({"p1": peer("p1", UP), "p2": peer("p2", UP)})
            await sleep_until(5.0)
            test_bed.sites["site-a"].up = False
            # p1 says down too, but it knows it is sick: its vote does not count.
            test_bed.controller.peers({"p1": peer("p1", DOWN, degraded=True), "p2": peer("p2", UP)})
            await sleep_until(15.0)
            assert test_bed.registry.get(SERVICE).active_site == "site-a"
            # Once it has recovered, its vote counts.
            test_bed.controller.peers({"p1": peer("p1", DOWN), "p2": peer("p2", UP)})
            await sleep_until(16.0)
            assert test_bed.registry.get(SERVICE).active_site == "site-b"

    run_virtual(scenario())


def test_a_vanished_vantage_no_longer_votes(run_virtual: RunVirtual) -> None:
    async def scenario() -> None:
        async with bed(vantages=vantages()) as test_bed:
            test_bed.controller.peers({"p1": peer("p1", UP), "p2": peer("p2", UP)})
            await sleep_until(5.0)
            test_bed.sites["site-a"].up = False
            await sleep_until(10.0)
            # p2's session ends (its instance died with site-a's network): two live
            # vantages, both needed; p1 agrees.
            test_bed.controller.peers({"p1": peer("p1", DOWN)})
            await sleep_until(11.0)
            assert test_bed.registry.get(SERVICE).active_site == "site-b"

    run_virtual(scenario())
