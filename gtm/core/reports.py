"""What the API reports besides mappings, intents and runs, as typed values.

A provider's status and the report of a batch of runs (an evacuation, a drill) travel as
JSON; the client decodes them here so the CLI renders values, and encoding them again
gives the API's document back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gtm.core.runbook import Run, RunState, run_from_dict, run_to_dict

Document = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ProviderReport:
    """One provider as the API reports it: its last success, last error, pending changes."""

    name: str
    kind: str
    last_success: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    pending: int = 0
    passes: int = 0
    applied: int = 0
    drift_repaired: int = 0
    last_apply_s: float | None = None
    last_verify_s: float | None = None


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def provider_report_from_dict(doc: Document) -> ProviderReport:
    """A provider's status from the API's JSON; fields it does not know are ignored."""
    error = doc.get("last_error")
    return ProviderReport(
        name=str(doc["name"]),
        kind=str(doc["kind"]),
        last_success=_number(doc.get("last_success")),
        last_error=None if error is None else str(error),
        last_error_at=_number(doc.get("last_error_at")),
        pending=int(doc.get("pending", 0)),
        passes=int(doc.get("passes", 0)),
        applied=int(doc.get("applied", 0)),
        drift_repaired=int(doc.get("drift_repaired", 0)),
        last_apply_s=_number(doc.get("last_apply_s")),
        last_verify_s=_number(doc.get("last_verify_s")),
    )


def provider_report_to_dict(report: ProviderReport) -> Document:
    """The inverse of :func:`provider_report_from_dict`."""
    return {
        "name": report.name,
        "kind": report.kind,
        "last_success": report.last_success,
        "last_error": report.last_error,
        "last_error_at": report.last_error_at,
        "pending": report.pending,
        "passes": report.passes,
        "applied": report.applied,
        "drift_repaired": report.drift_repaired,
        "last_apply_s": report.last_apply_s,
        "last_verify_s": report.last_verify_s,
    }


@dataclass(frozen=True, slots=True)
class BatchReport:
    """How a batch of runs ended: an evacuation of a site, or a drill of a service."""

    runs: tuple[Run, ...]
    counts: dict[RunState, int]
    """How many runs ended in each state."""
    summary: tuple[str, ...]
    """One line per run, in the order of ``runs``."""
    site: str | None = None
    """The site evacuated, for an evacuation."""
    service: str | None = None
    """The service drilled, for a drill."""

    def succeeded(self) -> bool:
        """Whether every run is done (an empty batch succeeds: nothing had to move)."""
        return set(self.counts) <= {RunState.DONE}


def batch_report_from_dict(doc: Document) -> BatchReport:
    """A batch's report from the API's JSON; fields it does not know are ignored."""
    return BatchReport(
        runs=tuple(run_from_dict(run) for run in doc.get("runs", [])),
        counts={RunState(state): int(n) for state, n in doc.get("counts", {}).items()},
        summary=tuple(str(line) for line in doc.get("summary", [])),
        site=doc.get("site"),
        service=doc.get("service"),
    )


def batch_report_to_dict(report: BatchReport) -> Document:
    """The inverse of :func:`batch_report_from_dict`: the API's document."""
    about = {"site": report.site, "service": report.service}
    return {
        **{name: value for name, value in about.items() if value is not None},
        "runs": [run_to_dict(run) for run in report.runs],
        "counts": {state.value: n for state, n in report.counts.items()},
        "summary": list(report.summary),
    }
