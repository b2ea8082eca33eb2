"""The runnable examples work: each plays its scenario against the real systems and exits 0."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from testbed.consul import find_consul
from testbed.haproxy import find_haproxy

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 120
"""Seconds an example may take before it is killed and the test fails."""


def run_example(name: str, workdir: Path) -> str:
    """Run ``examples/NAME/run.py --scenario`` on free ports; its output, once it exits 0.

    The example runs in its own process group, so that if it has to be killed on timeout,
    whatever it started goes with it.
    """
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "examples" / name / "run.py"),
            "--scenario",
            "--free-ports",
            "--workdir",
            str(workdir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        out, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate()
        pytest.fail(f"examples/{name} did not finish in {TIMEOUT} s:\n{out}")
    assert process.returncode == 0, out
    return out


def test_bind_haproxy_example_moves_bind_and_haproxy(tmp_path: Path) -> None:
    if shutil.which("named") is None and not Path("/usr/sbin/named").exists():
        pytest.skip("named is not installed (Debian package bind9)")
    if find_haproxy() is None:
        pytest.skip("haproxy is not installed (Debian package haproxy)")
    out = run_example("bind-haproxy", tmp_path / "work")
    assert "[start] billing  gtm: aws-use1 (epoch 1) | BIND answers 127.0.1.1 | " in out
    assert "HAProxy serves aws-use1 (aws-use1=100 gcp-euw1=0 dc-paris=0)" in out
    assert "killing aws-use1, where billing runs" in out
    for line in ("bind: applied", "lb: verified", "BIND answers 127.0.2.1", "HAProxy serves"):
        assert line in out, out
    assert "[after] billing  gtm: gcp-euw1 (epoch 2) | BIND answers 127.0.2.1 | " in out
    assert "HAProxy serves gcp-euw1 (aws-use1=0 gcp-euw1=100 dc-paris=0)" in out
    assert "[after] search   gtm: gcp-euw1 (epoch 1) | BIND answers 127.0.2.1" in out
    assert "scenario done: billing moved aws-use1 -> gcp-euw1" in out
    assert not (tmp_path / "work" / "bind" / "named.pid").exists()  # named stopped


def test_aws_example_moves_route53_and_alb(tmp_path: Path) -> None:
    out = run_example("aws", tmp_path / "work")
    assert "[created] billing  gtm: not started | Route 53 A: none | ALB weights: " in out
    assert (
        "[start] billing  gtm: aws-use1 (epoch 1) | Route 53 A: aws-use1=100(127.0.1.1) "
        "dc-paris=0(127.0.3.1) gcp-euw1=0(127.0.2.1) | ALB weights: aws-use1=100 dc-paris=0 "
        "gcp-euw1=0"
    ) in out
    for line in ("r53: applied", "alb: verified", "Route 53 weights gcp-euw1 100"):
        assert line in out, out
    assert "ALB forwards to gcp-euw1" in out
    assert (
        "[after] billing  gtm: gcp-euw1 (epoch 2) | Route 53 A: aws-use1=0(127.0.1.1) "
        "dc-paris=0(127.0.3.1) gcp-euw1=100(127.0.2.1) | ALB weights: aws-use1=0 dc-paris=0 "
        "gcp-euw1=100"
    ) in out
    assert "scenario done: billing moved aws-use1 -> gcp-euw1" in out


def test_consul_cluster_example_survives_a_leader_a_cut_vantage_and_a_site(
    tmp_path: Path,
) -> None:
    if find_consul() is None:
        pytest.skip("consul not installed (make consul installs it, as root with apt)")
    out = run_example("consul-cluster", tmp_path / "work")
    assert "[start] 3 Consul servers, 3 sites, 3 gtm instances;" in out
    assert "leads (term 2) after" in out
    assert "is back, as a follower" in out
    assert "[cut] gtm status: disagrees: " in out
    assert "the quorum says up (since " in out
    assert "billing stays on site-a: one vantage of three is no quorum" in out
    assert "[site] billing moved site-a -> " in out
    assert "[site] votes on billing@site-a/" in out
    assert "[done]" in out
