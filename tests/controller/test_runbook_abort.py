"""An abort asked for while the executor saves progress is not lost."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from gtm.controller.runbook.runs import RunStore
from gtm.core.runbook import Run, RunKind, Step
from gtm.registry.registry import Registry
from gtm.registry.stores import MemoryStore
from healthchecks.clock import LoopClock


@pytest.fixture
async def runs() -> AsyncIterator[RunStore]:
    registry = await Registry.open(MemoryStore(), "gtm-paris")
    yield RunStore(registry, LoopClock())
    await registry.close()


def draining() -> Run:
    return Run(
        id="r-1",
        kind=RunKind.FAILOVER,
        service="billing",
        from_site="dc-paris",
        to_site="aws-use1",
        reason="maintenance",
        who="alice",
        created_at=100.0,
        owner="gtm-paris",
    ).begin(Step.DRAIN, 101.0)


async def test_a_progress_save_from_a_copy_older_than_the_abort_keeps_the_abort(
    runs: RunStore,
) -> None:
    executor_copy = await runs.save(draining())
    # The API's abort builds on the stored run; the executor still holds its older copy.
    await runs.save(dataclasses.replace(runs.get("r-1"), abort_requested=True))

    saved = await runs.save(executor_copy.note("drained 40 %"))

    assert saved.abort_requested
    stored = runs.get("r-1")
    assert stored.abort_requested
    assert stored.revision == 3
    assert stored.current is not None and stored.current.detail == "drained 40 %"


async def test_a_run_never_aborted_stays_so(runs: RunStore) -> None:
    first = await runs.save(draining())
    saved = await runs.save(first.note("drained 10 %"))

    assert not saved.abort_requested
