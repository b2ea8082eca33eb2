"""A degraded vantage on the virtual-time loop: failures it cannot trust, moves it holds.

The symptoms are reported as the shell reports them (the lag monitor, a stalled store);
the sites fail as scripted, so every time here is exact.
"""

from __future__ import annotations

import asyncio

import pytest
from clockbed import SERVICE, Bed, bed, sleep_until
from virtual_time import EPOCH, RunVirtual

from gtm.controller.controller import DEGRADED, RECOVERED
from gtm.core.health import Verdict
from gtm.core.model import Event, Intent, IntentKind
from gtm.core.vantage import Symptom, VantageParams
from gtm.errors import StoreUnavailable

HOLD = VantageParams().hold


async def journal(test_bed: Bed) -> list[Event]:
    return await test_bed.registry.events(None, limit=1000)


def test_failures_while_the_store_is_stalled_are_unknown_and_nothing_moves(
    run_virtual: RunVirtual,
) -> None:
    async def scenario() -> tuple[list[Event], Bed, dict[str, object]]:
        async with bed() as test_bed:
            await sleep_until(10.2)
            test_bed.controller.report(Symptom.STORE_STALLED, "store locked", ongoing=True)
            test_bed.sites["site-a"].up = False
            await sleep_until(20.0)
            status = test_bed.controller.vantage_status()
            assert test_bed.registry.get(SERVICE).active_site == "site-a"
            assert test_bed.controller.health(f"{SERVICE}@site-a").verdict is Verdict.UP
            assert "last probe unknown: scripted down (this instance is degraded: store" in (
                test_bed.controller.health(f"{SERVICE}@site-a").reason
            )
            test_bed.controller.clear(Symptom.STORE_STALLED)
            await sleep_until(30.0)
            assert test_bed.registry.get(SERVICE).active_site == "site-b"
            return await journal(test_bed), test_bed, status

    events, test_bed, status = run_virtual(scenario())

    assert status == {
        "degraded": True,
        "reasons": ["store locked"],
        "since": EPOCH + 10.2,
        "held": [],
        # Three sites probed once a second, over the last ten seconds.
        "probe_lateness": {"window_s": 10.0, "probes": 30, "p99_s": 0.0, "max_s": 0.0},
        "verdicts_down": 0,
    }
    assert [event.kind for event in events] == [DEGRADED, RECOVERED, "health", "move"]
    degraded, recovered, health, move = events
    assert health.reason.startswith(f"{SERVICE}@site-a up -> down: ")
    assert degraded.service is None
    assert degraded.reason == "degraded: store locked"
    assert degraded.time == EPOCH + 10.2
    assert recovered.reason.startswith("recovered after ")
    assert recovered.reason.endswith("degraded (was: store locked)")
    # The spell ends a hold time after the store's stall, and is noticed with the first
    # probe result after that; only probes started after the end count.
    assert recovered.time > EPOCH + 20.0 + HOLD
    assert move.timeline["first_failed_probe"] >= EPOCH + 20.0 + HOLD
    downs = [(locator, at) for locator, verdict, at in test_bed.verdicts if verdict == "down"]
    assert downs == [(f"{SERVICE}@site-a", pytest.approx(move.timeline["verdict"] - EPOCH))]


def test_loop_lag_makes_a_failure_unknown_without_an_ongoing_symptom(
    run_virtual: RunVirtual,
) -> None:
    async def scenario() -> list[tuple[str, str, float]]:
        async with bed() as test_bed:
            await sleep_until(10.3)
            test_bed.sites["site-a"].up = False
            # The loop was stalled just before the probe at 11.06 failed.
            await sleep_until(11.0)
            test_bed.controller.observe_lag(0.5)
            await sleep_until(11.0 + HOLD)
            assert test_bed.registry.get(SERVICE).active_site == "site-a"
            await sleep_until(20.0)
            assert test_bed.registry.get(SERVICE).active_site == "site-b"
            return test_bed.verdicts

    verdicts = run_virtual(scenario())

    downs = [at for locator, verdict, at in verdicts if verdict == "down"]
    assert len(downs) == 1
    assert downs[0] > 11.0 + HOLD


