"""Test support for the CLI: a real gtm API over a real registry, stoppable and restartable,
and ``gtm`` commands run as child processes, read line by line.

Kept out of ``conftest.py`` under a name of its own, so test modules can import it without
colliding with the conftest modules of other test directories.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gtm.api.app import ApiDeps, make_app
from gtm.api.server import ApiServer, start_api
from gtm.core.model import Event, Locator, Mapping, State
from gtm.core.runbook import Run
from gtm.registry.registry import Registry
from gtm.registry.stores import SqliteStore

SERVICES = ("billing", "search")
SITES = ("aws-use1", "dc-paris", "gcp-euw1")
DEADLINE = 30.0
"""Generous seconds for anything a test waits for."""


def mapping(service: str, version: int, site: str, reason: str, **changes: Any) -> Mapping:
    """A mapping of ``service`` active in ``site``, one locator per site."""
    locators = tuple(
        Locator(
            f"{service}@{name}/lb-1",
            name,
            f"127.0.{n + 1}.1",
            8443,
            1 if name == site else n + 2,
            100,
            State.UP,
        )
        for n, name in enumerate(SITES)
    )
    return replace(Mapping(service, version, 1, 30, site, locators, reason=reason), **changes)


@dataclass
class LiveGtm:
    """A gtm API on a fixed port over an SQLite registry that outlives restarts."""

    db: Path
    port: int
    registry: Registry | None = None
    server: ApiServer | None = None
    versions: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, *, serve: bool = True) -> None:
        """Open the registry and, unless told not to, serve the API."""
        self.registry = await Registry.open(SqliteStore(self.db), "gtm-test")
        if serve:
            await self.serve()

    async def serve(self) -> None:
        """Serve the API over the open registry."""
        assert self.registry is not None
        app = make_app(ApiDeps(self.registry, SERVICES, SITES, {}))
        self.server = await start_api(app, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()
            self.server = None
        if self.registry is not None:
            await self.registry.close()
            self.registry = None

    async def move(self, service: str, site: str, reason: str) -> Mapping:
        """Publish the next version of ``service`` with traffic in ``site``."""
        assert self.registry is not None
        current = self.registry.get(service)
        version = 1 if current is None else current.version + 1
        epoch = 1 if current is None else current.epoch + (current.active_site != site)
        return await self.registry.put(mapping(service, version, site, reason, epoch=epoch))

    async def record(self, event: Event) -> Event:
        assert self.registry is not None
        return await self.registry.record(event)

    async def save_run(self, run: Run) -> Run:
        """Store ``run`` one revision on from what it was."""
        assert self.registry is not None
        return await self.registry.save_run(replace(run, revision=run.revision + 1))


class Command:
    """A ``gtm`` command running as a child process, read line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.seen: list[str] = []
        self.errors: list[str] = []

    async def line(self, *, stderr: bool = False) -> str:
        """The next line it prints (on stderr when asked); fails at the deadline."""
        stream = self.process.stderr if stderr else self.process.stdout
        assert stream is not None
        async with asyncio.timeout(DEADLINE):
            raw = await stream.readline()
        if not raw:
            raise AssertionError(f"gtm exited; it printed {self.seen!r}")
        text = raw.decode().rstrip("\n")
        (self.errors if stderr else self.seen).append(text)
        return text

    async def until_all(self, *parts: str) -> None:
        """Read stdout until each of ``parts`` was in some line printed from now on."""
        missing = set(parts)
        while missing:
            text = await self.line()
            missing = {part for part in missing if part not in text}

    async def until(self, *parts: str, stderr: bool = False) -> str:
        """The first line from now on that holds every one of ``parts``."""
        while True:
            text = await self.line(stderr=stderr)
            if all(part in text for part in parts):
                return text

    async def finish(self) -> tuple[int, str, str]:
        """Its exit code and the rest of what it printed, once it ends by itself."""
        async with asyncio.timeout(DEADLINE):
            out, err = await self.process.communicate()
        assert self.process.returncode is not None
        return self.process.returncode, out.decode(), err.decode()
