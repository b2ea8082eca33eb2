"""A lost site is swept: one locator going down has the site's other checks probed now.

``search`` is probed once an hour here, so without the sweep its locator at the killed
site would not be probed again within the test; with it, the locator is judged down as
soon as ``billing``'s is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gtm.core.health import Verdict
from gtm.demo.sites import SiteFleet
from gtm.runtime import Runtime

from .support import config_doc

LOST = "aws-use1"


async def until_down(runtime: Runtime, locator: str, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while runtime.controller.health(locator).verdict is not Verdict.DOWN:
        assert asyncio.get_running_loop().time() < deadline, runtime.controller.health(locator)
        await asyncio.sleep(0.02)


async def test_a_locator_going_down_sweeps_its_site(
    tmp_path: Path,
    ports: dict[str, int],
    fleet: SiteFleet,
    make_runtime: Callable[[dict[str, Any]], Runtime],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="gtm.runtime")
    doc = config_doc(tmp_path, ports, store="memory")
    search = doc["services"]["search"]
    search["check"] = {**search["check"], "interval": "1h"}
    runtime = make_runtime(doc)
    await runtime.start()
    billing, lost = (
        next(
            locator.id_in(name)
            for locator in runtime.config.services[name].locators
            if locator.site == LOST
        )
        for name in ("billing", "search")
    )
    await asyncio.sleep(1.0)  # billing's locators come up; search's are not probed yet
    fleet[LOST].kill()
    await until_down(runtime, billing)
    await until_down(runtime, lost)
    swept = [r.getMessage() for r in caplog.records if "probing its" in r.getMessage()]
    assert swept == [f"a locator at {LOST} went down: probing its 2 check(s) now"]
