"""Opening the store a config section describes."""

from __future__ import annotations

from pathlib import Path

import pytest

from gtm.config.stores import MemoryStoreConfig, SqliteStoreConfig
from gtm.errors import StoreInUse
from gtm.registry.stores import MemoryStore, SqliteStore, open_store


async def test_memory_section_opens_a_memory_store_exclusive_or_not() -> None:
    for exclusive in (False, True):
        store = open_store(MemoryStoreConfig(type="memory"), exclusive=exclusive)
        try:
            assert isinstance(store, MemoryStore)
        finally:
            await store.close()


async def test_sqlite_section_opens_its_file(db_path: Path) -> None:
    store = open_store(SqliteStoreConfig(path=str(db_path)))
    try:
        assert isinstance(store, SqliteStore)
        assert store.path == db_path
    finally:
        await store.close()


async def test_an_exclusive_sqlite_store_refuses_a_second_claim(db_path: Path) -> None:
    section = SqliteStoreConfig(path=str(db_path))
    first = open_store(section, exclusive=True)
    try:
        with pytest.raises(StoreInUse) as refused:
            open_store(section, exclusive=True)
        assert refused.value.path == str(db_path)
        beside = open_store(section)
        await beside.close()
    finally:
        await first.close()
