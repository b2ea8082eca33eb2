"""How fast and how safely do three gtm instances on a Consul cluster hand over and fail over?

One deployment (three Consul servers, three sites, a gtm instance per site probing from its
own address, every probe interval 1 s, flap damping off so sites can be killed again and
again) is started, then:

- takeover: the leader is killed (SIGKILL) or stopped cleanly (SIGTERM); the time until
  another instance says it acts is measured; the old one is started again;
- failover: the active site's workload is killed at a random phase of the probe cycle; the
  time until the leader's DNS answers another site;
- fanout: an operator's pin makes the leader write a mapping; the time from its decision
  (just before the write) until every instance's DNS answers it, each polled every 1 ms;
- cut vantage: the leader's own vantage is cut off from the active site until it judges it
  down, then a quiet spell of two probe intervals; any move is counted;
- stale writes: the leader is stopped (SIGSTOP) past its session, another takes over, the
  active site is killed, the old leader is resumed (SIGCONT); every stored version of the
  mapping is read back, and one written by the old leader's term after the new term's is
  counted.

Prints one JSON line.

    .venv/bin/python benchmarks/cluster.py [--trials 5] [--cut-trials 20] [--stale-trials 3]
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import percentile

from gtm.core.leadership import term_of
from testbed.deployment import (
    API_TOKEN,
    SERVICE,
    SITES,
    Deployment,
    GtmInstance,
    wait_for,
)

INTERVAL = 1.0
"""Seconds between two probes of a locator, on every instance."""


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def steady(deployment: Deployment) -> str:
    """Wait until every running vantage judges every locator up; the active site."""

    def all_up() -> bool:
        leader = deployment.leader()
        if leader is None:
            return False
        vantages = leader.cluster()["vantages"]["vantages"]
        running = {i.name for i in deployment.instances if i.alive}
        ups = {v["name"] for v in vantages if v["verdicts"]["up"] == len(SITES)}
        return ups >= running

    wait_for(all_up, "every vantage judging every locator up")
    return deployment.active_site()


def takeover(deployment: Deployment, sig: signal.Signals) -> float:
    """Seconds from ``sig`` to the leader until another instance acts."""
    steady(deployment)
    old = wait_for(deployment.leader, "a leader")
    others = [i for i in deployment.instances if i is not old]
    started = time.monotonic()
    old.signal(sig)
    wait_for(lambda: any(i.acting() for i in others), "another leader")
    taken = time.monotonic() - started
    deployment.restart(old)
    wait_for(deployment.all_voting, "every vantage voting again")
    return taken


def failover(deployment: Deployment) -> float:
    """Seconds from killing the active site until the leader's DNS answers another site."""
    active = steady(deployment)
    leader = wait_for(deployment.leader, "a leader")
    gone = SITES[active]
    time.sleep(random.uniform(0, INTERVAL))
    started = time.time()
    deployment.sites[active].kill()
    while True:
        answer = leader.dns_answer(timeout=1.0)
        if answer and gone not in answer:
            seen = time.time()
            break
        time.sleep(0.01)
    deployment.sites[active].start()
    return seen - started


def fanout(deployment: Deployment) -> float:
    """Milliseconds from the leader's decision to every instance's DNS answering it."""
    active = steady(deployment)
    leader = wait_for(deployment.leader, "a leader")
    target = random.choice([site for site in SITES if site != active])
    address = SITES[target]
    epoch = int(leader.mapping()["epoch"])
    seen: dict[str, float] = {}

    def follow(instance: GtmInstance) -> None:
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline:
            if instance.dns_answer(timeout=1.0) == [address]:
                seen[instance.name] = time.time()
                return
            time.sleep(0.001)

    threads = [threading.Thread(target=follow, args=(i,)) for i in deployment.instances]
    for thread in threads:
        thread.start()
    intent = leader.post(
        "/v1/intents",
        {"kind": "pin", "service": SERVICE, "site": target, "why": "fan-out benchmark"},
    )
    for thread in threads:
        thread.join()
    move = wait_for(
        lambda: next((m for m in deployment.moves() if m["epoch"] == epoch + 1), None),
        "the pin's move in the journal",
    )
    remove(leader, str(intent["id"]))
    if len(seen) < len(deployment.instances):
        raise RuntimeError(f"fanout: only {sorted(seen)} answered {target}")
    return (max(seen.values()) - float(move["timeline"]["decision"])) * 1000


