"""The dashboard's cluster panel in a real headless Chromium, against three real ``gtm run``
instances on a real three-server Consul cluster: a follower's page shows the leader, its
term and every instance; it follows a kill -9 of the leader without a reload; and a
vantage cut off from one site shows as a lasting disagreement.

The instances each probe from their own loopback address; "cut off" is the site's workload
dropping every probe from one vantage's address (as in tests/cluster/test_quorum.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster.instances import (
    DEADLINE,
    GtmInstance,
    cluster_doc,
    leader_of,
    site_port,
    start_fleet,
    wait_for,
    with_service,
)
from playwright.sync_api import BrowserContext, Page, expect

from gtm.demo.sites import SiteFleet
from testbed.consul import ConsulCluster, find_consul

pytestmark = pytest.mark.slow

SERVICE = "billing"
NAMES = ("site-a", "site-b", "site-c")
DEADLINE_MS = int(DEADLINE * 1000)
"""Longest wait for the page to show a change in the cluster (a takeover included)."""


@pytest.fixture(scope="module")
def consul_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsulCluster]:
    """Three Consul servers with ACLs on; skips when consul is missing."""
    if find_consul() is None:
        pytest.skip("consul not installed (make consul installs it, as root with apt)")
    cluster = ConsulCluster(Path(tmp_path_factory.mktemp("consul")), token=str(uuid.uuid4()))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


class Deployment:
    """Three instances, each probing from its own address, and the sites they watch."""

    def __init__(self, consul: ConsulCluster, workdir: Path) -> None:
        self.prefix = f"gtm-dashboard/{uuid.uuid4().hex[:8]}/"
        self.port = site_port()
        self.sites: SiteFleet = start_fleet(self.port, SERVICE)
        doc = with_service(cluster_doc(consul, self.prefix, workdir), SERVICE, self.port)
        self.instances = []
        for n, name in enumerate(NAMES):
            address = f"127.0.0.{31 + n}"
            cluster = {**doc["cluster"], "probe_from": address, "disagree_after": "1s"}
            self.instances.append(GtmInstance(workdir, name, address, {**doc, "cluster": cluster}))

    def start(self) -> None:
        for instance in self.instances:
            instance.start()
        for instance in self.instances:
            wait_for(
                lambda i=instance: i.mapping(SERVICE).get("active_site"),  # type: ignore[misc]
                f"{instance.name} serving {SERVICE}",
            )

    def stop(self) -> None:
        for instance in self.instances:
            instance.stop()
        self.sites.stop()

    def leader(self) -> tuple[GtmInstance, int]:
        """The instance acting for the cluster and its term, once every instance agrees on it."""

        def agreed() -> tuple[GtmInstance, int] | None:
            found = leader_of(self.instances)
            if found is None:
                return None
            for instance in self.instances:
                if instance.alive and instance.cluster()["leader"]["instance"] != found[0].name:
                    return None
            return found

        return wait_for(agreed, "a leader every live instance names")


@pytest.fixture
def deployment(
    consul_cluster: ConsulCluster, tmp_path: Path, browser: BrowserContext
) -> Iterator[Deployment]:
    """Three started instances (after the browser, so a missing Chromium skips first)."""
    made = Deployment(consul_cluster, tmp_path)
    try:
        made.start()
        yield made
    finally:
        made.stop()


def follower_page(
    browser: BrowserContext, deployment: Deployment
) -> tuple[Page, GtmInstance, GtmInstance, int, list[str]]:
    """The dashboard of a follower with the cluster drawn; with the leader and its term,
    and the list the page's script errors go to."""
    leader, term = deployment.leader()
    follower = next(i for i in deployment.instances if i is not leader)
    page = browser.new_page()
    page.set_default_timeout(DEADLINE_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(follower.api + "/ui")
    page.wait_for_selector(f"tr[data-service='{SERVICE}'] td[data-site]")
    expect(page.locator("#cluster-panel")).to_be_visible()
    return page, follower, leader, term, errors


def vantages_of(instance: GtmInstance) -> dict[str, Any]:
    """The vantages part of ``instance``'s ``GET /v1/cluster``."""
    doc: dict[str, Any] = instance.cluster()["vantages"]
    return doc


def test_a_followers_page_shows_the_leader_its_term_and_every_instance(
    browser: BrowserContext, deployment: Deployment, tmp_path: Path
) -> None:
    page, follower, leader, term, errors = follower_page(browser, deployment)
    head = page.locator("#cluster .cluster-head")
    expect(head.locator(".leader")).to_have_attribute("data-leader", leader.name)
    expect(head.locator(".leader")).to_have_attribute("data-term", str(term))
    expect(head.locator(".leader")).to_contain_text(f"term {term}")
    expect(head.locator(".leader")).to_contain_text(leader.api.removeprefix("http://"))
    me = head.locator(".me")
    expect(me).to_have_attribute("data-instance", follower.name)
    expect(me).to_have_attribute("data-acting", "false")
    expect(me.locator(".part")).to_have_text("follower")
    expect(head.locator(".consul")).to_have_attribute("data-ok", "true")
    expect(head.locator(".consul")).to_contain_text("3 servers")
    rows = page.locator("#cluster table.instances tbody tr")
    expect(rows).to_have_count(len(NAMES))
    for instance in deployment.instances:
        row = page.locator(f"#cluster tr[data-instance='{instance.name}']")
        expect(row).to_have_attribute("data-alive", "true")
        expect(row).to_have_attribute("data-leader", str(instance is leader).lower())
        expect(row).to_contain_text(instance.api.removeprefix("http://"))
    # Every instance is a vantage that votes.
    for name in NAMES:
        vantage = page.locator(f"#cluster table.vantages tr[data-vantage='{name}']")
        expect(vantage).to_have_attribute("data-degraded", "false")
        expect(vantage).to_contain_text(f"{len(NAMES)} up")
    # The banner says this instance does not act and that the leader carries actions out.
    banner = page.locator("#cluster-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text(f"This instance ({follower.name}) does not act")
    expect(banner.locator(".leader-name")).to_have_text(leader.name)
    page.screenshot(path=str(tmp_path / "dashboard-cluster.png"), full_page=True)

    # The leader's own page has no banner and says it leads.
    own = browser.new_page()
    own.set_default_timeout(DEADLINE_MS)
    own.goto(leader.api + "/ui")
    expect(own.locator("#cluster .me")).to_have_attribute("data-acting", "true")
    expect(own.locator("#cluster .me .part")).to_have_text("leader, acting")
    expect(own.locator("#cluster-banner")).to_have_count(0)
    assert not errors, f"errors in the page: {errors}"


def test_a_new_leader_shows_on_the_page_without_a_reload(
    browser: BrowserContext, deployment: Deployment
) -> None:
    page, follower, leader, term, errors = follower_page(browser, deployment)
    expect(page.locator("#cluster .leader")).to_have_attribute("data-leader", leader.name)
    page.evaluate("window.notReloaded = true")

    leader.kill()

    new, new_term = deployment.leader()
    assert new is not leader and new_term > term
    expect(page.locator("#cluster .leader")).to_have_attribute("data-leader", new.name)
    expect(page.locator("#cluster .leader")).to_have_attribute("data-term", str(new_term))
    # The killed instance's session ended with it: it is listed as gone.
    gone = page.locator(f"#cluster tr[data-instance='{leader.name}']")
    expect(gone).to_have_attribute("data-alive", "false")
    expect(gone).to_contain_text("gone")
    expect(page.locator(f"#cluster tr[data-instance='{new.name}']")).to_have_attribute(
        "data-leader", "true"
    )
    if new is follower:
        expect(page.locator("#cluster .me")).to_have_attribute("data-acting", "true")
        expect(page.locator("#cluster-banner")).to_have_count(0)
    else:
        expect(page.locator("#cluster-banner .leader-name")).to_have_text(new.name)
    assert page.evaluate("window.notReloaded") is True
    assert not errors, f"errors in the page: {errors}"


def test_a_vantage_cut_off_from_a_site_shows_as_a_disagreement(
    browser: BrowserContext, deployment: Deployment, tmp_path: Path
) -> None:
    page, follower, leader, _, errors = follower_page(browser, deployment)
    active = follower.mapping(SERVICE)["active_site"]
    wait_for(
        lambda: {v["name"] for v in vantages_of(follower).get("vantages", [])} == set(NAMES),
        "three live vantages",
    )
    expect(page.locator("#cluster ul.disagreements")).to_have_count(0)
    cut = leader
    locators = cut.get(f"/v1/locators?service={SERVICE}")["locators"]
    locator = next(doc["id"] for doc in locators if doc["site"] == active)

    deployment.sites[active].refuse(cut.address)

    shown = page.locator(
        f"#cluster ul.disagreements li[data-vantage='{cut.name}'] li[data-locator='{locator}']"
    )
    expect(shown).to_have_attribute("data-says", "down")
    expect(shown).to_contain_text("where the quorum says up")
    expect(shown).to_contain_text("since ")
    expect(page.locator(f"#cluster table.vantages tr[data-vantage='{cut.name}']")).to_contain_text(
        "1 down"
    )
    # Shown, not obeyed: the service stays where it was.
    assert follower.mapping(SERVICE)["active_site"] == active
    page.screenshot(path=str(tmp_path / "dashboard-cluster-disagreement.png"), full_page=True)
    assert not errors, f"errors in the page: {errors}"


def test_consul_quorum_lost_is_shown_and_the_banner_goes_when_it_is_back(
    browser: BrowserContext, deployment: Deployment, consul_cluster: ConsulCluster
) -> None:
    leader, _ = deployment.leader()
    page = browser.new_page()
    page.set_default_timeout(DEADLINE_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(leader.api + "/ui")
    expect(page.locator("#cluster .me")).to_have_attribute("data-acting", "true")
    expect(page.locator("#cluster-banner")).to_have_count(0)
    servers = consul_cluster.servers
    try:
        servers[1].kill()
        servers[2].kill()

        banner = page.locator("#cluster-banner")
        expect(banner).to_have_class("no-quorum")
        expect(banner).to_contain_text("Consul has no leader: no instance moves anything")
        consul = page.locator("#cluster .consul")
        expect(consul).to_have_attribute("data-ok", "false")
        expect(consul).to_contain_text("NO LEADER")
        expect(consul).to_contain_text("quorum")
        expect(page.locator("#cluster .me")).to_have_attribute("data-acting", "false")
    finally:
        for server in servers:
            server.start()
        consul_cluster.wait_ready()
    new, term = deployment.leader()
    expect(page.locator("#cluster .consul")).to_have_attribute("data-ok", "true")
    expect(page.locator("#cluster .leader")).to_have_attribute("data-leader", new.name)
    expect(page.locator("#cluster .leader")).to_have_attribute("data-term", str(term))
    if new is leader:
        expect(page.locator("#cluster .me")).to_have_attribute("data-acting", "true")
        expect(page.locator("#cluster-banner")).to_have_count(0)
    else:
        expect(page.locator("#cluster-banner")).to_have_class("follower")
        expect(page.locator("#cluster-banner .leader-name")).to_have_text(new.name)
    assert not errors, f"errors in the page: {errors}"
