"""Leadership on a real cluster: a killed or stopped leader is replaced, and fenced out.

Real ``gtm run`` instances on their own addresses share a prefix on a three-server Consul
cluster; the sites are real workload processes.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from consul_stores import fresh_prefix
from instances import SERVICE, SITES, Deployment, GtmInstance, leader_of, wait_for

from gtm.core.leadership import term_of
from testbed.consul import ConsulCluster

pytestmark = pytest.mark.slow


@pytest.fixture
def deployment(consul_cluster: ConsulCluster, tmp_path: Path) -> Iterator[Deployment]:
    made = Deployment(consul_cluster, fresh_prefix(), tmp_path, ["site-a", "site-b", "site-c"])
    try:
        made.start()
        yield made
    finally:
        made.stop()


def next_leader(deployment: Deployment, old: GtmInstance, term: int) -> tuple[GtmInstance, int]:
    return wait_for(
        lambda: (
            (found := leader_of(deployment.instances))
            and found[0] is not old
            and found[1] > term
            and found
        ),
        f"another instance than {old.name} leading past term {term}",
    )


def test_kill_9_of_the_leader_hands_the_decisions_to_another(deployment: Deployment) -> None:
    leader, term = wait_for(lambda: leader_of(deployment.instances), "a leader")
    others = [i for i in deployment.instances if i is not leader]
    active = leader.mapping(SERVICE)["active_site"]
    leader.kill()
    new, new_term = next_leader(deployment, leader, term)
    # The new leader decides: the active site fails, and traffic moves.
    deployment.sites[active].set_mode("down")
    moved = wait_for(
        lambda: (m := new.mapping(SERVICE))["active_site"] != active and m,
        f"{SERVICE} moved off {active} by {new.name}",
    )
    assert term_of(str(moved["written_by"])) == new_term
    assert str(moved["written_by"]).startswith(new.name)
    # Every surviving instance serves the move, from DNS too.
    for instance in others:
        wait_for(
            lambda i=instance: i.mapping(SERVICE)["version"] >= moved["version"],  # type: ignore[misc]
            f"{instance.name} following the move",
        )
        wait_for(
            lambda i=instance: SITES[active] not in i.dns_answer(SERVICE),  # type: ignore[misc]
            f"{instance.name}'s DNS answering without {active}",
        )


def test_a_stopped_leader_is_fenced_out_and_steps_down(deployment: Deployment) -> None:
    leader, term = wait_for(lambda: leader_of(deployment.instances), "a leader")
    active = leader.mapping(SERVICE)["active_site"]
    leader.signal(signal.SIGSTOP)
    try:
        new, new_term = next_leader(deployment, leader, term)
        # While the old leader sleeps, the site it would keep is lost and the new one moves.
        deployment.sites[active].set_mode("down")
        wait_for(
            lambda: (m := new.mapping(SERVICE))["active_site"] != active and m,
            f"{SERVICE} moved off {active}",
        )
    finally:
        leader.signal(signal.SIGCONT)
    # The site comes back: the old leader, waking with its old verdicts, would keep traffic
    # where it was; it must notice it no longer leads, and write nothing.
    deployment.sites[active].set_mode("up")
    wait_for(
        lambda: (
            (doc := leader.cluster())["acting"] is False and doc["leader"]["instance"] == new.name
        ),
        f"{leader.name} stepping down for {new.name}",
    )
    stored = deployment.stored()
    assert term_of(str(stored["written_by"])) >= new_term, stored
    assert leader_of(deployment.instances) == (new, new_term)
    log = leader.log_path.read_text()
    assert "stops acting for the cluster" in log


def test_a_long_poll_on_a_follower_wakes_on_the_leaders_write(deployment: Deployment) -> None:
    leader, _ = wait_for(lambda: leader_of(deployment.instances), "a leader")
    follower = next(i for i in deployment.instances if i is not leader)
    seen = follower.mapping(SERVICE)
    answers: list[dict[str, object]] = []
    poll = threading.Thread(
        target=lambda: answers.append(
            follower.get(f"/v1/services/{SERVICE}?index={seen['version']}&wait=50")
        )
    )
    poll.start()
    try:
        deployment.sites[seen["active_site"]].set_mode("down")
    finally:
        poll.join(60)
    assert answers, "the long poll did not answer"
    assert answers[0]["version"] > seen["version"]
    assert answers[0]["active_site"] != seen["active_site"]
    assert str(answers[0]["written_by"]).startswith(leader.name)
