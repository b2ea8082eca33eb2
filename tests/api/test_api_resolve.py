"""Resolve: the mapping of a service, its caching headers, and the answers for no mapping."""

from __future__ import annotations

from dataclasses import replace

from api_harness import Api, billing

from gtm.core.model import Action, State


async def test_list_services_gives_every_mapping_with_its_best_locators(api: Api) -> None:
    async with api.http.get(f"{api.url}/v1/services") as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        doc = await resp.json()
    assert [m["service"] for m in doc["services"]] == ["billing", "search"]
    assert doc["services"][0]["best"] == ["billing@aws-use1/lb-1", "billing@aws-use1/lb-2"]
    assert doc["services"][1]["best"] == ["search@dc-paris/a"]


async def test_service_answer_carries_the_mapping_and_caching_headers(api: Api) -> None:
    async with api.http.get(f"{api.url}/v1/services/billing") as resp:
        assert resp.status == 200
        assert resp.headers["ETag"] == '"7"'
        assert resp.headers["Cache-Control"] == "max-age=30"
        assert resp.headers["X-Gtm-Index"] == "7"
        assert resp.content_type == "application/json"
        doc = await resp.json()
    assert doc["service"] == "billing"
    assert (doc["version"], doc["epoch"], doc["ttl"]) == (7, 3, 30)
    assert doc["active_site"] == "aws-use1"
    assert doc["reason"] == "aws-use1 is healthy and active"
    assert doc["locators"][0] == {
        "id": "billing@aws-use1/lb-1",
        "site": "aws-use1",
        "address": "127.0.1.1",
        "port": 8443,
        "priority": 1,
        "weight": 60,
        "state": "up",
    }
    assert doc["locators"][3]["state"] == "down"
    assert doc["best"] == ["billing@aws-use1/lb-1", "billing@aws-use1/lb-2"]


async def test_if_none_match_with_the_current_version_gives_304(api: Api) -> None:
    for tag in ('"7"', 'W/"7"', '"6", "7"', "*"):
        async with api.http.get(
            f"{api.url}/v1/services/billing", headers={"If-None-Match": tag}
        ) as resp:
            assert resp.status == 304, tag
            assert resp.headers["ETag"] == '"7"'
            assert resp.headers["Cache-Control"] == "max-age=30"
            assert "Content-Type" not in resp.headers
            assert await resp.read() == b""


async def test_if_none_match_with_an_old_version_gives_the_mapping(api: Api) -> None:
    async with api.http.get(
        f"{api.url}/v1/services/billing", headers={"If-None-Match": '"6"'}
    ) as resp:
        assert resp.status == 200
        assert (await resp.json())["version"] == 7


async def test_answer_follows_a_new_mapping(api: Api) -> None:
    async with api.http.get(f"{api.url}/v1/services/billing") as resp:
        assert (await resp.json())["best"][0] == "billing@aws-use1/lb-1"
    moved = billing(
        version=8,
        epoch=4,
        active_site="dc-paris",
        locators=tuple(
            replace(loc, priority=2, state=State.DOWN) if loc.site == "aws-use1" else loc
            for loc in billing().locators
        ),
    )
    api.registry.publish(moved)
    async with api.http.get(f"{api.url}/v1/services/billing") as resp:
        assert resp.headers["ETag"] == '"8"'
        doc = await resp.json()
    assert (doc["version"], doc["epoch"], doc["active_site"]) == (8, 4, "dc-paris")
    assert doc["best"] == ["billing@dc-paris/lb-1"]


async def test_answer_follows_a_new_reason_under_the_same_version(api: Api) -> None:
    async with api.http.get(f"{api.url}/v1/services/billing") as resp:
        assert (await resp.json())["reason"] == "aws-use1 is healthy and active"
    api.registry.publish(billing(reason="gcp-euw1 is down; aws-use1 stays active"))
    async with api.http.get(f"{api.url}/v1/services/billing") as resp:
        assert (await resp.json())["reason"] == "gcp-euw1 is down; aws-use1 stays active"


async def test_all_down_stay_answers_the_active_site(api: Api) -> None:
    down = tuple(replace(loc, state=State.DOWN) for loc in billing().locators)
    api.registry.publish(billing(version=9, locators=down, action=Action.STAY))
    async with api.http.get(f"{api.url}/v1/services/billing") as resp:
        doc = await resp.json()
    assert doc["action"] == "stay"
    assert doc["best"] == ["billing@aws-use1/lb-1", "billing@aws-use1/lb-2"]


async def test_unknown_service_is_a_cacheable_negative_answer(api: Api) -> None:
    async with api.http.get(f"{api.url}/v1/services/biling") as resp:
        assert resp.status == 404
        assert resp.headers["Cache-Control"] == "max-age=5"
        doc = await resp.json()
    assert doc == {
        "error": "not_found",
        "service": "biling",
        "message": "no service 'biling'; known services: billing, ledger, search",
    }


async def test_configured_service_without_mapping_says_retry_shortly(api: Api) -> None:
    async with api.http.get(f"{api.url}/v1/services/ledger") as resp:
        assert resp.status == 503
        assert resp.headers["Retry-After"] == "1"
        doc = await resp.json()
    assert doc["error"] == "not_ready"
    assert doc["service"] == "ledger"
    assert "not known yet" in doc["message"]
    assert "retry" in doc["message"]


async def test_mapping_of_a_service_no_longer_configured_is_still_served(api: Api) -> None:
    api.registry.publish(billing(service="legacy"))
    async with api.http.get(f"{api.url}/v1/services/legacy") as resp:
        assert resp.status == 200
        assert (await resp.json())["service"] == "legacy"


async def test_head_gives_headers_without_body(api: Api) -> None:
    async with api.http.head(f"{api.url}/v1/services/billing") as resp:
        assert resp.status == 200
        assert resp.headers["X-Gtm-Index"] == "7"
        assert await resp.read() == b""