def test_a_pin_made_while_degraded_is_carried_out_at_once(run_virtual: RunVirtual) -> None:
    async def scenario() -> tuple[dict[str, object], list[Event]]:
        async with bed() as test_bed:
            await sleep_until(5.0)
            test_bed.controller.observe_lag(0.3)
            await test_bed.registry.add_intent(
                Intent(
                    "pin-b",
                    IntentKind.PIN,
                    service=SERVICE,
                    site="site-b",
                    who="ops",
                    created_at=EPOCH + 5.0,
                )
            )
            await sleep_until(5.5)
            during = test_bed.controller.vantage_status()
            assert test_bed.registry.get(SERVICE).active_site == "site-b"
            await sleep_until(5.0 + HOLD + 0.5)
            test_bed.controller.refresh()
            await sleep_until(5.0 + HOLD + 1.0)
            return during, await journal(test_bed)

    during, events = run_virtual(scenario())

    assert during["degraded"] is True
    assert during["held"] == []
    assert [event.kind for event in events] == [DEGRADED, "move", RECOVERED]


def test_an_automatic_move_while_degraded_is_held_then_made(run_virtual: RunVirtual) -> None:
    async def scenario() -> tuple[dict[str, object], list[Event]]:
        async with bed() as test_bed:
            await sleep_until(5.0)
            # A pin made before the spell: the move it asks for is not the operator acting
            # during the spell, and waits like any automatic change.
            await test_bed.registry.add_intent(
                Intent(
                    "pin-b",
                    IntentKind.PIN,
                    service=SERVICE,
                    site="site-b",
                    who="ops",
                    created_at=EPOCH + 5.0,
                ),
            )
            test_bed.controller.observe_lag(0.3)
            await sleep_until(5.5)
            held = test_bed.controller.vantage_status()
            assert test_bed.registry.get(SERVICE).active_site == "site-a"
            # Nothing else reports: the tick notices the end of the spell.
            await sleep_until(5.0 + HOLD + 0.5)
            test_bed.controller.tick()
            await sleep_until(5.0 + HOLD + 1.0)
            assert test_bed.registry.get(SERVICE).active_site == "site-b"
            return held, await journal(test_bed)

    held, events = run_virtual(scenario())

    assert held["degraded"] is True
    assert held["held"] == [SERVICE]
    assert held["reasons"] == ["event loop 0.300s late (bound 0.100s)"]
    assert [event.kind for event in events] == [DEGRADED, RECOVERED, "move"]
    assert events[2].time >= events[1].time


def test_a_success_is_trusted_even_while_degraded(run_virtual: RunVirtual) -> None:
    async def scenario() -> Verdict:
        async with bed() as test_bed:
            test_bed.controller.report(Symptom.RESOURCES, "out of file descriptors", ongoing=True)
            await sleep_until(5.0)
            return test_bed.controller.health(f"{SERVICE}@site-b").verdict

    assert run_virtual(scenario()) is Verdict.UP


