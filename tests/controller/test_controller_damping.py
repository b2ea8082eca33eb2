"""Flap damping as ``/healthz`` shows it: each locator's penalty now, and whether it is held."""

from __future__ import annotations

from clockbed import SERVICE, ScriptedSite, bed, sleep_until
from virtual_time import RunVirtual

from gtm.core.health import HealthParams, Verdict

FLAKY = f"{SERVICE}@site-b"


async def flap(sites: dict[str, ScriptedSite], times: int) -> None:
    """Take site-b down for 4 s and back for 4 s, ``times`` times, from t = 10 s."""
    for n in range(times):
        await sleep_until(10.0 + 8 * n)
        sites["site-b"].up = False
        await sleep_until(14.0 + 8 * n)
        sites["site-b"].up = True


def test_penalty_and_hold_are_shown_and_decay(run_virtual: RunVirtual) -> None:
    async def scenario() -> tuple[dict[str, dict[str, float | bool]], ...]:
        async with bed() as test_bed:
            await sleep_until(5.0)
            quiet = test_bed.controller.damping()
            await flap(test_bed.sites, 4)
            await sleep_until(40.0)
            held = test_bed.controller.damping()
            assert test_bed.controller.health(FLAKY).verdict is Verdict.DOWN
            await sleep_until(200.0)
            released = test_bed.controller.damping()
            assert test_bed.controller.health(FLAKY).verdict is Verdict.UP
            await sleep_until(2000.0)
            return quiet, held, released, test_bed.controller.damping()

    quiet, held, released, forgotten = run_virtual(scenario())

    assert quiet == {}
    assert list(held) == [FLAKY]
    assert held[FLAKY]["suppressed"] is True
    assert 3.0 <= held[FLAKY]["penalty"] <= 4.0
    assert released[FLAKY]["suppressed"] is False
    assert 0 < released[FLAKY]["penalty"] < 1.5
    assert forgotten == {}


def test_off_shows_nothing(run_virtual: RunVirtual) -> None:
    async def scenario() -> dict[str, dict[str, float | bool]]:
        async with bed(HealthParams(damping=False)) as test_bed:
            await flap(test_bed.sites, 4)
            await sleep_until(40.0)
            assert test_bed.controller.health(FLAKY).verdict is Verdict.UP
            return test_bed.controller.damping()

    assert run_virtual(scenario()) == {}
