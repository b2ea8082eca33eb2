"""Three gtm instances, one per site, on a three-server Consul cluster, with one command.

Starts three Consul servers (127.0.0.1-3, ACLs on), a workload per site (127.0.1.1,
127.0.2.1, 127.0.3.1) and a gtm instance per site (127.0.0.31-33, each probing from its own
address), then plays:

1. kill -9 the leader: another instance takes the lead; the killed one comes back as a
   follower;
2. cut one vantage off the active site (the site drops that vantage's probes): it judges
   the site down, the others do not, nothing moves, and the cluster shows the disagreement;
3. kill the active site: the vantages agree, the leader moves the service, and the move
   names each vantage's vote.

    .venv/bin/python examples/consul-cluster/run.py             # play, then keep running
    .venv/bin/python examples/consul-cluster/run.py --scenario  # play and exit
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

from testbed.consul import find_consul  # noqa: E402
from testbed.deployment import SERVICE, Deployment, wait_for  # noqa: E402

QUIET = 5.0
"""Seconds the cut-off vantage is left to act on its own verdict before the example checks
that nothing moved."""


def say(step: str, text: str) -> None:
    print(f"[{step}] {text}", flush=True)


def show(deployment: Deployment, step: str) -> None:
    """One line per instance: who leads, and what its DNS answers."""
    leader = deployment.leader()
    for instance in deployment.instances:
        if not instance.alive:
            say(step, f"{instance.name}: stopped")
            continue
        role = "leader" if instance is leader else "follower"
        answer = ",".join(instance.dns_answer()) or "nothing"
        say(step, f"{instance.name} ({role}): DNS {SERVICE} -> {answer}")


def kill_the_leader(deployment: Deployment) -> None:
    leader = wait_for(deployment.leader, "a leader")
    say("leader", f"kill -9 {leader.name}, the leader (pid {leader.pid})")
    killed = time.monotonic()
    leader.signal(signal.SIGKILL)
    new = wait_for(
        lambda: next((i for i in deployment.instances if i is not leader and i.acting()), None),
        "a new leader",
    )
    term = new.cluster()["leader"]["term"]
    say("leader", f"{new.name} leads (term {term}) after {time.monotonic() - killed:.2f} s")
    deployment.restart(leader)
    wait_for(deployment.all_voting, "every vantage voting again")
    say("leader", f"{leader.name} is back, as a follower")


def cut_one_vantage(deployment: Deployment) -> None:
    active = deployment.active_site()
    cut = wait_for(deployment.leader, "a leader")
    say(
        "cut",
        f"{active}'s workload drops every probe from gtm {cut.name} ({cut.address}),"
        " the leader's vantage",
    )
    deployment.sites[active].refuse(cut.address)
    wait_for(lambda: cut.locator(active)["verdict"] == "down", f"{cut.name} judging {active} down")
    say("cut", f"gtm {cut.name} judges {active} down: {cut.locator(active)['reason']}")
    moves = len(deployment.moves())
    wait_for(lambda: cut.cluster()["vantages"]["disagreements"], "the disagreement shown")
    status = subprocess.run(
        [sys.executable, "-m", "gtm", "status", "--api", cut.api],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    for line in status.splitlines():
        if line.startswith("      "):  # the vantages' lines under the cluster's
            say("cut", f"gtm status: {line.strip()}")
    time.sleep(QUIET)
    if deployment.active_site() != active or len(deployment.moves()) != moves:
        raise SystemExit(f"example: {SERVICE} moved although only one vantage lost {active}")
    say("cut", f"{SERVICE} stays on {active}: one vantage of three is no quorum")
    deployment.sites[active].refuse()
    wait_for(lambda: cut.locator(active)["verdict"] == "up", f"{cut.name} seeing {active} again")
    say("cut", f"gtm {cut.name} reaches {active} again")


def kill_a_site(deployment: Deployment) -> None:
    active = deployment.active_site()
    say("site", f"killing {active}'s workload, where {SERVICE} runs")
    deployment.sites[active].kill()
    wait_for(
        lambda: all(i.mapping()["active_site"] != active for i in deployment.instances),
        "every instance answering with another site",
    )
    move = wait_for(
        lambda: next((m for m in deployment.moves() if m["from_site"] == active), None),
        "the move in the journal",
    )
    say("site", f"{SERVICE} moved {active} -> {move['to_site']} (epoch {move['epoch']})")
    for locator, votes in sorted(move.get("votes", {}).items()):
        ballot = ", ".join(f"{name} {vote}" for name, vote in sorted(votes.items()))
        say("site", f"votes on {locator}: {ballot}")
    deployment.sites[active].start()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", action="store_true", help="play the scenario and exit")
    parser.add_argument(
        "--free-ports",
        action="store_true",
        help="accepted for the examples' test (ports are always free ones)",
    )
    parser.add_argument(
        "--workdir",
        default=str(ROOT / "var" / "consul-cluster"),
        help="scratch directory (emptied first)",
    )
    args = parser.parse_args()
    if find_consul() is None:
        print("consul is not installed: run `make consul` (as root)", file=sys.stderr)
        return 2
    workdir = Path(args.workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    deployment = Deployment(workdir, interval=1.0, disagree_after=2.0)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        deployment.start()
        leader = deployment.leader()
        assert leader is not None
        say("start", f"3 Consul servers, 3 sites, 3 gtm instances; {leader.name} leads")
        show(deployment, "start")
        kill_the_leader(deployment)
        cut_one_vantage(deployment)
        kill_a_site(deployment)
        show(deployment, "after")
        say("done", f"logs and configs under {workdir}")
        if not args.scenario:
            apis = ", ".join(i.api for i in deployment.instances)
            print(f"running; APIs at {apis} (GET /v1/cluster); Ctrl-C stops", flush=True)
            stop.wait()
    finally:
        deployment.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