def test_a_spell_that_cannot_be_journaled_at_once_is_journaled_when_the_store_answers(
    run_virtual: RunVirtual, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> list[Event]:
        async with bed() as test_bed:
            real = test_bed.registry.record
            refusals = [StoreUnavailable("store: database is locked")] * 2

            async def record(event: Event) -> Event:
                if refusals:
                    raise refusals.pop()
                return await real(event)

            monkeypatch.setattr(test_bed.registry, "record", record)
            await sleep_until(5.0)
            test_bed.controller.report(Symptom.STORE_STALLED, "store locked", ongoing=True)
            await sleep_until(10.0)
            return await journal(test_bed)

    events = run_virtual(scenario())
    assert [(event.kind, event.time) for event in events] == [(DEGRADED, EPOCH + 5.0)]


def test_late_probes_are_summarised_and_their_failures_unknown(run_virtual: RunVirtual) -> None:
    async def scenario() -> tuple[dict[str, object], Verdict]:
        async with bed() as test_bed:
            await sleep_until(20.0)
            locator = f"{SERVICE}@site-c"
            for n in range(100):
                late = 0.5 if n == 99 else n / 1000
                now = asyncio.get_running_loop().time()
                test_bed.controller.observe(locator, False, "scripted down", now, late=late)
            return test_bed.controller.vantage_status(), test_bed.controller.health(locator).verdict

    status, verdict = run_virtual(scenario())

    # 100 late probes and the 30 scheduled ones of the last ten seconds, on time.
    assert status["probe_lateness"] == {
        "window_s": 10.0,
        "probes": 130,
        "p99_s": 0.098,
        "max_s": 0.5,
    }
    # The failures before the late one counted (they were on time): site-c went down
    # once; the late one, and every failure after it while degraded, did not count again.
    assert status["verdicts_down"] == 1
    assert verdict is Verdict.DOWN
    assert status["reasons"] == ["a probe started 0.500s late (bound 0.250s)"]


def test_a_store_call_in_flight_too_long_degrades_until_it_answers(
    run_virtual: RunVirtual,
) -> None:
    async def scenario() -> tuple[dict[str, object], dict[str, object], dict[str, object]]:
        async with bed() as test_bed:
            await sleep_until(10.2)
            test_bed.controller.observe_store(VantageParams().max_store_wait * 4)
            stalled = test_bed.controller.vantage_status()
            await sleep_until(12.0)
            test_bed.controller.observe_store(0.0)
            answered = test_bed.controller.vantage_status()
            await sleep_until(12.0 + HOLD + 1.0)
            test_bed.controller.observe_store(0.0)
            return stalled, answered, test_bed.controller.vantage_status()

    stalled, answered, later = run_virtual(scenario())

    assert stalled["degraded"] is True
    assert stalled["reasons"] == ["a store call in flight for 2.000s (bound 0.500s)"]
    assert answered["degraded"] is True  # held for the hold time after the store answered
    assert later["degraded"] is False


def test_a_shared_check_is_one_probe_for_the_vantage_and_one_result_per_locator(
    run_virtual: RunVirtual,
) -> None:
    async def scenario() -> tuple[dict[str, object], dict[str, object], list[float | None]]:
        async with bed() as test_bed:
            await sleep_until(20.0)
            before = test_bed.controller.vantage_status()
            now = asyncio.get_running_loop().time()
            locators = [f"{SERVICE}@site-b", f"{SERVICE}@site-c"]
            delays = test_bed.controller.observe_shared(
                locators, False, "scripted down", now, late=0.01
            )
            return before, test_bed.controller.vantage_status(), delays

    before, after, delays = run_virtual(scenario())

    lateness_before = before["probe_lateness"]
    lateness_after = after["probe_lateness"]
    assert isinstance(lateness_before, dict) and isinstance(lateness_after, dict)
    # Two locators judged by one probe: the vantage counts one probe, not two.
    assert lateness_after["probes"] == lateness_before["probes"] + 1
    # Each locator saw its first failure and asks for its own quick recheck.
    assert delays == [pytest.approx(0.05), pytest.approx(0.05)]


def test_a_first_mapping_onto_the_first_site_is_made_while_degraded(
    run_virtual: RunVirtual,
) -> None:
    async def scenario() -> str | None:
        async with bed() as test_bed:
            test_bed.controller.report(Symptom.STORE_STALLED, "store locked", ongoing=True)
            await sleep_until(3.0)
            assert test_bed.controller.vantage_status()["degraded"] is True
            mapping = test_bed.registry.get(SERVICE)
            test_bed.controller.clear(Symptom.STORE_STALLED)
            return None if mapping is None else mapping.active_site

    assert run_virtual(scenario()) == "site-a"


def test_a_first_mapping_that_passes_the_first_site_over_waits_for_the_spell_to_end(
    run_virtual: RunVirtual,
) -> None:
    async def scenario() -> tuple[bool, str | None]:
        async with bed() as test_bed:
            test_bed.sites["site-a"].up = False
            test_bed.controller.report(Symptom.STORE_STALLED, "store locked", ongoing=True)
            await sleep_until(5.0)
            during = test_bed.registry.get(SERVICE) is None
            test_bed.controller.clear(Symptom.STORE_STALLED)
            await sleep_until(5.0 + HOLD + 6.0)
            mapping = test_bed.registry.get(SERVICE)
            return during, None if mapping is None else mapping.active_site

    assert run_virtual(scenario()) == (True, "site-b")
