"""Watch: long polls that answer when the mapping passes the client's index."""

from __future__ import annotations

import asyncio

import pytest
from api_harness import Api, ApiFactory, billing, until_waiting

from gtm.api.errors import ApiError
from gtm.api.query import parse_wait
from gtm.errors import StoreUnavailable


async def test_long_poll_wakes_when_another_task_publishes(api: Api) -> None:
    poll = asyncio.create_task(api.http.get(f"{api.url}/v1/services/billing?index=7&wait=30s"))
    await until_waiting(api.registry, poll)
    api.registry.publish(billing(version=8, active_site="dc-paris"))
    async with await poll as resp:
        assert resp.status == 200
        assert resp.headers["X-Gtm-Index"] == "8"
        doc = await resp.json()
    assert (doc["version"], doc["active_site"]) == (8, "dc-paris")
    assert api.registry.waits == [("billing", 7, 30.0)]


async def test_long_poll_without_change_answers_the_current_mapping_at_the_deadline(
    api: Api,
) -> None:
    async with api.http.get(f"{api.url}/v1/services/billing?index=7&wait=20ms") as resp:
        assert resp.status == 200
        assert resp.headers["X-Gtm-Index"] == "7"
        assert (await resp.json())["version"] == 7
    assert api.registry.waits == [("billing", 7, 0.02)]


async def test_long_poll_behind_the_current_version_answers_at_once(api: Api) -> None:
    async with api.http.get(f"{api.url}/v1/services/billing?index=5&wait=60") as resp:
        assert resp.status == 200
        assert resp.headers["X-Gtm-Index"] == "7"
    assert api.registry.waits == []


async def test_wait_without_index_answers_at_once(api: Api) -> None:
    async with api.http.get(f"{api.url}/v1/services/billing?wait=60") as resp:
        assert resp.status == 200
    assert api.registry.waits == []


async def test_wait_is_capped_at_max_wait(start: ApiFactory) -> None:
    api = await start(max_wait=0.01)
    async with api.http.get(f"{api.url}/v1/services/billing?index=7&wait=3600") as resp:
        assert resp.status == 200
    assert api.registry.waits == [("billing", 7, 0.01)]


async def test_index_without_wait_waits_up_to_max_wait(start: ApiFactory) -> None:
    api = await start(max_wait=0.01)
    async with api.http.get(f"{api.url}/v1/services/billing?index=7") as resp:
        assert resp.status == 200
    assert api.registry.waits == [("billing", 7, 0.01)]


async def test_long_poll_waits_for_the_first_mapping_of_a_configured_service(api: Api) -> None:
    poll = asyncio.create_task(api.http.get(f"{api.url}/v1/services/ledger?index=0&wait=30"))
    await until_waiting(api.registry, poll)
    api.registry.publish(billing(service="ledger", version=1))
    async with await poll as resp:
        assert resp.status == 200
        assert (await resp.json())["service"] == "ledger"


async def test_long_poll_ending_without_a_mapping_says_retry_shortly(api: Api) -> None:
    async with api.http.get(f"{api.url}/v1/services/ledger?index=0&wait=10ms") as resp:
        assert resp.status == 503
        assert (await resp.json())["error"] == "not_ready"


async def test_long_poll_on_an_unknown_service_is_refused_without_waiting(api: Api) -> None:
    async with api.http.get(f"{api.url}/v1/services/nope?index=0&wait=60") as resp:
        assert resp.status == 404
    assert api.registry.waits == []


async def test_long_poll_answers_304_when_nothing_changed(api: Api) -> None:
    async with api.http.get(
        f"{api.url}/v1/services/billing?index=7&wait=10ms", headers={"If-None-Match": '"7"'}
    ) as resp:
        assert resp.status == 304
        assert resp.headers["X-Gtm-Index"] == "7"


async def test_store_failure_during_a_long_poll_is_a_503(api: Api) -> None:
    api.registry.failures["wait"] = StoreUnavailable("registry: sqlite store is locked")
    async with api.http.get(f"{api.url}/v1/services/billing?index=7&wait=5") as resp:
        assert resp.status == 503
        assert resp.headers["Retry-After"] == "1"
        doc = await resp.json()
    assert doc == {"error": "unavailable", "message": "registry: sqlite store is locked"}


async def test_closing_the_server_answers_pending_long_polls(start: ApiFactory) -> None:
    # A short shutdown timeout: if the poll were not answered on close, the server would
    # drop it and the client would see a disconnect instead of the mapping.
    api = await start(max_wait=3600, shutdown_timeout=0.2)
    poll = asyncio.create_task(api.http.get(f"{api.url}/v1/services/billing?index=7&wait=3600"))
    await until_waiting(api.registry, poll)
    await api.server.close()
    async with await poll as resp:
        assert resp.status == 200
        assert (await resp.json())["version"] == 7


@pytest.mark.parametrize(
    ("query", "parameter"),
    [("index=seven&wait=1", "index"), ("index=-1", "index"), ("index=7&wait=soon", "wait")],
)
async def test_bad_long_poll_parameters_are_named(api: Api, query: str, parameter: str) -> None:
    async with api.http.get(f"{api.url}/v1/services/billing?{query}") as resp:
        assert resp.status == 400
        doc = await resp.json()
    assert doc["error"] == "bad_request"
    assert doc["parameter"] == parameter
    assert f"query parameter {parameter!r}" in doc["message"]
    assert "expected" in doc["message"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30", 30.0),
        ("30s", 30.0),
        ("1.5", 1.5),
        ("250ms", 0.25),
        ("2m", 60.0),
        ("1h", 60.0),
        ("0", 0.0),
    ],
)
def test_parse_wait_reads_durations_and_caps_them(text: str, seconds: float) -> None:
    assert parse_wait(text, limit=60.0) == seconds


@pytest.mark.parametrize("text", ["", "-1", "1e3", "nan", "inf", "5 s", "s", "1 hour"])
def test_parse_wait_refuses_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_wait(text, limit=60.0)
    assert caught.value.status == 400
    assert caught.value.detail == {"parameter": "wait", "value": text}
