"""Fixtures for the CLI tests: a live gtm API, and ``gtm`` commands as child processes that
are stopped by PID whatever happens."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cli_harness import Command, LiveGtm

from testbed.ports import free_port


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[LiveGtm]:
    gtm = LiveGtm(tmp_path / "gtm.db", free_port("127.0.0.1"))
    await gtm.start()
    await gtm.move("billing", "aws-use1", "aws-use1 is healthy and active")
    await gtm.move("search", "dc-paris", "dc-paris is healthy and active")
    try:
        yield gtm
    finally:
        await gtm.stop()


@pytest.fixture
async def gtm_command() -> AsyncIterator[Any]:
    """Start ``gtm ARGS`` as a child process; every one still running is killed by PID."""
    started: list[Command] = []

    async def run(*args: str) -> Command:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gtm",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TZ": "UTC"},
        )
        command = Command(process)
        started.append(command)
        return command

    try:
        yield run
    finally:
        for command in started:
            if command.process.returncode is None:
                command.process.kill()
                await command.process.wait()
