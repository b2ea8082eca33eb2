"""Fixtures for the API tests: real servers on 127.0.0.1 over a fake registry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from api_harness import NOW, SERVICES, SITES, TOKENS, Api, ApiFactory, FakeRegistry, billing, search

from gtm.api.app import ApiDeps, make_app
from gtm.api.server import ApiServer, start_api
from gtm.config.limits import ApiLimits


@pytest.fixture
def registry() -> FakeRegistry:
    fake = FakeRegistry()
    fake.publish(billing())
    fake.publish(search())
    return fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def start(registry: FakeRegistry, http: aiohttp.ClientSession) -> AsyncIterator[ApiFactory]:
    """Start API servers on 127.0.0.1 with ``ApiDeps`` overrides; all are closed after."""
    servers: list[ApiServer] = []

    async def start_one(
        shutdown_timeout: float = 5.0, limits: ApiLimits | None = None, **overrides: Any
    ) -> Api:
        fields: dict[str, Any] = {
            "registry": registry,
            "services": SERVICES,
            "sites": SITES,
            "tokens": TOKENS,
            "status": None,
            "clock": lambda: NOW,
        }
        fields.update(overrides)
        app = make_app(ApiDeps(**fields))
        server = await start_api(
            app, "127.0.0.1", 0, shutdown_timeout=shutdown_timeout, limits=limits
        )
        servers.append(server)
        return Api(f"http://127.0.0.1:{server.port}", registry, http, server)

    try:
        yield start_one
    finally:
        for server in servers:
            await server.close()


@pytest.fixture
async def api(start: ApiFactory) -> Api:
    return await start()
