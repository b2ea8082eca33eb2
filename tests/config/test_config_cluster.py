"""The cluster section: a shared Consul store required, timings that leave room to act."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gtm.config import check_config, load_config

BASE = """
zone: gtm.example.test
sites: {a: {}}
services: {billing: {locators: [{site: a, address: 127.0.0.1, port: 8080}]}}
"""
CONSUL = "store: {type: consul, address: 127.0.0.1:8500}\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "cluster: {}\n",
            "cluster: needs a shared store, and store.type is 'sqlite'; set store: {type:"
            " consul, address: HOST:PORT} on every instance, or remove the cluster section",
            id="no-shared-store",
        ),
        pytest.param(
            CONSUL + "cluster: {pass_interval: 1500ms}\n",
            "cluster.pass_interval: is 1.5s, more than half of check_ttl (2s); set it to at"
            " most 1s or raise check_ttl",
            id="pass-interval",
        ),
        pytest.param(
            CONSUL + "cluster: {check_ttl: 4s, confirm_interval: 3s}\n",
            "cluster.confirm_interval: is 3s, more than half of check_ttl (4s)",
            id="confirm-interval",
        ),
        pytest.param(
            CONSUL + "cluster: {margin: 2s}\n",
            "cluster.margin: is 2s, which leaves the leader no time to act",
            id="margin",
        ),
        pytest.param(
            CONSUL + "cluster: {check_ttl: 500ms}\n",
            "cluster.check_ttl: 0.5 is out of range; expected 1.0..60.0",
            id="ttl-too-short",
        ),
        pytest.param(
            CONSUL + "cluster: {advertise: somewhere}\n",
            "cluster.advertise:",
            id="advertise-without-port",
        ),
        pytest.param(CONSUL + "cluster: {quorom: 2}\n", "cluster.quorom: unknown key", id="typo"),
    ],
)
def test_a_bad_cluster_section_is_one_line_naming_the_field(
    write_config: Callable[[str], Path], text: str, expected: str
) -> None:
    problems = check_config(write_config(BASE + text))
    assert len(problems) == 1, problems
    assert expected in problems[0]
    assert "\n" not in problems[0]


def test_a_cluster_section_with_a_consul_store_loads_with_its_defaults(
    write_config: Callable[[str], Path],
) -> None:
    config = load_config(
        write_config(BASE + CONSUL + "instance: site-a\ncluster: {advertise: 10.0.0.1:8080}\n")
    )
    assert config.cluster is not None
    assert config.instance == "site-a"
    assert config.cluster.advertise == "10.0.0.1:8080"
    assert (config.cluster.check_ttl, config.cluster.pass_interval) == (2.0, 0.5)
    assert (config.cluster.lock_delay, config.cluster.margin) == (1.0, 0.25)
    assert load_config(write_config(BASE)).cluster is None
