"""Server: binding, the bound port, and closing."""

from __future__ import annotations

import aiohttp
import pytest
from api_harness import Api

from gtm.api.app import ApiDeps, make_app
from gtm.api.server import start_api
from gtm.errors import ConfigError


async def test_port_zero_reports_the_bound_port(api: Api) -> None:
    assert api.server.port > 0
    async with api.http.get(f"http://127.0.0.1:{api.server.port}/healthz") as resp:
        assert resp.status == 200


async def test_a_port_in_use_is_a_config_error_naming_it(api: Api) -> None:
    app = make_app(ApiDeps(api.registry, (), (), {}))
    with pytest.raises(ConfigError, match=f"api: cannot listen on 127.0.0.1:{api.server.port}"):
        await start_api(app, "127.0.0.1", api.server.port)


async def test_closed_server_refuses_connections_and_closes_once(api: Api) -> None:
    await api.server.close()
    await api.server.close()
    async with aiohttp.ClientSession() as fresh:
        with pytest.raises(aiohttp.ClientConnectionError):
            await fresh.get(f"{api.url}/healthz")
