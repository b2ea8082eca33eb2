"""The cluster section's vantage settings: the quorum, when a disagreement shows, where
probes leave from."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from pathlib import Path

import pytest

from gtm.config import check_config, load_config

BASE = """
zone: gtm.example.test
sites: {a: {}}
services: {billing: {locators: [{site: a, address: 127.0.0.1, port: 8080}]}}
store: {type: consul, address: 127.0.0.1:8500}
"""


@pytest.mark.parametrize(
    ("section", "quorum"),
    [("{}", "majority"), ("{quorum: majority}", "majority"), ("{quorum: 2}", 2)],
)
def test_a_quorum_is_majority_by_default_or_a_number(
    write_config: Callable[[str], Path], section: str, quorum: object
) -> None:
    config = load_config(write_config(BASE + f"cluster: {section}\n"))
    assert config.cluster is not None
    assert config.cluster.quorum == quorum


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        pytest.param("{quorum: 0}", "cluster.quorum:", id="zero"),
        pytest.param("{quorum: most}", "cluster.quorum:", id="word"),
        pytest.param("{disagree_after: 0s}", "cluster.disagree_after:", id="disagree-now"),
        pytest.param("{probe_from: somewhere}", "cluster.probe_from:", id="not-an-address"),
    ],
)
def test_a_bad_vantage_setting_names_the_field(
    write_config: Callable[[str], Path], section: str, expected: str
) -> None:
    problems = check_config(write_config(BASE + f"cluster: {section}\n"))
    assert problems, section
    assert all(expected in problem for problem in problems), problems


def test_probes_leave_from_the_given_address(write_config: Callable[[str], Path]) -> None:
    config = load_config(
        write_config(BASE + "cluster: {probe_from: 127.0.0.2, disagree_after: 1m}\n")
    )
    assert config.cluster is not None
    assert config.cluster.probe_from == ipaddress.ip_address("127.0.0.2")
    assert config.cluster.disagree_after == 60.0
