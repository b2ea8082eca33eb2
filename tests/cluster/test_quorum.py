"""Vantage quorum on a real cluster: a vantage cut off from a site moves nothing; a site
that is really down moves, and the move names the vantages that voted.

Three real ``gtm run`` instances, each probing from its own loopback address, share a
prefix on a three-server Consul cluster; the sites are real workload processes, and "cut
off" is the site's workload dropping every probe from one vantage's address.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from instances import (
    GtmInstance,
    cluster_doc,
    leader_of,
    site_port,
    start_fleet,
    wait_for,
    with_service,
)

from gtm.demo.sites import SiteFleet
from testbed.consul import ConsulCluster

pytestmark = pytest.mark.slow

SERVICE = "billing"
NAMES = ("site-a", "site-b", "site-c")

QUIET = 5.0
"""Seconds the cut vantage's verdict is left to act on its own: a dozen probe intervals,
and several times what a quorum takes to move."""


class Deployment:
    """Three instances, each probing from its own address, and the sites they watch."""

    def __init__(self, consul: ConsulCluster, workdir: Path) -> None:
        self.prefix = f"gtm-quorum/{uuid.uuid4().hex[:8]}/"
        self.port = site_port()
        self.sites: SiteFleet = start_fleet(self.port, SERVICE)
        doc = with_service(cluster_doc(consul, self.prefix, workdir), SERVICE, self.port)
        self.instances = []
        for n, name in enumerate(NAMES):
            address = f"127.0.0.{21 + n}"
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

    def leader(self) -> GtmInstance:
        found = wait_for(lambda: leader_of(self.instances), "a leader")
        return found[0]

    def vantages(self) -> dict[str, Any]:
        doc: dict[str, Any] = self.leader().cluster()["vantages"]
        return doc

    def moves(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self.leader().get(f"/v1/events?service={SERVICE}")["events"]
        return [event for event in events if event["kind"] == "move"]


@pytest.fixture
def deployment(consul_cluster: ConsulCluster, tmp_path: Path) -> Iterator[Deployment]:
    made = Deployment(consul_cluster, tmp_path)
    try:
        made.start()
        yield made
    finally:
        made.stop()


def locator_on(instance: GtmInstance, site: str) -> dict[str, Any]:
    """``instance``'s own probe detail of the service's locator on ``site``."""
    docs: list[dict[str, Any]] = instance.get(f"/v1/locators?service={SERVICE}")["locators"]
    return next(doc for doc in docs if doc["site"] == site)


def live_vantages(deployment: Deployment) -> set[str] | None:
    names = {v["name"] for v in deployment.vantages().get("vantages", [])}
    return names if names == set(NAMES) else None


def test_a_vantage_cut_off_from_a_site_moves_nothing_and_is_shown(
    deployment: Deployment,
) -> None:
    active = deployment.instances[0].mapping(SERVICE)["active_site"]
    wait_for(lambda: live_vantages(deployment), "three live vantages")
    # The leader's own vantage is the one cut off: alone, its verdict would move traffic.
    cut = deployment.leader()
    others = [instance for instance in deployment.instances if instance is not cut]
    moves_before = len(deployment.moves())

    deployment.sites[active].refuse(cut.address)

    wait_for(lambda: locator_on(cut, active)["verdict"] == "down", f"{cut.name} judging down")
    locator = locator_on(cut, active)["id"]
    shown = wait_for(
        lambda: [
            d
            for d in deployment.vantages()["disagreements"]
            if d["vantage"] == cut.name and d["locator"] == locator
        ],
        f"{cut.name}'s disagreement shown",
    )
    assert shown[0]["says"] == "down"
    assert shown[0]["verdict"] == "up"
    time.sleep(QUIET)
    for instance in deployment.instances:
        assert instance.mapping(SERVICE)["active_site"] == active
    assert len(deployment.moves()) == moves_before
    assert deployment.leader() is cut
    for instance in others:
        assert locator_on(instance, active)["verdict"] == "up"


def test_a_site_really_down_moves_and_the_move_names_the_votes(
    deployment: Deployment,
) -> None:
    active = deployment.instances[0].mapping(SERVICE)["active_site"]
    wait_for(lambda: live_vantages(deployment), "three live vantages")
    locator = locator_on(deployment.instances[0], active)["id"]

    deployment.sites[active].kill()

    wait_for(
        lambda: all(i.mapping(SERVICE)["active_site"] != active for i in deployment.instances),
        "every instance answering with the new site",
    )
    move = wait_for(
        lambda: [m for m in deployment.moves() if m.get("from_site") == active],
        "the move in the journal",
    )[0]
    votes = move["votes"][locator]
    assert set(votes) <= set(NAMES)
    assert sum(1 for vote in votes.values() if vote == "down") >= 2
    assert f"{locator} down by " in move["reason"]
