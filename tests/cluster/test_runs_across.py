"""Planned failovers in a cluster: posted to any instance, carried out by the leader, and
finished or rolled back by the next leader when the one carrying it out dies mid-drain."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from consul_stores import fresh_prefix
from instances import SERVICE, Deployment, GtmInstance, leader_of, wait_for

from testbed.consul import ConsulCluster

pytestmark = pytest.mark.slow


@pytest.fixture
def deployment(consul_cluster: ConsulCluster, tmp_path: Path) -> Iterator[Deployment]:
    made = Deployment(consul_cluster, fresh_prefix(), tmp_path, ["site-a", "site-b"])
    try:
        made.start()
        yield made
    finally:
        made.stop()


def run_on(instance: GtmInstance, run_id: str) -> dict[str, Any]:
    doc: dict[str, Any] = instance.get(f"/v1/runs/{run_id}")
    return doc


def test_a_run_posted_to_a_follower_is_carried_out_by_the_leader(
    deployment: Deployment,
) -> None:
    leader, _ = wait_for(lambda: leader_of(deployment.instances), "a leader")
    follower = next(i for i in deployment.instances if i is not leader)
    before = follower.mapping(SERVICE)["active_site"]
    run = follower.post("/v1/runs", {"service": SERVICE, "reason": "maintenance", "hold": 0.2})
    done = wait_for(
        lambda: (r := run_on(follower, run["id"]))["state"] != "running" and r,
        f"run {run['id']} ending",
    )
    assert done["state"] == "done", done
    assert done["owner"] == leader.name
    moved = follower.mapping(SERVICE)
    assert moved["active_site"] != before
    assert str(moved["written_by"]).startswith(leader.name)


def test_a_leader_dying_mid_drain_leaves_the_run_to_the_next(deployment: Deployment) -> None:
    leader, _ = wait_for(lambda: leader_of(deployment.instances), "a leader")
    follower = next(i for i in deployment.instances if i is not leader)
    before = leader.mapping(SERVICE)["active_site"]
    run = leader.post(
        "/v1/runs",
        {"service": SERVICE, "reason": "maintenance", "drain": 60, "hold": 0.2},
    )
    wait_for(
        lambda: any(
            step["step"] == "drain" and step["finished_at"] is None
            for step in run_on(follower, run["id"])["steps"]
        ),
        f"run {run['id']} draining",
    )
    leader.kill()
    wait_for(
        lambda: (found := leader_of(deployment.instances)) and found[0] is follower,
        f"{follower.name} leading",
    )
    ended = wait_for(
        lambda: (r := run_on(follower, run["id"]))["state"] != "running" and r,
        f"run {run['id']} ended by {follower.name}",
    )
    assert ended["state"] in {"rolled-back", "done"}, ended
    assert ended["owner"] == follower.name
    if ended["state"] == "rolled-back":
        assert f"its leader {leader.name} was lost during drain" in ended["outcome"]
        wait_for(
            lambda: follower.mapping(SERVICE)["active_site"] == before,
            f"{SERVICE} back on {before}",
        )
    # No intent of the run is left behind.
    wait_for(lambda: not follower.get("/v1/intents")["intents"], "the run's intents removed")
