"""The dashboard in a real headless Chromium against a real ``gtm run``: what it shows,
that it follows changes without a reload, and that actions need a token."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from e2e.support import SITES, TOKEN
from playwright.sync_api import BrowserContext, Page, Route, expect

from gtm.demo.sites import SiteFleet
from gtm.demo.workload import DEFAULT_RELEASE

from .conftest import RELEASE_CHECK, SCREENSHOT_ENV, GtmServer, Tweak, opened

OLD_RELEASE = "2.3.0"
"""A release older than the one the simulated sites run (gtm.demo.workload.DEFAULT_RELEASE)."""

SLOW_CHECK = {
    "type": "http",
    "path": "/health",
    "interval": "1s",
    "timeout": "900ms",
    "recheck_interval": "20ms",
    "release": RELEASE_CHECK,
}
"""Probes every second that a slow answer (300 ms) passes with room to spare."""


def row(page: Page, service: str) -> str:
    """The matrix row of ``service``."""
    return f"tr[data-service='{service}']"


def save_screenshot(page: Page, path: Path, *, readme: bool = False) -> None:
    """The whole page as a PNG at ``path``; for the ``readme`` one, also where
    ``GTM_DASHBOARD_SCREENSHOT`` says when it is set (the README's picture is made so)."""
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0
    if readme and os.environ.get(SCREENSHOT_ENV):
        shutil.copyfile(path, os.environ[SCREENSHOT_ENV])


def _pin(page: Page, service: str, site: str) -> None:
    """Fill the intent form with a pin of ``service`` to ``site`` and send it."""
    page.select_option("#intent-kind", "pin")
    page.select_option("#intent-service", service)
    page.select_option("#intent-site", site)
    page.fill("#intent-why", "maintenance from the dashboard")
    page.click("#intent-submit")


def test_the_page_shows_every_service_site_and_locator(page: Page, gtm: GtmServer) -> None:
    for service in ("billing", "search"):
        cells = page.locator(f"{row(page, service)} td[data-site]")
        expect(cells).to_have_count(len(SITES))
        for site in SITES:
            cell = page.locator(f"{row(page, service)} td[data-site='{site}']")
            expect(cell).to_have_attribute("data-state", "up")
        # All traffic goes to the active site, the first in preference order.
        expect(page.locator(row(page, service))).to_have_attribute("data-active", "aws-use1")
        active = page.locator(f"{row(page, service)} td[data-site='aws-use1']")
        expect(active).to_have_attribute("data-share", "100")
        expect(page.locator(f"{row(page, service)} td.reason")).to_contain_text("aws-use1")
    locators = page.locator("#locators tr[data-locator]")
    expect(locators).to_have_count(2 * len(SITES))
    # Each locator's last probes are drawn, one bar each, with what the probe said.
    first = page.locator("#locators tr[data-locator] svg.probes").first
    expect(first.locator("rect.bar.ok").first).to_be_attached()
    expect(first.locator("rect.bar title").first).to_contain_text("ok")
    expect(page.locator("#locators tr[data-locator] td").nth(6)).to_contain_text("/3")
    # This gtm has a stream: the page follows it rather than polling.
    expect(page.locator("#live")).to_have_attribute("data-mode", "stream")
    expect(page.locator("#live")).to_have_text("live (stream)")
    # Every site's release is shown; they all run the same one, so nothing drifts.
    for service in ("billing", "search"):
        expect(page.locator(row(page, service))).to_have_attribute("data-drift", "false")
        expect(page.locator(f"{row(page, service)} th.service")).to_contain_text("readiness warn")
        for site in SITES:
            cell = page.locator(f"{row(page, service)} td[data-site='{site}']")
            expect(cell).to_have_attribute("data-release", DEFAULT_RELEASE)
            expect(cell.locator(".chip.release")).to_have_text(DEFAULT_RELEASE)
    # A lone instance (GET /v1/cluster says so) has no cluster panel and no banner.
    assert gtm.get("/v1/cluster") == {"cluster": False}
    expect(page.locator("#cluster-panel")).to_be_hidden()
    expect(page.locator("#cluster-banner")).to_have_count(0)


def test_a_killed_site_changes_the_page_without_a_reload(
    page: Page, fleet: SiteFleet, tmp_path: Path
) -> None:
    page.evaluate("window.__sameDocument = true")
    billing = page.locator(row(page, "billing"))
    expect(billing).to_have_attribute("data-active", "aws-use1")

    fleet["aws-use1"].kill()

    expect(billing).not_to_have_attribute("data-active", "aws-use1")
    expect(billing.locator("td[data-site='aws-use1']")).to_have_attribute("data-state", "down")
    expect(billing.locator("td[data-site='aws-use1']")).to_have_attribute("data-share", "0")
    aws = page.locator("#locators tr[data-locator^='billing@aws-use1']")
    expect(aws).to_have_attribute("data-verdict", "down")
    expect(aws.locator("rect.bar.fail").first).to_be_attached()
    move = page.locator("#journal li[data-kind='move'][data-service='billing']").first
    expect(move).to_contain_text("aws-use1 →")
    # The move's timeline unfolds, from the first failed probe to publication.
    move.locator("summary").click()
    expect(move.locator("details.timeline li").first).to_contain_text("first failed probe")
    expect(move.locator("details.timeline")).to_contain_text("published")
    assert page.evaluate("window.__sameDocument") is True
    save_screenshot(page, tmp_path / "dashboard.png")
    # The journal can be narrowed to one kind of event: the health verdicts.
    page.select_option("#journal-kind", "health")
    shown = page.locator("#journal li.event")
    expect(shown.first).to_contain_text("up -> down")
    assert set(shown.evaluate_all("items => items.map(i => i.dataset.kind)")) == {"health"}


def test_without_a_token_the_actions_are_disabled(page: Page) -> None:
    expect(page.locator("#access")).to_have_text("read-only")
    buttons = page.locator("button.act")
    expect(buttons.first).to_be_attached()
    for index in range(buttons.count()):
        expect(buttons.nth(index)).to_be_disabled()
    assert page.evaluate("window.sessionStorage.length") == 0


def test_a_pin_made_with_a_token_moves_the_service_and_is_journaled(page: Page) -> None:
    intent = page.locator("#intent-submit")
    expect(intent).to_be_disabled()

    # A wrong token is kept, and the API's refusal is shown as it is.
    page.fill("#token", "not-the-token")
    page.click("#token-use")
    expect(intent).to_be_enabled()
    _pin(page, "billing", "dc-paris")
    expect(page.locator("#message.error")).to_contain_text("not one of the api.tokens")
    expect(page.locator(row(page, "billing"))).to_have_attribute("data-active", "aws-use1")

    page.fill("#token", TOKEN)
    page.click("#token-use")
    assert page.evaluate("window.sessionStorage.getItem('gtm.token')") == TOKEN
    expect(page.locator("#token")).to_have_value("")
    _pin(page, "billing", "dc-paris")
    expect(page.locator("#message.ok")).to_contain_text("pin")

    billing = page.locator(row(page, "billing"))
    expect(billing).to_have_attribute("data-active", "dc-paris")
    expect(billing.locator("td[data-site='dc-paris']")).to_have_attribute("data-share", "100")
    expect(billing.locator("td.intents")).to_contain_text("pin → dc-paris")
    move = page.locator("#journal li[data-kind='move'][data-service='billing']").first
    expect(move).to_contain_text("aws-use1 → dc-paris")
    expect(move).to_contain_text("maintenance from the dashboard")

    # The pin is withdrawn from the page, and forgetting the token makes it read-only.
    pin = page.locator("#intents li[data-kind='pin']")
    pin.locator("button").click()
    expect(pin).to_have_count(0)
    expect(billing.locator("td.intents")).not_to_contain_text("pin")
    page.click("#token-forget")
    expect(intent).to_be_disabled()
    assert page.evaluate("window.sessionStorage.getItem('gtm.token')") is None


def not_found(route: Route) -> None:
    """Answer as a gtm without the route would: 404, with the API's error document."""
    route.fulfill(
        status=404,
        content_type="application/json",
        body='{"error": "not_found", "message": "no such route in this test"}',
    )


def test_a_planned_failover_is_previewed_started_and_aborted(page: Page) -> None:
    # Runs come on the stream: the page needs no GET /v1/runs to show one's progress.
    page.route(
        "**/v1/runs*",
        lambda route: not_found(route) if route.request.method == "GET" else route.continue_(),
    )
    page.fill("#token", TOKEN)
    page.click("#token-use")
    page.select_option("#run-service", "search")
    page.select_option("#run-to", "gcp-euw1")
    page.fill("#run-reason", "drill from the dashboard")
    page.fill("#run-drain", "120")

    page.click("#run-preview")
    expect(page.locator("#run-preview-out")).to_contain_text("would move search")
    expect(page.locator("#run-preview-out")).to_contain_text("gcp-euw1")

    page.click("#run-start")
    run = page.locator("#runs li[data-state='running']").first
    expect(run).to_contain_text("search")
    # The drain's progress is drawn as it goes, and its shift shows in the matrix.
    expect(run.locator("progress")).to_be_attached()
    search = page.locator(row(page, "search"))
    expect(search.locator("td.intents")).to_contain_text("shift")
    # During the drain the traffic is split: both sites take a share, together all of it.
    expect(search.locator("td[data-site='gcp-euw1']")).not_to_have_attribute("data-share", "0")
    shares = search.locator("td[data-site]").evaluate_all(
        "cells => cells.map(c => Number(c.dataset.share))"
    )
    assert sum(shares) == 100 and shares[0] > 0, shares
    run_id = run.get_attribute("data-run")
    run.locator("button", has_text="Abort").click()
    ended = page.locator(f"#runs li[data-run='{run_id}']")
    expect(ended).to_have_attribute("data-state", "rolled-back")
    expect(page.locator(row(page, "search"))).to_have_attribute("data-active", "aws-use1")
    expect(page.locator(row(page, "search")).locator("td.intents")).not_to_contain_text("shift")


def test_the_page_says_when_gtm_stops_answering(page: Page, gtm: GtmServer) -> None:
    expect(page.locator("#live")).to_have_attribute("data-mode", "stream")
    gtm.stop()
    expect(page.locator("#live")).to_have_attribute("data-mode", "lost")
    expect(page.locator("#live")).to_contain_text("gtm unreachable since")
    # What was last known stays on the page.
    expect(page.locator(row(page, "billing"))).to_have_attribute("data-active", "aws-use1")


def test_without_a_stream_the_page_polls_and_still_follows_changes(
    browser: BrowserContext, gtm: GtmServer, fleet: SiteFleet
) -> None:
    for page in opened(browser, gtm, lambda page: page.route("**/v1/stream*", not_found)):
        live = page.locator("#live")
        expect(live).to_have_attribute("data-mode", "polling")
        expect(live).to_have_text("live (every 1 s)")
        page.evaluate("window.__sameDocument = true")

        fleet["aws-use1"].kill()

        billing = page.locator(row(page, "billing"))
        expect(billing.locator("td[data-site='aws-use1']")).to_have_attribute("data-state", "down")
        expect(billing).not_to_have_attribute("data-active", "aws-use1")
        expect(
            page.locator("#journal li[data-kind='move'][data-service='billing']")
        ).not_to_have_count(0)
        expect(live).to_have_attribute("data-mode", "polling")
        assert page.evaluate("window.__sameDocument") is True


def test_a_site_on_another_release_is_shown_as_drift(
    page: Page, fleet: SiteFleet, tmp_path: Path
) -> None:
    billing = page.locator(row(page, "billing"))
    expect(billing).to_have_attribute("data-drift", "false")

    fleet["gcp-euw1"].deploy(OLD_RELEASE)

    for service in ("billing", "search"):
        line = page.locator(row(page, service))
        expect(line).to_have_attribute("data-drift", "true")
        expect(line.locator("th.service .chip.drift")).to_have_text(
            "release drift · readiness warn"
        )
        old = line.locator("td[data-site='gcp-euw1']")
        expect(old).to_have_attribute("data-drift", "true")
        expect(old.locator(".chip.release.drift")).to_have_text(f"≠ {OLD_RELEASE}")
        for site in ("aws-use1", "dc-paris"):
            same = line.locator(f"td[data-site='{site}']")
            expect(same).to_have_attribute("data-drift", "false")
            expect(same).to_have_attribute("data-release", DEFAULT_RELEASE)

    # The active site dies: with readiness warn the move goes ahead, and says so.
    fleet["aws-use1"].kill()
    expect(billing).to_have_attribute("data-active", "gcp-euw1")
    move = page.locator("#journal li[data-kind='move'][data-service='billing']").first
    expect(move).to_contain_text("readiness warning")
    # The releases are now compared with the new active site's.
    expect(billing.locator("td[data-site='dc-paris']")).to_have_attribute("data-drift", "true")
    expect(billing.locator("td[data-site='gcp-euw1']")).to_have_attribute("data-drift", "false")
    save_screenshot(page, tmp_path / "dashboard.png", readme=True)


def bursts_search(doc: dict[str, Any]) -> None:
    """search under ``policy: burst`` (150 ms for 2 s starts it); probes that wait for a
    slow answer on every service."""
    for service in doc["services"].values():
        service["check"] = dict(SLOW_CHECK)
    doc["services"]["search"]["policy"] = "burst"
    doc["services"]["search"]["burst"] = {
        "above": "150ms",
        "below": "60ms",
        "for": "2s",
        "calm": "2s",
        "hold": "3s",
        "ramp": "1s",
        "steps": 2,
        "share": 50,
    }


@pytest.mark.parametrize("tweak", [bursts_search], ids=["burst"])
def test_a_bursting_service_shows_its_phase_and_overspill(
    page: Page, fleet: SiteFleet, tweak: Tweak
) -> None:
    search = page.locator(row(page, "search"))
    expect(search).to_have_attribute("data-burst", "steady")
    expect(search.locator("th.service .chip.burst")).to_have_text("burst: steady")

    fleet["aws-use1"].set_mode("slow", delay=0.3)

    expect(search).to_have_attribute("data-burst", "bursting")
    expect(search.locator("th.service .chip.burst")).to_contain_text("burst: bursting · overspill")
    overspill = search.locator("td[data-site='gcp-euw1']")
    expect(overspill).to_have_attribute("data-overspill", "true")
    expect(overspill.locator(".chip.burst")).to_have_text("overspill")
    expect(overspill).not_to_have_attribute("data-share", "0")
    expect(search).to_have_attribute("data-active", "aws-use1")
    expect(page.locator(row(page, "billing"))).to_have_attribute("data-burst", "")
    # The journal's filter offers burst events, and shows only them.
    page.select_option("#journal-kind", "burst")
    shown = page.locator("#journal li.event")
    expect(shown.first).to_have_attribute("data-service", "search")
    assert set(shown.evaluate_all("items => items.map(i => i.dataset.kind)")) == {"burst"}

    fleet["aws-use1"].set_mode("up")

    expect(search).to_have_attribute("data-burst", "steady")
    expect(overspill).to_have_attribute("data-overspill", "false")
    expect(overspill).to_have_attribute("data-share", "0")
