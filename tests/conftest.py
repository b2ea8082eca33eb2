"""What every test directory shares: the project's own packages on the import path, and
``gtm demo`` started on ports the test chose."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# pytest puts tests/ on the import path (for the e2e package and this file), where the
# directory tests/healthchecks would pass for the healthchecks package whenever the
# project is installed by an import hook rather than a path (pip's editable installs):
# `import healthchecks` must find the project's package, so its root comes first.
ROOT = Path(__file__).resolve().parent.parent
if sys.path[:1] != [str(ROOT)]:
    sys.path.insert(0, str(ROOT))

from demo_process import (  # noqa: E402
    DemoConfig,
    DemoProcess,
    start_demo_process,
    write_demo_config,
)
from virtual_time import RunVirtual  # noqa: E402
from virtual_time import run_virtual as _run_virtual  # noqa: E402


@pytest.fixture
def run_virtual() -> RunVirtual:
    """Run a coroutine to completion on a fresh virtual-time loop (tests/virtual_time.py)."""
    return _run_virtual


@pytest.fixture
def demo_config(tmp_path: Path) -> DemoConfig:
    """The demo config on free ports (DNS and API on port 0), its store under tmp_path."""
    return write_demo_config(tmp_path)


@pytest.fixture
def start_demo(tmp_path: Path) -> Iterator[Callable[[DemoConfig], DemoProcess]]:
    """Start ``gtm demo -c CONFIG`` (interactive) from the repository root, as a reader
    would; every demo started is stopped by pid at the end, whatever happened."""
    started: list[DemoProcess] = []

    def start(config: DemoConfig) -> DemoProcess:
        demo = start_demo_process(config, tmp_path)
        started.append(demo)
        return demo

    try:
        yield start
    finally:
        for demo in started:
            demo.stop()
