"""Fixtures for the registry tests: every store kind, fresh per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from consul_cluster import consul_cluster, consul_store, fresh_prefix
from registry_faults import FaultyStore

from gtm.registry.registry import Registry
from gtm.registry.store import Store
from gtm.registry.stores import MemoryStore, SqliteStore

__all__ = ["consul_cluster"]


@pytest.fixture(params=["memory", "sqlite", "consul"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """An empty store of each kind (Consul: a prefix of its own on the shared cluster)."""
    opened: Store
    if request.param == "memory":
        opened = MemoryStore()
    elif request.param == "sqlite":
        opened = SqliteStore(tmp_path / "gtm.db")
    else:
        opened = consul_store(request.getfixturevalue("consul_cluster"), fresh_prefix())
    yield opened
    await opened.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where a test's SQLite store lives, so it can be closed and reopened."""
    return tmp_path / "state" / "gtm.db"


@pytest.fixture
def faulty() -> FaultyStore:
    """A memory store the test can make fail."""
    return FaultyStore(MemoryStore())


@pytest.fixture
async def registry(faulty: FaultyStore) -> AsyncIterator[Registry]:
    """A registry over ``faulty``, with no fault switched on."""
    opened = await Registry.open(faulty, "gtm-test")
    yield opened
    await opened.close()
