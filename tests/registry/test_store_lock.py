"""One running gtm per SQLite file: an exclusive open claims it, and gives it up on close."""

from __future__ import annotations

import asyncio
import fcntl
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from gtm.config.models import Config, MemoryStoreConfig
from gtm.controller.plans import store_for
from gtm.errors import StoreInUse, StoreUnavailable
from gtm.registry.store import Entry
from gtm.registry.stores import MemoryStore, SqliteStore

HOLDER = f"pid {os.getpid()} on host {socket.gethostname()}"


@pytest.fixture
async def opened() -> AsyncIterator[Callable[..., SqliteStore]]:
    """Open SQLite stores; every one is closed at the end, whatever happens."""
    stores: list[SqliteStore] = []

    def open_store(path: Path, *, exclusive: bool = False) -> SqliteStore:
        store = SqliteStore(path, exclusive=exclusive)
        stores.append(store)
        return store

    yield open_store
    for store in stores:
        await store.close()


def config(path: Path) -> Config:
    return Config.model_validate(
        {
            "zone": "gtm.example.test.",
            "store": {"type": "sqlite", "path": str(path)},
            "sites": {"a": {}},
            "services": {"s": {"locators": [{"site": "a", "address": "127.0.0.1", "port": 1}]}},
        }
    )


def test_a_second_exclusive_open_is_refused_naming_the_file_and_the_holder(
    db_path: Path, opened: Callable[..., SqliteStore]
) -> None:
    first = opened(db_path, exclusive=True)

    with pytest.raises(StoreInUse) as caught:
        opened(db_path, exclusive=True)

    assert first.exclusive
    assert str(caught.value) == f"sqlite store {db_path} is in use by another gtm ({HOLDER})"
    assert (caught.value.path, caught.value.holder) == (str(db_path), HOLDER)
    assert isinstance(caught.value, StoreUnavailable)


async def test_close_gives_the_file_up_so_a_restart_in_the_same_process_claims_it(
    db_path: Path, opened: Callable[..., SqliteStore]
) -> None:
    first = opened(db_path, exclusive=True)
    await first.cas("k", b"v", 0)
    await first.close()

    second = opened(db_path, exclusive=True)

    assert second.exclusive
    assert await second.get("k") == Entry("k", b"v", 1)


async def test_an_open_without_the_claim_works_beside_the_holder_and_sees_its_writes(
    db_path: Path, opened: Callable[..., SqliteStore]
) -> None:
    running = opened(db_path, exclusive=True)
    planner = opened(db_path)

    await running.cas("mappings/billing", b"{}", 0)

    assert not planner.exclusive
    assert await planner.get("mappings/billing") == Entry("mappings/billing", b"{}", 1)
    with pytest.raises(StoreInUse):
        opened(db_path, exclusive=True)


def test_the_lock_file_names_the_holder_while_held(
    db_path: Path, opened: Callable[..., SqliteStore]
) -> None:
    store = opened(db_path, exclusive=True)

    assert store.lock_path == db_path.with_name("gtm.db.lock")
    text = store.lock_path.read_text()
    assert f'"pid": {os.getpid()}' in text and socket.gethostname() in text


def test_a_holder_that_wrote_nothing_is_reported_as_unknown(
    db_path: Path, opened: Callable[..., SqliteStore]
) -> None:
    db_path.parent.mkdir(parents=True)
    lock = os.open(db_path.with_name("gtm.db.lock"), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(StoreInUse, match=r"in use by another gtm \(process unknown\)$"):
            opened(db_path, exclusive=True)
    finally:
        os.close(lock)

    assert opened(db_path, exclusive=True).exclusive


async def test_an_open_that_fails_after_the_claim_gives_it_up(tmp_path: Path) -> None:
    not_a_database = tmp_path / "gtm.db"
    not_a_database.write_bytes(b"this is not an SQLite file" * 100)

    with pytest.raises(StoreUnavailable, match="open failed"):
        SqliteStore(not_a_database, exclusive=True)

    not_a_database.unlink()
    store = SqliteStore(not_a_database, exclusive=True)
    await store.close()


async def test_a_holder_that_dies_leaves_no_claim_behind(
    db_path: Path, opened: Callable[..., SqliteStore]
) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from gtm.registry.stores import SqliteStore\n"
            "SqliteStore(sys.argv[1], exclusive=True)\n"
            "print('claimed', flush=True)\n"
            "time.sleep(60)\n",
            str(db_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert await asyncio.to_thread(holder.stdout.readline) == "claimed\n"
        with pytest.raises(StoreInUse, match=rf"\(pid {holder.pid} on host "):
            opened(db_path, exclusive=True)
    finally:
        holder.kill()  # no chance to close anything: the system drops the lock
        holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()

    assert opened(db_path, exclusive=True).exclusive


async def test_store_for_a_running_gtm_says_which_config_field_to_change(db_path: Path) -> None:
    first = store_for(config(db_path), exclusive=True)
    try:
        with pytest.raises(StoreInUse) as caught:
            store_for(config(db_path), exclusive=True)
        beside = store_for(config(db_path))
        await beside.close()
    finally:
        await first.close()

    assert str(caught.value) == (
        f"store {db_path} is in use by another gtm ({HOLDER}); stop it or point store.path "
        "at another file"
    )


async def test_a_memory_store_needs_no_claim(db_path: Path) -> None:
    memory = config(db_path).model_copy(update={"store": MemoryStoreConfig(type="memory")})
    first, second = store_for(memory, exclusive=True), store_for(memory, exclusive=True)

    assert isinstance(first, MemoryStore) and isinstance(second, MemoryStore)
    assert not db_path.exists()