def remove(instance: GtmInstance, intent: str) -> None:
    request = urllib.request.Request(
        f"{instance.api}/v1/intents/{intent}",
        method="DELETE",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        answer.read()


def cut_vantage(deployment: Deployment) -> int:
    """Moves while the leader's own vantage alone is cut off from the active site: 0 or 1."""
    active = steady(deployment)
    cut = wait_for(deployment.leader, "a leader")
    moves = len(deployment.moves())
    deployment.sites[active].refuse(cut.address)
    try:
        wait_for(lambda: cut.locator(active)["verdict"] == "down", "the cut vantage judging")
        time.sleep(2 * INTERVAL)
        moved = deployment.active_site() != active or len(deployment.moves()) != moves
    finally:
        deployment.sites[active].refuse()
    wait_for(lambda: cut.locator(active)["verdict"] == "up", "the cut vantage seeing it again")
    return int(moved)


def stale_writes(deployment: Deployment) -> int:
    """Versions of the mapping written by a deposed leader's term after the new term's."""
    active = steady(deployment)
    old = wait_for(deployment.leader, "a leader")
    others = [i for i in deployment.instances if i is not old]
    versions = MappingVersions(deployment)
    old.signal(signal.SIGSTOP)
    try:
        new = wait_for(lambda: next((i for i in others if i.acting()), None), "a new leader")
        new_term = int(new.cluster()["leader"]["term"])
        deployment.sites[active].kill()
        wait_for(lambda: new.mapping()["active_site"] != active, "the new leader's move")
        versions.start()
    finally:
        old.signal(signal.SIGCONT)
    try:
        # The old leader wakes with its failed probes and its stale view, and tries.
        wait_for(lambda: not old.acting() and old.cluster()["leader"]["term"], "the step-down")
        time.sleep(3 * INTERVAL)
    finally:
        versions.stop()
        deployment.sites[active].start()
    return sum(1 for written_by in versions.seen if term_of(written_by) < new_term)


class MappingVersions(threading.Thread):
    """Every version of the stored mapping, read from Consul with blocking queries."""

    def __init__(self, deployment: Deployment) -> None:
        super().__init__(daemon=True)
        server = deployment.consul.servers[0]
        self._url = f"http://{server.http_address}/v1/kv/{deployment.prefix}mappings/{SERVICE}"
        self._token = deployment.consul.token or ""
        self._done = threading.Event()
        self.seen: list[str] = []

    def run(self) -> None:
        index = last = 0
        while not self._done.is_set():
            request = urllib.request.Request(
                f"{self._url}?index={index}&wait=500ms",
                headers={"X-Consul-Token": self._token},
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as answer:
                    index = int(answer.headers["X-Consul-Index"])
                    item = json.loads(answer.read())[0]
            except (OSError, ValueError, urllib.error.URLError):
                time.sleep(0.05)
                continue
            if int(item["ModifyIndex"]) != last:
                last = int(item["ModifyIndex"])
                doc = json.loads(base64.b64decode(item["Value"]))
                self.seen.append(str(doc.get("written_by", "")))

    def stop(self) -> None:
        self._done.set()
        if self.is_alive():
            self.join()


def measure(trials: int, cut_trials: int, stale_trials: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="gtm-cluster-bench-"))
    deployment = Deployment(workdir, interval=INTERVAL, damping=False)
    figures: dict[str, list[float]] = {
        "kill9": [],
        "stop": [],
        "failover": [],
        "fanout": [],
    }
    cut_moves = stale = 0
    try:
        deployment.start()
        for n in range(trials):
            figures["kill9"].append(takeover(deployment, signal.SIGKILL))
            figures["stop"].append(takeover(deployment, signal.SIGTERM))
            figures["failover"].append(failover(deployment))
            figures["fanout"].append(fanout(deployment))
            log(
                f"#{n + 1}: takeover kill -9 {figures['kill9'][-1]:.2f} s,"
                f" stop {figures['stop'][-1]:.2f} s, failover {figures['failover'][-1]:.3f} s,"
                f" fanout {figures['fanout'][-1]:.1f} ms"
            )
        for n in range(cut_trials):
            cut_moves += cut_vantage(deployment)
            log(f"cut vantage #{n + 1}: {cut_moves} moves so far")
        for n in range(stale_trials):
            stale += stale_writes(deployment)
            log(f"stale writes #{n + 1}: {stale} accepted so far")
    finally:
        deployment.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    def p(key: str, q: float, digits: int = 3) -> float:
        return round(percentile(figures[key], q), digits)

    return {
        "benchmark": "cluster",
        "instances": len(deployment.instances),
        "interval_s": INTERVAL,
        "trials": trials,
        "takeover_kill9_p50_s": p("kill9", 50),
        "takeover_stop_p50_s": p("stop", 50),
        "failover_p50_s": p("failover", 50),
        "failover_p95_s": p("failover", 95),
        "fanout_p99_ms": p("fanout", 99, 1),
        "moves_with_cut_vantage": cut_moves,
        "cut_vantage_trials": cut_trials,
        "stale_writes_accepted": stale,
        "stale_write_trials": stale_trials,
        "target": {
            "takeover_kill9_p50_s": 5.0,
            "takeover_stop_p50_s": 1.0,
            "failover_p50_s": 0.8,
            "failover_p95_s": 1.3,
            "fanout_p99_ms": 50.0,
            "moves_with_cut_vantage": 0,
            "cut_vantage_trials": 20,
            "stale_writes_accepted": 0,
        },
    }


def main() -> None:
    """Parse arguments, run, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--trials", type=int, default=5, help="takeovers, failovers and fan-outs (default 5)"
    )
    parser.add_argument(
        "--cut-trials", type=int, default=20, help="cut-vantage trials (default 20, the target)"
    )
    parser.add_argument("--stale-trials", type=int, default=3, help="stale-leader trials")
    args = parser.parse_args()
    print(json.dumps(measure(args.trials, args.cut_trials, args.stale_trials)))


if __name__ == "__main__":
    main()
