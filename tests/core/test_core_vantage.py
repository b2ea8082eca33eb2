"""A vantage judging itself: symptoms, the degraded spell, which failed probes count."""

from __future__ import annotations

import pytest

from gtm.core.vantage import (
    Assessment,
    ProbeContext,
    Sighting,
    Symptom,
    Trust,
    VantageHealth,
    VantageParams,
    assess,
    clear,
    first_choice,
    go_on,
    holds,
    note,
    observe_descriptors,
    observe_lag,
    observe_probe,
    observe_store,
    trust,
)
from gtm.errors import ConfigError

PARAMS = VantageParams(max_lag=0.1, max_lateness=0.25, descriptor_share=0.9, hold=3.0)
CLEAN = VantageHealth()
LAGGED = VantageHealth((Sighting(Symptom.LOOP_LAG, "event loop 0.500s late", 10.0),))
STALLED = VantageHealth((Sighting(Symptom.STORE_STALLED, "store locked", 10.0, ongoing=True),))


@pytest.mark.parametrize(
    ("changes", "problems"),
    [
        pytest.param({"max_lag": 0.0}, ["max_lag must be positive, got 0.0"], id="lag"),
        pytest.param(
            {"max_lateness": -1.0}, ["max_lateness must be positive, got -1.0"], id="late"
        ),
        pytest.param(
            {"descriptor_share": 1.5},
            ["descriptor_share must be above 0 and at most 1, got 1.5"],
            id="share-high",
        ),
        pytest.param(
            {"descriptor_share": 0.0, "hold": -1.0},
            [
                "descriptor_share must be above 0 and at most 1, got 0.0",
                "hold must not be negative, got -1.0",
            ],
            id="every-problem",
        ),
        pytest.param(
            {"max_store_wait": 0.0}, ["max_store_wait must be positive, got 0.0"], id="store"
        ),
    ],
)
def test_params_out_of_range_are_refused_with_every_problem(
    changes: dict[str, float], problems: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        VantageParams(**changes)
    assert caught.value.problems == problems
    assert str(caught.value) == "vantage: " + "; ".join(problems)


@pytest.mark.parametrize(
    ("lag", "expected"),
    [
        pytest.param(0.0, Assessment(False), id="idle"),
        pytest.param(0.1, Assessment(False), id="at-the-bound"),
        pytest.param(
            0.42,
            # Measured at 5.0 by a sleeper of 0.05 s: the stall began by 4.53.
            Assessment(True, ("event loop 0.420s late (bound 0.100s)",), pytest.approx(4.53)),
            id="stalled",
        ),
    ],
)
def test_loop_lag_past_the_bound_degrades_since_the_stall_can_have_begun(
    lag: float, expected: Assessment
) -> None:
    health = observe_lag(CLEAN, lag, 5.0, PARAMS, period=0.05)
    assert assess(health, 5.0, PARAMS) == expected


@pytest.mark.parametrize(
    ("now", "degraded"),
    [
        pytest.param(10.0, True, id="when-seen"),
        pytest.param(13.0, True, id="end-of-hold"),
        pytest.param(13.001, False, id="after-hold"),
    ],
)
def test_a_symptom_degrades_for_the_hold_time(now: float, degraded: bool) -> None:
    assert assess(LAGGED, now, PARAMS).degraded is degraded


def test_an_ongoing_symptom_degrades_until_cleared_then_for_the_hold_time() -> None:
    assert assess(STALLED, 1000.0, PARAMS) == Assessment(True, ("store locked",), 10.0)
    # Reported again while ongoing: still ongoing, the newest words.
    again = note(STALLED, Symptom.STORE_STALLED, "store locked for 2s", 12.0)
    assert again.sightings == (Sighting(Symptom.STORE_STALLED, "store locked for 2s", 10.0, True),)
    ended = clear(again, Symptom.STORE_STALLED, 20.0)
    assert assess(ended, 23.0, PARAMS).degraded
    assert not assess(ended, 23.5, PARAMS).degraded


@pytest.mark.parametrize(
    "health",
    [pytest.param(CLEAN, id="never-seen"), pytest.param(LAGGED, id="not-ongoing")],
)
def test_clearing_what_is_not_ongoing_changes_nothing(health: VantageHealth) -> None:
    assert clear(health, Symptom.LOOP_LAG, 11.0) is health


def test_a_new_sighting_replaces_the_last_of_its_kind_and_reasons_keep_symptom_order() -> None:
    health = note(LAGGED, Symptom.RESOURCES, "out of file descriptors", 11.0)
    health = note(health, Symptom.LOOP_LAG, "event loop 0.200s late", 12.0)
    assert len(health.sightings) == 2
    assert assess(health, 12.0, PARAMS).reasons == (
        "event loop 0.200s late",
        "out of file descriptors",
    )


@pytest.mark.parametrize(
    ("in_use", "limit", "reasons"),
    [
        pytest.param(100, 1024, (), id="plenty"),
        pytest.param(
            922, 1024, ("922 of 1024 file descriptors in use (bound 90% of the limit)",), id="near"
        ),
        pytest.param(None, 1024, ("out of file descriptors",), id="cannot-count"),
    ],
)
def test_descriptors_near_the_limit_degrade(
    in_use: int | None, limit: int, reasons: tuple[str, ...]
) -> None:
    health = observe_descriptors(CLEAN, in_use, limit, 1.0, PARAMS)
    assert assess(health, 1.0, PARAMS).reasons == reasons


@pytest.mark.parametrize(
    ("context", "reasons"),
    [
        pytest.param(ProbeContext(0.0, late=0.01), (), id="on-time"),
        pytest.param(
            ProbeContext(0.0, late=0.8),
            ("a probe started 0.800s late (bound 0.250s)",),
            id="late",
        ),
        pytest.param(
            ProbeContext(0.0, fault="Too many open files (EMFILE)"),
            ("a prober failed: Too many open files (EMFILE)",),
            id="fault",
        ),
        pytest.param(
            ProbeContext(0.0, late=0.3, fault="No buffer space available (ENOBUFS)"),
            (
                "a probe started 0.300s late (bound 0.250s)",
                "a prober failed: No buffer space available (ENOBUFS)",
            ),
            id="both",
        ),
    ],
)
def test_a_late_or_short_probe_is_a_symptom(
    context: ProbeContext, reasons: tuple[str, ...]
) -> None:
    health = observe_probe(CLEAN, context, 1.0, PARAMS)
    assert assess(health, 1.0, PARAMS).reasons == reasons


@pytest.mark.parametrize(
    ("ok", "context", "health", "now", "expected"),
    [
        pytest.param(True, ProbeContext(9.0, late=5.0), LAGGED, 10.0, Trust(True), id="success"),
        pytest.param(False, ProbeContext(20.0), LAGGED, 20.1, Trust(True), id="failure-healthy"),
        pytest.param(
            False,
            ProbeContext(9.9, fault="Too many open files (EMFILE)"),
            CLEAN,
            10.0,
            Trust(False, "this instance is short of resources: Too many open files (EMFILE)"),
            id="fault",
        ),
        pytest.param(
            False,
            ProbeContext(9.9, late=0.5),
            CLEAN,
            10.0,
            Trust(False, "the probe started 0.500s late"),
            id="late",
        ),
        pytest.param(
            False,
            ProbeContext(9.9),
            LAGGED,
            10.0,
            Trust(False, "this instance is degraded: event loop 0.500s late"),
            id="stalled-during",
        ),
        pytest.param(
            False,
            ProbeContext(5.0),
            LAGGED,
            14.0,
            Trust(False, "this instance is degraded: event loop 0.500s late"),
            id="stalled-during-a-long-probe",
        ),
        pytest.param(
            False,
            ProbeContext(12.0),
            LAGGED,
            12.5,
            Trust(False, "this instance is degraded: event loop 0.500s late"),
            id="degraded-still",
        ),
        pytest.param(
            False,
            ProbeContext(500.0),
            STALLED,
            501.0,
            Trust(False, "this instance is degraded: store locked"),
            id="store-stalled",
        ),
    ],
)
def test_which_probe_results_are_evidence(
    ok: bool, context: ProbeContext, health: VantageHealth, now: float, expected: Trust
) -> None:
    assert trust(ok, context, health, now, PARAMS) == expected


@pytest.mark.parametrize(
    ("degraded", "changed", "asked", "first_choice", "evidence_at", "held"),
    [
        pytest.param(True, True, False, False, 12.0, True, id="degraded-automatic-change"),
        pytest.param(True, True, False, False, None, True, id="degraded-change-on-no-verdict"),
        pytest.param(True, True, False, False, 10.0, True, id="verdict-as-the-spell-began"),
        pytest.param(True, True, False, False, 9.9, False, id="verdict-before-the-spell"),
        pytest.param(True, True, True, False, 12.0, False, id="degraded-asked-for-by-an-operator"),
        pytest.param(True, False, False, False, 12.0, False, id="degraded-nothing"),
        pytest.param(
            True, True, False, True, 12.0, False, id="degraded-first-mapping-to-first-site"
        ),
        pytest.param(False, True, False, False, 12.0, False, id="healthy-change"),
        pytest.param(False, True, False, True, None, False, id="healthy-first-mapping"),
    ],
)
def test_a_degraded_vantage_holds_automatic_changes_on_verdicts_of_its_spell(
    degraded: bool,
    changed: bool,
    asked: bool,
    first_choice: bool,
    evidence_at: float | None,
    held: bool,
) -> None:
    assessment = Assessment(True, ("stalled",), 10.0) if degraded else Assessment(False)
    assert holds(assessment, changed, asked, first_choice, evidence_at) is held


@pytest.mark.parametrize(
    ("before", "after", "since"),
    [
        pytest.param(Assessment(False), Assessment(True, ("b",), 5.0), 5.0, id="spell-begins"),
        pytest.param(
            Assessment(True, ("a",), 5.0), Assessment(True, ("b",), 7.0), 5.0, id="goes-on"
        ),
        pytest.param(
            Assessment(True, ("a",), 5.0),
            Assessment(True, ("b",), 4.0),
            4.0,
            id="an-earlier-onset-found",
        ),
        pytest.param(Assessment(True, ("a",), 5.0), Assessment(False), None, id="spell-ends"),
    ],
)
def test_a_spell_began_with_its_earliest_symptom(
    before: Assessment, after: Assessment, since: float | None
) -> None:
    assert go_on(before, after).since == since


@pytest.mark.parametrize(
    ("context", "since"),
    [
        pytest.param(ProbeContext(started_at=8.0, late=0.5), 7.5, id="late-from-its-slot"),
        pytest.param(ProbeContext(started_at=8.0, fault="EMFILE"), 8.0, id="fault-from-start"),
    ],
)
def test_a_probe_symptom_began_when_the_probe_was_due(context: ProbeContext, since: float) -> None:
    health = observe_probe(CLEAN, context, 9.0, PARAMS)
    assert assess(health, 9.0, PARAMS).since == since


def test_a_stalled_store_began_when_its_call_did() -> None:
    health = observe_store(CLEAN, 1.5, 10.0, PARAMS)
    assert assess(health, 10.0, PARAMS).since == 8.5


@pytest.mark.parametrize(
    ("before", "busy_for", "at", "reasons"),
    [
        pytest.param(CLEAN, 0.0, 1.0, (), id="idle"),
        pytest.param(CLEAN, 0.5, 1.0, (), id="at-the-bound"),
        pytest.param(
            CLEAN,
            1.2,
            1.0,
            ("a store call in flight for 1.200s (bound 0.500s)",),
            id="stalled",
        ),
        pytest.param(
            STALLED,
            2.0,
            30.0,
            ("a store call in flight for 2.000s (bound 0.500s)",),
            id="still-stalled-stays-ongoing",
        ),
        pytest.param(STALLED, 0.0, 11.0, ("store locked",), id="answered-held-for-hold"),
        pytest.param(STALLED, 0.0, 20.0, (), id="answered-long-ago"),
    ],
)
def test_a_store_call_in_flight_too_long_degrades_until_the_store_answers(
    before: VantageHealth, busy_for: float, at: float, reasons: tuple[str, ...]
) -> None:
    health = observe_store(before, busy_for, 10.0 if before is STALLED else at, PARAMS)
    assert assess(health, at, PARAMS).reasons == reasons


@pytest.mark.parametrize(
    ("had_mapping", "proposed", "preference", "first"),
    [
        pytest.param(False, "site-a", ("site-a", "site-b"), True, id="first-mapping-first-site"),
        pytest.param(False, "site-b", ("site-a", "site-b"), False, id="first-mapping-other-site"),
        pytest.param(True, "site-a", ("site-a", "site-b"), False, id="a-move-back"),
        pytest.param(False, None, ("site-a",), False, id="no-active-site"),
        pytest.param(False, "site-a", (), False, id="no-sites"),
    ],
)
def test_a_first_choice_is_a_first_mapping_onto_the_most_preferred_site(
    had_mapping: bool, proposed: str | None, preference: tuple[str, ...], first: bool
) -> None:
    assert first_choice(had_mapping, proposed, preference) is first
