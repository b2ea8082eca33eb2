"""A real ``gtm run`` in front of simulated sites, and headless Chromium to look at it.

Chromium is Debian's (``/usr/bin/chromium``, installed by ``make browser``), driven by
Playwright, which uses it as it is and downloads nothing. Without it these tests are skipped.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e.support import SITES, TOKEN, config_doc
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

from gtm.demo.sites import SimulatedSite, SiteFleet
from testbed.ports import free_port, free_ports
from testbed.process import ManagedProcess

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Headless, and quiet on a closed network: no update, sync or QUIC attempts."""

DEADLINE_MS = 20_000
"""Longest wait for the page to show a change (a loaded 2-core machine is slow)."""

# Assertions wait as long as actions: Playwright's own default of 5 s is too short for a
# planned run's roll-back on a loaded machine.
expect.set_options(timeout=DEADLINE_MS)

SCREENSHOT_ENV = "GTM_DASHBOARD_SCREENSHOT"
"""When set, the screenshot the first test takes is also written to this path."""

RELEASE_CHECK = {"header": "X-Release"}
"""Every service's probes read the release its replicas name (the simulated sites do)."""

Tweak = Callable[[dict[str, Any]], None]
"""A change a test makes to the config before gtm starts."""


def reads_releases(doc: dict[str, Any]) -> None:
    """Every service reads its replicas' releases and warns of a move to another release."""
    for service in doc["services"].values():
        service["check"]["release"] = RELEASE_CHECK
        service["readiness"] = "warn"


class GtmServer(ManagedProcess):
    """``gtm run`` in a child process with the test token, ready once it lists every
    service; its DNS and API ports are picked afresh on each try."""

    start_attempts = 3

    def __init__(self, workdir: Path, services: dict[str, int], tweak: Tweak) -> None:
        super().__init__()
        self.workdir = workdir
        self.services = services
        self.tweak = tweak
        self.api = ""

    @property
    def log_path(self) -> Path:
        """What gtm writes."""
        return self.workdir / "gtm.log"

    def describe(self) -> str:
        """``gtm on http://HOST:PORT``."""
        return f"gtm on {self.api}"

    def _prepare(self) -> list[str]:
        doc = config_doc(self.workdir, self.services)
        reads_releases(doc)
        self.tweak(doc)
        dns, api = free_port(udp=True), free_port()
        doc["dns"]["listen"] = f"127.0.0.1:{dns}"
        doc["api"]["listen"] = f"127.0.0.1:{api}"
        self.api = f"http://127.0.0.1:{api}"
        path = self.workdir / "gtm.yaml"
        path.write_text(yaml.safe_dump(doc))
        return [sys.executable, "-m", "gtm", "run", "-c", str(path)]

    def _probe(self) -> str | None:
        try:
            mappings = self.get("/v1/services")["services"]
        except (OSError, ValueError, KeyError) as exc:
            return f"{type(exc).__name__}: {exc}"
        up = [m for m in mappings if all(loc["state"] == "up" for loc in m["locators"])]
        if len(up) == len(self.services):
            return None
        return f"{len(up)} of {len(self.services)} services published with every locator up"

    def get(self, path: str) -> Any:
        """GET a JSON document from the API (an error's document too)."""
        try:
            with urllib.request.urlopen(self.api + path, timeout=5) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read())

    def status(self, path: str) -> int:
        """The HTTP status of GET ``path``."""
        try:
            with urllib.request.urlopen(self.api + path, timeout=5) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            return exc.code


@pytest.fixture
def services() -> dict[str, int]:
    """Ports for two services, free on every site address."""
    return dict(zip(("billing", "search"), free_ports(2, *SITES.values()), strict=True))


@pytest.fixture
def fleet(services: dict[str, int]) -> Iterator[SiteFleet]:
    """The three simulated sites, each a real process; stopped whatever happens."""
    sites = SiteFleet(
        {name: SimulatedSite(name, address, dict(services)) for name, address in SITES.items()}
    )
    try:
        sites.start()
        yield sites
    finally:
        sites.stop()


@pytest.fixture
def tweak() -> Tweak:
    """What a test changes in gtm's config (nothing unless it overrides this fixture)."""
    return lambda doc: None


@pytest.fixture
def gtm(
    tmp_path: Path,
    services: dict[str, int],
    fleet: SiteFleet,
    tweak: Tweak,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[GtmServer]:
    """A started ``gtm run`` in front of the fleet, every locator up; stopped by PID."""
    monkeypatch.setenv("GTM_TEST_TOKEN", TOKEN)
    with GtmServer(tmp_path, services, tweak) as server:
        yield server


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[BrowserContext]:
    """Headless Chromium with a fresh profile; closed whatever happens. Skips the test
    when Chromium is not installed."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (make browser installs it)")
    profile = tmp_path / "chromium-profile"
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1440, "height": 900},
        )
        context.set_default_timeout(DEADLINE_MS)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser: BrowserContext, gtm: GtmServer) -> Iterator[Page]:
    """The dashboard open on ``gtm``, with every service drawn; a script error in the page
    fails the test."""
    yield from opened(browser, gtm)


def opened(
    browser: BrowserContext, gtm: GtmServer, prepare: Callable[[Page], None] = lambda page: None
) -> Iterator[Page]:
    """A new page, ``prepare``d (routes to block, say), on the dashboard of ``gtm`` with
    every service drawn; a script error in the page fails the test."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    prepare(page)
    page.goto(gtm.api + "/ui")
    page.wait_for_selector("tr[data-service='search'] td[data-site]")
    yield page
    assert not errors, f"errors in the page: {errors}"
