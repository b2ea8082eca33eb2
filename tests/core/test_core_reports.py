"""Provider statuses and batch reports decode to typed values and encode back unchanged."""

from __future__ import annotations

import pytest

from gtm.core.reports import (
    BatchReport,
    ProviderReport,
    batch_report_from_dict,
    batch_report_to_dict,
    provider_report_from_dict,
    provider_report_to_dict,
)
from gtm.core.runbook import Run, RunKind, RunState, run_from_dict, run_to_dict

FULL = ProviderReport(
    name="bind",
    kind="rfc2136",
    last_success=1_700_000_000.5,
    last_error="bind: 127.0.0.1:5300 refused the update: NOTAUTH",
    last_error_at=1_700_000_001.0,
    pending=3,
    passes=12,
    applied=7,
    drift_repaired=1,
    last_apply_s=0.012,
    last_verify_s=0.004,
)


def run(run_id: str, state: RunState, kind: RunKind = RunKind.EVACUATE) -> Run:
    return Run(run_id, kind, "billing", "aws-use1", "gcp-euw1", "patch", "ann", 100.0, state=state)


def test_a_provider_report_survives_a_round_trip() -> None:
    assert provider_report_from_dict(provider_report_to_dict(FULL)) == FULL


def test_a_provider_report_ignores_fields_it_does_not_know() -> None:
    doc = {**provider_report_to_dict(FULL), "queue_depth": 9, "region": "eu"}
    assert provider_report_from_dict(doc) == FULL


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"name": "lb", "kind": "haproxy"}, ProviderReport("lb", "haproxy")),
        (
            {"name": "lb", "kind": "haproxy", "last_success": 5, "pending": "2"},
            ProviderReport("lb", "haproxy", last_success=5.0, pending=2),
        ),
        (
            {"name": "r53", "kind": "route53", "last_error": None, "last_apply_s": None},
            ProviderReport("r53", "route53"),
        ),
    ],
)
def test_a_provider_report_takes_defaults_for_absent_fields(
    doc: dict[str, object], expected: ProviderReport
) -> None:
    assert provider_report_from_dict(doc) == expected


def test_a_provider_report_without_its_name_is_refused() -> None:
    with pytest.raises(KeyError):
        provider_report_from_dict({"kind": "haproxy"})


@pytest.mark.parametrize(
    "report",
    [
        BatchReport(
            runs=(run("r-1", RunState.DONE), run("r-2", RunState.ROLLED_BACK)),
            counts={RunState.DONE: 1, RunState.ROLLED_BACK: 1},
            summary=("one", "two"),
            site="aws-use1",
        ),
        BatchReport(
            runs=(run("r-3", RunState.DONE, RunKind.DRILL),),
            counts={RunState.DONE: 1},
            summary=("drill",),
            service="billing",
        ),
        BatchReport(runs=(), counts={}, summary=(), site="dc-paris"),
    ],
)
def test_a_batch_report_survives_a_round_trip(report: BatchReport) -> None:
    assert batch_report_from_dict(batch_report_to_dict(report)) == report


def test_a_batch_report_encodes_as_the_api_answers() -> None:
    done = run("r-1", RunState.DONE)
    doc = {
        "site": "aws-use1",
        "runs": [run_to_dict(done)],
        "counts": {"done": 1},
        "summary": ["failover of billing"],
    }
    report = batch_report_from_dict({**doc, "took_s": 3.5})
    assert report.counts == {RunState.DONE: 1}
    assert report.runs == (run_from_dict(run_to_dict(done)),)
    assert batch_report_to_dict(report) == doc


@pytest.mark.parametrize(
    ("counts", "succeeded"),
    [
        ({}, True),
        ({RunState.DONE: 3}, True),
        ({RunState.DONE: 2, RunState.REFUSED: 1}, False),
        ({RunState.FAILED: 1}, False),
    ],
)
def test_a_batch_succeeds_when_every_run_is_done(
    counts: dict[RunState, int], succeeded: bool
) -> None:
    assert BatchReport(runs=(), counts=counts, summary=()).succeeded() is succeeded


def test_a_batch_report_refuses_an_unknown_state() -> None:
    with pytest.raises(ValueError, match="'paused'"):
        batch_report_from_dict({"runs": [], "counts": {"paused": 1}, "summary": []})
