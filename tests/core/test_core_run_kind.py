"""A run's kind decodes to the RunKind enum, and an unknown kind is refused."""

from __future__ import annotations

import pytest

from gtm.core.runbook import Run, RunKind, run_from_dict, run_to_dict


@pytest.mark.parametrize("kind", list(RunKind))
def test_each_kind_decodes_to_its_member(kind: RunKind) -> None:
    doc = run_to_dict(Run("r-1", kind, "billing", None, "gcp-euw1", "x", "", 1.0))
    decoded = run_from_dict(doc)
    assert decoded.kind is kind
    assert run_to_dict(decoded) == doc


def test_an_unknown_kind_is_refused() -> None:
    doc = run_to_dict(Run("r-1", RunKind.FAILOVER, "billing", None, "gcp-euw1", "x", "", 1.0))
    doc["kind"] = "teleport"
    with pytest.raises(ValueError, match="'teleport' is not a valid RunKind"):
        run_from_dict(doc)
