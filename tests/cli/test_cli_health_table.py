"""How ``gtm health`` lays out ``GET /v1/locators``: a RELEASE column once releases are read."""

from __future__ import annotations

from typing import Any

from gtm.cli.health import table


def locator(site: str, release: str | None) -> dict[str, Any]:
    """A locator as ``GET /v1/locators`` lists it."""
    return {
        "id": f"billing@{site}/lb-1",
        "verdict": "up",
        "state": "up",
        "since": None,
        "failure_rate": 0.0,
        "fail_streak": 0,
        "required_failures": 3,
        "penalty": 0.0,
        "held": False,
        "probes": [{"result": "ok", "latency_s": 0.002}],
        "reason": "answered",
        "release": release,
        "release_seen": None if release is None else 1.0,
    }


def test_no_release_read_means_no_release_column() -> None:
    rows = table([locator("aws-use1", None), locator("dc-paris", None)])
    assert "RELEASE" not in rows[0]
    assert all(len(cells) == len(rows[0]) for cells in rows)


def test_the_release_column_shows_each_release_and_a_dash_where_none_was_read() -> None:
    rows = table([locator("aws-use1", "2.4.0"), locator("gcp-euw1", "2.3.0"), locator("x", None)])
    assert rows[0][:4] == ["LOCATOR", "VERDICT", "STATE", "RELEASE"]
    assert [cells[3] for cells in rows[1:]] == ["2.4.0", "2.3.0", "-"]
    assert [cells[0] for cells in rows[1:]] == [
        "billing@aws-use1/lb-1",
        "billing@gcp-euw1/lb-1",
        "billing@x/lb-1",
    ]
    assert all(len(cells) == len(rows[0]) for cells in rows)
