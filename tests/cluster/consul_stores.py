"""The cluster tests' Consul helpers: a three-server cluster with ACLs on, fresh prefixes, stores.

Kept out of ``conftest.py`` so tests import them by a name no other test folder uses.
"""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path

import pytest

from gtm.registry.stores.consul import ConsulStore
from testbed.consul import ConsulCluster, find_consul

_prefixes = itertools.count(1)


def start_cluster(workdir: Path) -> ConsulCluster:
    """Three Consul servers with ACLs on (default deny); skips when consul is missing."""
    if find_consul() is None:
        pytest.skip("consul not installed (make consul installs it, as root with apt)")
    cluster = ConsulCluster(workdir, token=str(uuid.uuid4()))
    cluster.start()
    return cluster


def fresh_prefix() -> str:
    """A prefix no other test of the session uses."""
    return f"gtm-cluster/{next(_prefixes)}-{uuid.uuid4().hex[:6]}/"


def store_on(cluster: ConsulCluster, prefix: str, server: int = 0) -> ConsulStore:
    """A shared (not exclusive) store on ``prefix`` through the ``server``-th agent."""
    return ConsulStore(cluster.servers[server].http_address, prefix, token=cluster.token)
