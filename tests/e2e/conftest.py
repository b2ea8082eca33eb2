"""Fixtures that run a whole gtm against simulated sites: real processes, real sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gtm.config.loader import load_config
from gtm.demo.sites import SimulatedSite, SiteFleet
from gtm.runtime import Runtime
from testbed.ports import free_ports

from .support import SITES, TOKEN, config_doc, wait_published


@pytest.fixture
def ports() -> dict[str, int]:
    """Ports for two services, free on every site address, distinct."""
    return dict(zip(("billing", "search"), free_ports(2, *SITES.values()), strict=True))


@pytest.fixture
def fleet(ports: dict[str, int]) -> Iterator[SiteFleet]:
    """The three simulated sites, each a real process; stopped whatever happens."""
    sites = SiteFleet(
        {name: SimulatedSite(name, address, dict(ports)) for name, address in SITES.items()}
    )
    try:
        sites.start()
        yield sites
    finally:
        sites.stop()


@pytest.fixture
async def make_runtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[[dict[str, Any]], Runtime]]:
    """Build runtimes from config documents; every one is stopped at the end."""
    monkeypatch.setenv("GTM_TEST_TOKEN", TOKEN)
    made: list[Runtime] = []

    def make(doc: dict[str, Any]) -> Runtime:
        path = tmp_path / f"gtm-{len(made)}.yaml"
        path.write_text(yaml.safe_dump(doc))
        runtime = Runtime(load_config(path))
        made.append(runtime)
        return runtime

    try:
        yield make
    finally:
        for runtime in made:
            await runtime.stop()


@pytest.fixture
async def gtm(
    tmp_path: Path,
    ports: dict[str, int],
    fleet: SiteFleet,
    make_runtime: Callable[[dict[str, Any]], Runtime],
) -> AsyncIterator[Runtime]:
    """A started gtm in front of the fleet, with every service published."""
    runtime = make_runtime(config_doc(tmp_path, ports))
    await runtime.start()
    await wait_published(runtime)
    yield runtime
