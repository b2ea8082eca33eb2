"""Opening stores by their short name, as configuration names them."""

from __future__ import annotations

from pathlib import Path

import pytest

from gtm.errors import ConfigError
from gtm.registry.stores import MemoryStore, SqliteStore, open_store


async def test_memory_by_name() -> None:
    store = open_store("memory")

    assert isinstance(store, MemoryStore)


async def test_sqlite_by_name_with_its_path(db_path: Path) -> None:
    store = open_store("sqlite", path=str(db_path))
    try:
        assert isinstance(store, SqliteStore)
        assert store.path == db_path
    finally:
        await store.close()


def test_an_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"'etcd'.*memory, sqlite"):
        open_store("etcd")


def test_sqlite_without_a_path_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="sqlite needs option 'path'"):
        open_store("sqlite")


def test_a_path_that_is_not_a_path_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="42"):
        open_store("sqlite", path=42)


def test_every_unexpected_option_is_reported() -> None:
    with pytest.raises(ConfigError) as raised:
        open_store("memory", path="x", size=3)

    assert raised.value.problems == [
        "store: memory takes no option 'path'",
        "store: memory takes no option 'size'",
    ]
