"""Runs are kept like the journal: the newest finished ones up to a cap, running ones always."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path

import pytest
from registry_faults import FaultyStore

from gtm.core.runbook import Run, RunKind, RunState
from gtm.errors import StoreUnavailable
from gtm.registry.registry import RUNS, Registry
from gtm.registry.retention import runs_to_prune
from gtm.registry.stores import MemoryStore, SqliteStore


def run(run_id: str, created_at: float, state: str = "done") -> Run:
    """A run as the runbook saves it (the registry reads its id, time and state)."""
    return Run(
        run_id,
        RunKind.FAILOVER,
        "billing",
        None,
        "site-b",
        "test",
        "alice",
        created_at,
        state=RunState(state),
        revision=1,
    )


@pytest.mark.parametrize(
    ("finished", "keep", "pruned"),
    [
        ([], 3, []),
        ([(1.0, "a"), (2.0, "b")], 3, []),
        ([(3.0, "c"), (1.0, "a"), (2.0, "b"), (4.0, "d")], 2, ["a", "b"]),
        ([(1.0, "b"), (1.0, "a")], 1, ["a"]),
        ([(1.0, "a")], 0, ["a"]),
    ],
)
def test_the_oldest_finished_runs_beyond_the_cap_are_pruned(
    finished: list[tuple[float, str]], keep: int, pruned: list[str]
) -> None:
    assert runs_to_prune(finished, keep) == pruned


async def test_a_registry_keeps_its_newest_finished_runs_and_every_running_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "gtm.db"
    store = SqliteStore(path)
    registry = await Registry.open(store, run_limit=3)
    try:
        await registry.save_run(run("oldest-still-running", 1.0, "running"))
        for t in range(2, 8):
            await registry.save_run(run(f"r{t}", float(t), "rolled-back" if t % 2 else "done"))
        kept = ["oldest-still-running", "r5", "r6", "r7"]

        assert [r.id for r in registry.runs()] == kept
        assert [e.key for e in await store.list(RUNS)] == [f"runs/{r}" for r in sorted(kept)]
    finally:
        await registry.close()

    reopened = await Registry.open(SqliteStore(path), run_limit=3)
    try:
        assert [r.id for r in reopened.runs()] == kept
    finally:
        await reopened.close()


async def test_a_run_that_finishes_counts_toward_the_cap(faulty: FaultyStore) -> None:
    registry = await Registry.open(faulty, run_limit=1)
    try:
        await registry.save_run(run("a", 1.0, "running"))
        await registry.save_run(run("b", 2.0))
        assert [r.id for r in registry.runs()] == ["a", "b"]

        await registry.save_run(dataclasses.replace(run("a", 1.0), revision=2))

        assert [r.id for r in registry.runs()] == ["b"]
        assert await faulty.get(RUNS + "a") is None
    finally:
        await registry.close()


async def test_a_failed_prune_keeps_the_save_and_is_retried(
    faulty: FaultyStore, caplog: pytest.LogCaptureFixture
) -> None:
    registry = await Registry.open(faulty, run_limit=1)
    try:
        await registry.save_run(run("a", 1.0))
        faulty.failing.add("delete")
        with caplog.at_level(logging.WARNING):
            saved = await registry.save_run(run("b", 2.0))

        assert saved.id == "b" and "pruning finished run a failed" in caplog.text
        assert [r.id for r in registry.runs()] == ["a", "b"]
        faulty.failing.clear()
        await registry.save_run(run("c", 3.0))
        assert [r.id for r in registry.runs()] == ["c"]
    finally:
        await registry.close()


async def test_a_pruned_run_does_not_come_back_from_an_older_listing() -> None:
    store = MemoryStore()
    registry = Registry(store, run_limit=1)
    try:
        await registry.save_run(run("a", 1.0))
        stale = await store.list(RUNS)
        await registry.save_run(run("b", 2.0))

        registry._apply_runs(1, stale)

        assert [r.id for r in registry.runs()] == ["b"]
    finally:
        await registry.close()


async def test_a_change_made_while_a_save_is_under_way_builds_on_that_save(
    faulty: FaultyStore,
) -> None:
    # A store that yields on every call, as one off the event loop does: the first save is
    # still in flight when the second task reads the run and changes it.
    registry = await Registry.open(faulty)
    try:
        await registry.save_run(run("a", 1.0, "running"))
        faulty.yielding = True
        step = asyncio.create_task(
            registry.save_run(dataclasses.replace(run("a", 1.0), revision=2))
        )
        await asyncio.sleep(0)

        seen = registry.run("a")
        assert seen is not None and seen.state is RunState.DONE  # the save under way
        abort = dataclasses.replace(seen, revision=3, abort_requested=True)
        await asyncio.gather(step, registry.save_run(abort))

        assert registry.run("a") == abort
        assert [r.revision for r in registry.runs()] == [3]
    finally:
        await registry.close()


async def test_a_failed_save_is_no_longer_shown(faulty: FaultyStore) -> None:
    registry = await Registry.open(faulty)
    try:
        first = await registry.save_run(run("a", 1.0, "running"))
        faulty.failing.add("cas")

        with pytest.raises(StoreUnavailable):
            await registry.save_run(dataclasses.replace(first, revision=2, state=RunState.DONE))

        assert registry.run("a") == first
    finally:
        await registry.close()
