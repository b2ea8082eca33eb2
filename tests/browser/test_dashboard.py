"""The dashboard in a real headless Chromium against a real ``gtm run``: what it shows,
that it follows changes without a reload, and that actions need a token."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from e2e.support import SITES, TOKEN
from playwright.sync_api import Page, expect

from gtm.demo.sites import SiteFleet

from .conftest import SCREENSHOT_ENV, GtmServer

LIVE = re.compile("^(stream|polling)$")
"""How the page follows gtm: its event stream, or a refresh every second without one."""


def row(page: Page, service: str) -> str:
    """The matrix row of ``service``."""
    return f"tr[data-service='{service}']"


def save_screenshot(page: Page, path: Path) -> None:
    """The whole page as a PNG at ``path``, and also where ``GTM_DASHBOARD_SCREENSHOT``
    says when it is set (the README's picture is made so)."""
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0
    if os.environ.get(SCREENSHOT_ENV):
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
    expect(page.locator("#live")).to_have_attribute("data-mode", LIVE)
    # The cluster panel is there exactly when this instance answers GET /v1/cluster.
    if gtm.status("/v1/cluster") == 404:
        expect(page.locator("#cluster-panel")).to_be_hidden()
    else:
        expect(page.locator("#cluster-panel")).to_be_visible()


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


def test_a_planned_failover_is_previewed_started_and_aborted(page: Page) -> None:
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
    expect(page.locator("#live")).to_have_attribute("data-mode", LIVE)
    gtm.stop()
    expect(page.locator("#live")).to_have_attribute("data-mode", "lost")
    expect(page.locator("#live")).to_contain_text("gtm unreachable since")
    # What was last known stays on the page.
    expect(page.locator(row(page, "billing"))).to_have_attribute("data-active", "aws-use1")
