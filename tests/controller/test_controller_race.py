"""The controller against another writer on its store: a lost race is decided again, and said.

Two registries share one SQLite file, as two gtm processes would. The controller's own
registry is told to look at the file only when it writes, so the other registry's write
is certain to land while the controller still holds the older mapping: the race happens
every run instead of once in a while.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from gtm.controller.controller import DECIDE_ATTEMPTS, Controller, ServicePlan
from gtm.core.health import HealthParams
from gtm.core.model import Mapping
from gtm.core.policy import LocatorSpec, ServicePolicy
from gtm.errors import ConflictError
from gtm.registry.registry import Registry
from gtm.registry.stores import SqliteStore

DEADLINE = 30.0
SITES = ("dc-paris", "aws-use1", "gcp-euw1")


def plan() -> ServicePlan:
    locators = tuple(
        LocatorSpec(id=f"billing@{site}/lb-1", site=site, address=f"127.0.{n}.1", port=8080)
        for n, site in enumerate(SITES, start=1)
    )
    return ServicePlan(
        policy=ServicePolicy(service="billing", sites=SITES, locators=locators),
        health=HealthParams(rise=1, fall=1),
    )


@pytest.fixture
async def registries(tmp_path: Path) -> AsyncIterator[tuple[Registry, Registry]]:
    """The controller's registry (``gtm-a``) and another writer's (``gtm-b``)."""
    path = tmp_path / "gtm.db"
    # An interval no test reaches: ``gtm-a`` reads the file when it writes, not before.
    own = SqliteStore(path, exclusive=True, watch_interval=3600.0)
    opened: list[Registry] = []
    try:
        opened.append(await Registry.open(own, "gtm-a"))
        opened.append(await Registry.open(SqliteStore(path), "gtm-b"))
        yield opened[0], opened[1]
    finally:
        for registry in reversed(opened):
            await registry.close()
        await own.close()


async def published(registry: Registry, wanted: Callable[[Mapping], bool]) -> Mapping:
    """The first mapping of billing ``registry`` hears of for which ``wanted`` holds."""
    heard: asyncio.Queue[Mapping] = asyncio.Queue()
    unsubscribe = registry.subscribe(heard.put_nowait)
    try:
        current = registry.get("billing")
        async with asyncio.timeout(DEADLINE):
            while current is None or not wanted(current):
                current = await heard.get()
        return current
    finally:
        unsubscribe()


async def test_a_controller_that_loses_a_race_decides_again_and_logs_it(
    registries: tuple[Registry, Registry], caplog: pytest.LogCaptureFixture
) -> None:
    own, other = registries
    controller = Controller({"billing": plan()}, own, writer="gtm-a")
    await controller.start()
    try:
        for site in SITES:
            controller.observe(f"billing@{site}/lb-1", True, "ok", 1.0)
        first = await published(own, lambda m: m.active_site == "dc-paris")
        await published(other, lambda m: m.version == first.version)

        # The other writer stores the next version; ``own`` has not read it yet.
        theirs = await other.put(
            dataclasses.replace(
                first, version=first.version + 1, reason="set by gtm-b", written_by=""
            )
        )
        assert own.get("billing") == first
        caplog.set_level(logging.INFO, logger="gtm.controller.controller")
        controller.observe("billing@dc-paris/lb-1", False, "connection refused", 2.0)

        moved = await published(own, lambda m: m.active_site == "aws-use1")
    finally:
        await controller.stop()

    assert (moved.version, moved.epoch, moved.written_by) == (theirs.version + 1, 2, "gtm-a")
    lost = [r.getMessage() for r in caplog.records if "lost a race" in r.getMessage()]
    assert lost == [
        f"billing: lost a race (attempt 1 of 3): built on version {first.version}, found"
        f" version {theirs.version} written by gtm-b; deciding again"
    ]
    assert (await published(other, lambda m: m.version == moved.version)) == moved


async def test_a_service_that_loses_every_race_is_decided_again_at_the_next_tick(
    registries: tuple[Registry, Registry],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    own, _ = registries
    controller = Controller({"billing": plan()}, own, writer="gtm-a")
    await controller.start()
    try:
        for site in SITES:
            controller.observe(f"billing@{site}/lb-1", True, "ok", 1.0)
        await published(own, lambda m: m.active_site == "dc-paris")
        # Another writer wins every attempt of one wake-up (a fault a real store does not
        # produce on demand, so the registry's put is told to lose three times).
        put = own.put
        losses = 0

        async def losing_put(mapping: Mapping, *args: object, **kwargs: object) -> Mapping:
            nonlocal losses
            if losses < DECIDE_ATTEMPTS:
                losses += 1
                raise ConflictError(f"registry: billing changed under us ({losses})")
            return await put(mapping, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(own, "put", losing_put)
        caplog.set_level(logging.INFO, logger="gtm.controller.controller")
        controller.observe("billing@dc-paris/lb-1", False, "connection refused", 2.0)
        async with asyncio.timeout(DEADLINE):
            while not any("at the next tick" in r.getMessage() for r in caplog.records):
                await asyncio.sleep(0.01)
        assert own.get("billing").active_site == "dc-paris"  # type: ignore[union-attr]

        # No verdict changes again: the tick alone must take traffic off the dead site.
        controller.tick()
        moved = await published(own, lambda m: m.active_site == "aws-use1")
    finally:
        await controller.stop()
    assert moved.written_by == "gtm-a"
