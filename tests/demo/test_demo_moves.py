"""The interactive demo prints one line per move: time, service, from → to, and why."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from demo_process import DemoConfig, DemoProcess

from gtm.config.loader import load_config
from gtm.config.models import SqliteStoreConfig
from gtm.core.model import Locator, Mapping, State
from gtm.demo.moves import MoveLog, move_line
from gtm.demo.scenario import fresh_store
from gtm.registry.registry import Registry
from gtm.registry.stores import MemoryStore

SITES = ("aws-use1", "gcp-euw1", "dc-paris")
LINE = r"^\d\d:\d\d:\d\d  {service} +{source} → {target}  \((?P<reason>.+)\)$"


def mapping(service: str, version: int, epoch: int, active: str | None, reason: str) -> Mapping:
    """A mapping of ``service`` over the three sites, active in ``active``."""
    locators = tuple(
        Locator(f"{service}@{site}", site, f"127.0.{n}.1", 8080, n, 100, State.UP)
        for n, site in enumerate(SITES, 1)
    )
    return Mapping(
        service, version, epoch, 30, active, locators, reason=reason, updated_at=time.time()
    )


def test_a_move_line_says_when_what_from_where_to_where_and_why() -> None:
    moved = mapping("billing", 2, 2, "gcp-euw1", "aws-use1 is down (0/1 locators up, min 1)")
    moved = dataclasses.replace(moved, updated_at=_today_at(10, 31, 2))
    assert move_line("aws-use1", moved) == (
        "10:31:02  billing  aws-use1 → gcp-euw1  (aws-use1 is down (0/1 locators up, min 1))"
    )
    assert move_line("aws-use1", moved, width=9).startswith("10:31:02  billing    aws-use1")


def test_a_service_with_no_site_left_moves_to_none() -> None:
    closed = mapping("auth", 3, 3, None, "all sites down")
    assert move_line("dc-paris", closed).endswith("  auth  dc-paris → none  (all sites down)")


@pytest.fixture
async def registry() -> AsyncIterator[Registry]:
    opened = await Registry.open(MemoryStore(), "demo-test")
    try:
        yield opened
    finally:
        await opened.close()


async def test_the_log_hears_each_move_once_and_nothing_else(registry: Registry) -> None:
    await registry.put(mapping("billing", 1, 1, "aws-use1", "first placement"))
    lines: list[str] = []
    with MoveLog(registry, lines.append):
        await registry.put(mapping("billing", 2, 1, "aws-use1", "a weight changed"))
        await registry.put(mapping("search", 1, 1, "gcp-euw1", "a new service"))
        await registry.put(mapping("billing", 3, 2, "gcp-euw1", "aws-use1 is down"))
        await registry.put(mapping("search", 2, 2, "dc-paris", "gcp-euw1 is down"))
    await registry.put(mapping("billing", 4, 3, "dc-paris", "after the log closed"))
    assert [line[8:] for line in lines] == [
        "  billing  aws-use1 → gcp-euw1  (aws-use1 is down)",
        "  search   gcp-euw1 → dc-paris  (gcp-euw1 is down)",
    ]


def test_the_demo_registry_is_a_fresh_sqlite_file(tmp_path: Path, demo_config: DemoConfig) -> None:
    config = load_config(demo_config.path)
    fresh = fresh_store(config, tmp_path / "run")
    assert fresh.store == SqliteStoreConfig(path=str(tmp_path / "run" / "demo.db"))
    assert fresh.services == config.services
    assert config.store == SqliteStoreConfig(path=str(demo_config.store))


def test_the_running_demo_prints_a_line_when_a_killed_site_loses_its_services(
    demo_config: DemoConfig, start_demo: Callable[[DemoConfig], DemoProcess]
) -> None:
    demo = start_demo(demo_config)
    demo.wait_serving()
    demo.wait_for(r"^Press Ctrl-C to stop")
    registry = Path(demo.wait_for(r"^  registry  (\S+) ")[1])
    assert registry.parent.is_dir()

    os.kill(demo.site_pid("aws-use1"), signal.SIGKILL)

    for service in ("billing", "auth"):  # search prefers gcp-euw1 and stays
        found = demo.wait_for(LINE.format(service=service, source="aws-use1", target="gcp-euw1"))
        assert found["reason"].startswith("aws-use1 is down"), found[0]
    assert "  search " not in demo.output().partition("Moves:")[2]
    assert demo.stop() == 0, demo.output()
    assert not registry.parent.exists(), "the demo's registry outlived it"


def _today_at(hour: int, minute: int, second: int) -> float:
    now = time.localtime()
    return time.mktime((now.tm_year, now.tm_mon, now.tm_mday, hour, minute, second, 0, 0, -1))
