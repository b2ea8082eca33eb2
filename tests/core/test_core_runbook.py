"""A planned failover as data: steps, ramp, preflight, records and their JSON form."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gtm.core.health import Verdict
from gtm.core.model import Locator, Mapping, State
from gtm.core.runbook import (
    PlannedChange,
    Preview,
    ProviderPreview,
    Run,
    RunKind,
    RunOptions,
    RunState,
    Step,
    preflight,
    ramp,
    recovers,
    run_from_dict,
    run_to_dict,
    steps_for,
    summary,
)

UP, DOWN = Verdict.UP, Verdict.DOWN

STEPS_CASES = [
    pytest.param(RunOptions(), ("preflight", "switch", "verify", "hold"), id="default"),
    pytest.param(RunOptions(hold=0), ("preflight", "switch", "verify"), id="no-hold"),
    pytest.param(
        RunOptions(drain=5, lower_ttl=True),
        ("preflight", "lower-ttl", "drain", "switch", "verify", "hold"),
        id="everything",
    ),
]


@pytest.mark.parametrize(("options", "expected"), STEPS_CASES)
def test_steps_for(options: RunOptions, expected: tuple[str, ...]) -> None:
    assert tuple(step.value for step in steps_for(options)) == expected


RAMP_CASES = [
    pytest.param(0.0, 0.5, [], id="no-drain"),
    pytest.param(1.0, 0.5, [(0.5, 50), (1.0, 100)], id="two-steps"),
    pytest.param(0.2, 0.5, [(0.2, 100)], id="shorter-than-a-step"),
    pytest.param(1000.0, 0.5, None, id="capped-at-100-steps"),
]


@pytest.mark.parametrize(("drain", "step", "expected"), RAMP_CASES)
def test_ramp(drain: float, step: float, expected: list[tuple[float, int]] | None) -> None:
    steps = ramp(drain, step)
    if expected is not None:
        assert steps == expected
    else:
        assert len(steps) == 100 and steps[-1] == (1000.0, 100)
    assert [share for _, share in steps] == sorted(share for _, share in steps)


PREFLIGHT_CASES = [
    pytest.param([UP, UP], [(True, "ok"), (True, "ok")], 1, True, "healthy: 2/2 up", id="ok"),
    pytest.param([UP, DOWN], [(True, "ok")], 2, False, "1/2 locators up, 2 needed", id="verdicts"),
    pytest.param(
        [UP],
        [(False, "connect refused")],
        1,
        False,
        "passed 0/1 fresh probes (connect refused)",
        id="fresh-probe",
    ),
]


@pytest.mark.parametrize(("verdicts", "fresh", "need", "ok", "reason"), PREFLIGHT_CASES)
def test_preflight(
    verdicts: list[Verdict], fresh: list[tuple[bool, str]], need: int, ok: bool, reason: str
) -> None:
    passed, why = preflight("gcp-euw1", verdicts, fresh, need)
    assert passed is ok
    assert reason in why and why.startswith("gcp-euw1")


def make_run() -> Run:
    return Run(
        "r1", RunKind.FAILOVER, "billing", "aws-use1", "gcp-euw1", "patching", "alice", 100.0
    )


def test_steps_are_recorded_and_summarised() -> None:
    run = make_run()
    assert run.current is None
    assert run.note("nothing running") == run
    assert run.end(101.0, ok=True) == run
    run = run.begin(Step.PREFLIGHT, 100.0).note("checking")
    assert run.current is not None and run.current.detail == "checking"
    run = run.end(100.5, ok=True).begin(Step.SWITCH, 100.5).end(101.0, ok=False, detail="boom")
    assert run.steps[0].seconds == 0.5 and run.steps[0].detail == "checking"
    assert run.steps[1].detail == "boom" and not run.steps[1].ok
    run = run.finish(RunState.ROLLED_BACK, "rolled back")
    assert run.state.finished and not RunState.RUNNING.finished
    assert summary(run) == (
        "failover of billing aws-use1 -> gcp-euw1: rolled-back in 1.00s "
        "(preflight 0.50s, switch 0.50s (failed)); rolled back"
    )


def test_summary_of_a_run_still_going() -> None:
    run = make_run().begin(Step.PREFLIGHT, 100.0)
    assert "running in 0.00s ()" in summary(run)


def test_json_round_trip() -> None:
    run = (
        make_run()
        .begin(Step.PREFLIGHT, 100.0)
        .end(100.1, ok=True)
        .begin(Step.DRAIN, 100.1, "ramping")
    )
    run = run.finish(RunState.RUNNING, "")
    doc = run_to_dict(run)
    assert doc["steps"][1]["finished_at"] is None
    assert run_from_dict(doc) == run
    minimal = {
        "id": "r2",
        "kind": "failover",
        "service": "billing",
        "to_site": "dc-paris",
        "created_at": 5,
    }
    restored = run_from_dict(minimal)
    assert restored.options == RunOptions() and restored.state is RunState.RUNNING
    assert restored.owner == ""
    assert restored.preview is None


def test_the_owner_is_kept_in_the_document() -> None:
    run = replace(make_run(), owner="gtm-paris")
    doc = run_to_dict(run)
    assert doc["owner"] == "gtm-paris"
    assert run_from_dict(doc) == run


@pytest.mark.parametrize(
    ("owner", "state", "instance", "expected"),
    [
        pytest.param("gtm-paris", RunState.RUNNING, "gtm-paris", True, id="own-running"),
        pytest.param("gtm-paris", RunState.RUNNING, "gtm-virginia", False, id="another's"),
        pytest.param("", RunState.RUNNING, "gtm-virginia", True, id="stored-before-owners"),
        pytest.param("gtm-paris", RunState.DONE, "gtm-paris", False, id="own-finished"),
    ],
)
def test_only_the_owner_recovers_a_running_run(
    owner: str, state: RunState, instance: str, expected: bool
) -> None:
    run = replace(make_run(), owner=owner, state=state)
    assert recovers(run, instance) is expected


def test_a_preview_travels_with_its_dry_run() -> None:
    there = Locator("billing@dc-paris/lb-1", "dc-paris", "192.0.2.3", 443, 1, 100, State.UP)
    mapping = Mapping("billing", 4, 2, 30, "dc-paris", (there,))
    change = PlannedChange("update", "billing. A", "192.0.2.1", "192.0.2.3")
    preview = Preview(
        (Step.PREFLIGHT, Step.SWITCH),
        mapping,
        (ProviderPreview("bind", (change,)), ProviderPreview("lb", error="lb: cannot observe")),
        ("pin of billing to aws-use1 (intent p1, by alice)",),
    )
    dry = replace(make_run().finish(RunState.DONE, "would move billing"), preview=preview)
    doc = run_to_dict(dry)
    assert doc["preview"]["steps"] == ["preflight", "switch"]
    assert doc["preview"]["mapping"]["active_site"] == "dc-paris"
    assert doc["preview"]["providers"][0]["changes"] == [
        {"kind": "update", "key": "billing. A", "before": "192.0.2.1", "after": "192.0.2.3"}
    ]
    assert run_from_dict(doc) == dry
    bare = {"steps": [], "mapping": doc["preview"]["mapping"], "providers": [{"name": "x"}]}
    assert run_from_dict({**doc, "preview": bare}).preview == Preview(
        (), mapping, (ProviderPreview("x"),)
    )
