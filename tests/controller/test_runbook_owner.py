"""Starting runbooks rolls back the unfinished runs this instance owns, and no one else's."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from gtm.controller.controller import Controller, ServicePlan
from gtm.controller.reconciler import Reconciler
from gtm.controller.runbook.runbooks import Runbooks
from gtm.core.health import HealthParams
from gtm.core.model import Locator, Mapping, State
from gtm.core.policy import LocatorSpec, ServicePolicy
from gtm.core.runbook import Run, RunKind, RunState, Step
from gtm.registry.registry import Registry
from gtm.registry.stores import MemoryStore

SITES = ("dc-paris", "aws-use1")


def plan() -> ServicePlan:
    locators = tuple(
        LocatorSpec(id=f"billing@{site}/lb-1", site=site, address="127.0.1.1", port=8080)
        for site in SITES
    )
    return ServicePlan(
        policy=ServicePolicy(service="billing", sites=SITES, locators=locators),
        health=HealthParams(rise=1, fall=1),
    )


def on_paris(service: str) -> Mapping:
    return Mapping(
        service=service,
        version=1,
        epoch=1,
        ttl=5,
        active_site="dc-paris",
        locators=(
            Locator(
                id=f"{service}@dc-paris/lb-1",
                site="dc-paris",
                address="127.0.1.1",
                port=8080,
                priority=1,
                state=State.UP,
            ),
        ),
    )


def interrupted(run_id: str, service: str, owner: str) -> Run:
    """A run of ``service`` from dc-paris that stopped in its switch step."""
    return Run(
        id=run_id,
        kind=RunKind.FAILOVER,
        service=service,
        from_site="dc-paris",
        to_site="aws-use1",
        reason="maintenance",
        who="alice",
        created_at=100.0,
        owner=owner,
    ).begin(Step.SWITCH, 101.0)


@pytest.fixture
async def registry() -> AsyncIterator[Registry]:
    opened = await Registry.open(MemoryStore(), "gtm-paris")
    yield opened
    await opened.close()


async def test_only_the_owners_runs_are_rolled_back(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    await registry.put(on_paris("billing"))
    own = interrupted("r-own", "billing", "gtm-paris")
    theirs = interrupted("r-theirs", "billing", "gtm-virginia")
    legacy = interrupted("r-legacy", "billing", "")  # as stored before runs named owners
    for run in (own, theirs, legacy):
        await registry.save_run(run)
    controller = Controller({"billing": plan()}, registry)
    runbooks = Runbooks(registry, controller, Reconciler([], registry), _no_probe)
    caplog.set_level(logging.INFO, logger="gtm.controller.runbook")

    await runbooks.start()
    try:
        rolled = [
            await runbooks.finished(runbooks.get(run_id), timeout=30.0)
            for run_id in ("r-own", "r-legacy")
        ]
    finally:
        await runbooks.stop()

    assert [run.state for run in rolled] == [RunState.ROLLED_BACK, RunState.ROLLED_BACK]
    assert all("gtm restarted during switch" in run.outcome for run in rolled)
    assert runbooks.get("r-theirs") == theirs
    assert (
        "runbook: run r-theirs of billing is owned by gtm-virginia, not gtm-paris;"
        " left to its owner"
    ) in caplog.messages


async def _no_probe(locator_id: str) -> tuple[bool, str]:
    raise AssertionError(f"no run here probes ({locator_id})")
