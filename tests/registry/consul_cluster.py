"""The Consul cluster the registry tests share (ACLs on), and a fresh prefix on it per store."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gtm.registry.stores.consul import ConsulStore
from testbed.consul import ConsulCluster, find_consul

_prefixes = itertools.count(1)


@pytest.fixture(scope="session")
def consul_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsulCluster]:
    """Three real Consul servers for the session; skips when consul is not installed."""
    if find_consul() is None:
        pytest.skip("consul not installed (make consul installs it, as root with apt)")
    # ACLs on, default deny: every store call must carry the token to work at all.
    cluster = ConsulCluster(Path(tmp_path_factory.mktemp("consul")), token=str(uuid.uuid4()))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def fresh_prefix() -> str:
    """A prefix no other store of the session uses, so each test starts empty."""
    return f"gtm-test/{next(_prefixes)}/"


def consul_store(
    cluster: ConsulCluster, prefix: str, server: int = 0, **kwargs: bool
) -> ConsulStore:
    """A store on ``prefix`` through the HTTP API of the cluster's ``server``-th agent."""
    return ConsulStore(cluster.servers[server].http_address, prefix, token=cluster.token, **kwargs)
