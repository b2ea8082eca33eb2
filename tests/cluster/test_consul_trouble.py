"""When Consul is in trouble: a server lost changes nothing; quorum lost freezes every move
while every instance keeps answering; quorum back, the leader acts again without a move.

These tests stop and restart servers of the module's own cluster, and leave it whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from consul_stores import fresh_prefix
from instances import SERVICE, SITES, Deployment, leader_of, wait_for

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
        for server in consul_cluster.servers:
            server.start()  # whatever a test stopped comes back for the next one
        consul_cluster.wait_ready()


def answers(deployment: Deployment) -> set[tuple[int, str, tuple[str, ...]]]:
    """The version and active site each instance serves, and its DNS answer."""
    return {
        (
            i.mapping(SERVICE)["version"],
            i.mapping(SERVICE)["active_site"],
            tuple(i.dns_answer(SERVICE)),
        )
        for i in deployment.instances
    }


def agreed(deployment: Deployment) -> tuple[int, str, list[str]] | None:
    """What every instance serves when they all agree; None while they do not."""
    seen = answers(deployment)
    if len(seen) != 1:
        return None
    version, active, answer = seen.pop()
    return version, active, list(answer)


def serving(deployment: Deployment) -> tuple[int, str, list[str]]:
    """What every instance serves; they must agree."""
    found = agreed(deployment)
    assert found is not None, answers(deployment)
    return found


def settled(deployment: Deployment) -> tuple[int, str, list[str]]:
    """What every instance serves once a leader acts and all locators are up everywhere."""
    wait_for(lambda: leader_of(deployment.instances), "a leader")
    return wait_for(
        lambda: (
            (found := agreed(deployment))
            and len(found[2]) == 1
            and all(
                loc["state"] == "up" for loc in deployment.instances[0].mapping(SERVICE)["locators"]
            )
            and found
        ),
        "every instance serving one settled mapping",
    )


def test_one_consul_server_lost_changes_nothing(deployment: Deployment) -> None:
    before = settled(deployment)
    # The instances talk to server 0's agent; server 2 goes (maybe Consul's leader).
    deployment.consul.servers[2].kill()
    deployment.consul.wait_ready()
    wait_for(lambda: leader_of(deployment.instances), "a leader with two servers")
    assert serving(deployment) == before
    # The cluster still works: a real failure is still acted on.
    active = before[1]
    deployment.sites[active].set_mode("down")
    wait_for(
        lambda: (found := agreed(deployment)) and found[1] != active,
        f"every instance serving {SERVICE} off {active}",
    )


def test_quorum_lost_freezes_moves_and_quorum_back_resumes_without_one(
    deployment: Deployment,
) -> None:
    before = settled(deployment)
    servers = deployment.consul.servers
    servers[1].kill()
    servers[2].kill()
    for instance in deployment.instances:
        doc = wait_for(
            lambda i=instance: (d := i.cluster())["consul"]["ok"] is False and d,  # type: ignore[misc]
            f"{instance.name} saying Consul lost its leader",
        )
        assert "quorum" in doc["consul"]["why"]
    wait_for(lambda: leader_of(deployment.instances) is None, "no instance acting")
    # Every instance still answers DNS and the API from its last mapping, and says why
    # nothing moves.
    assert serving(deployment) == before
    shown = deployment.instances[1].status_text()
    assert "consul: NO LEADER" in shown and "quorum" in shown, shown
    for instance in deployment.instances:
        assert SITES[before[1]] in instance.dns_answer(SERVICE)

    servers[1].start()
    servers[2].start()
    deployment.consul.wait_ready()
    leader, term = wait_for(lambda: leader_of(deployment.instances), "a leader again")
    assert serving(deployment) == before  # no spurious move
    shown = leader.status_text()
    assert f"cluster: leader {leader.name} (term {term})" in shown, shown
    assert f"this instance, {leader.name}, leads" in shown, shown
