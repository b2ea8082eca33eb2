"""Health: liveness with the controller's own status merged in."""

from __future__ import annotations

from typing import Any

from api_harness import Api, ApiFactory


async def test_healthz_counts_services(api: Api) -> None:
    async with api.http.get(f"{api.url}/healthz") as resp:
        assert resp.status == 200
        assert await resp.json() == {"ok": True, "services": 3}


async def test_healthz_merges_controller_status(start: ApiFactory) -> None:
    def status() -> dict[str, Any]:
        return {"leader": True, "instance": "gtm-1"}

    api = await start(status=status)
    async with api.http.get(f"{api.url}/healthz") as resp:
        assert resp.status == 200
        assert await resp.json() == {"ok": True, "services": 3, "leader": True, "instance": "gtm-1"}


async def test_healthz_is_a_503_when_the_controller_says_not_ok(start: ApiFactory) -> None:
    api = await start(status=lambda: {"ok": False, "why": "store unreachable"})
    async with api.http.get(f"{api.url}/healthz") as resp:
        assert resp.status == 503
        assert (await resp.json())["why"] == "store unreachable"
