"""Fixtures for the cluster tests: a real three-server Consul cluster with ACLs on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from consul_stores import start_cluster

from testbed.consul import ConsulCluster


@pytest.fixture(scope="module")
def consul_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsulCluster]:
    """A cluster for the module's tests; a test that breaks it must bring it back."""
    cluster = start_cluster(Path(tmp_path_factory.mktemp("consul")))
    try:
        yield cluster
    finally:
        cluster.stop()
