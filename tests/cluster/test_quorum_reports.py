"""Reading the vantages' reports out of the KV entries: only what a live session holds counts."""

from __future__ import annotations

import json
from typing import Any

from gtm.cluster.verdicts import reports_of
from gtm.core.health import Verdict
from gtm.core.quorum import VantageReport

PREFIX = "gtm/verdicts/"


def entry(key: str, value: str, session: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {"Key": PREFIX + key, "Value": value.encode()}
    if session is not None:
        item["Session"] = session
    return item


def state(degraded: bool = False, reasons: list[str] | None = None) -> str:
    return json.dumps({"degraded": degraded, "reasons": reasons or []})


def test_live_vantages_and_the_verdicts_their_session_holds() -> None:
    items = [
        entry("nyc/vantage", state(), "s1"),
        entry("nyc/locators/billing%40paris%2F10.1.1.10%3A8080", "down", "s1"),
        entry("nyc/locators/billing%40nyc%2F10.1.2.10%3A8080", "up", "s1"),
        # Held by an older session of the same instance: not this vantage's word now.
        entry("nyc/locators/billing%40tokyo%2F10.1.3.10%3A8080", "up", "s0"),
        entry("tokyo/vantage", state(True, ["event loop 0.420s late"]), "s2"),
        entry("tokyo/locators/billing%40paris%2F10.1.1.10%3A8080", "maybe", "s2"),
        # Paris's session ended: its keys were released, its votes are gone.
        entry("paris/vantage", state(), None),
        entry("paris/locators/billing%40paris%2F10.1.1.10%3A8080", "up", None),
        # A vantage that never published its state is not live.
        entry("lima/locators/billing%40paris%2F10.1.1.10%3A8080", "up", "s3"),
        # Unreadable state: not counted.
        entry("oslo/vantage", "{not json", "s4"),
    ]
    assert reports_of(items, PREFIX) == {
        "nyc": VantageReport(
            "nyc",
            {
                "billing@paris/10.1.1.10:8080": Verdict.DOWN,
                "billing@nyc/10.1.2.10:8080": Verdict.UP,
            },
        ),
        "tokyo": VantageReport("tokyo", {}, degraded=True, reasons=("event loop 0.420s late",)),
    }


def test_no_entries_no_vantages() -> None:
    assert reports_of([], PREFIX) == {}
