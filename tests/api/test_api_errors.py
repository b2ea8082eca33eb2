"""Errors: every failure, expected or not, is answered as JSON."""

from __future__ import annotations

import logging

import pytest
from api_harness import Api

from gtm.errors import StoreUnavailable


async def test_unknown_route_is_a_json_404(api: Api) -> None:
    async with api.http.get(f"{api.url}/v2/services") as resp:
        assert resp.status == 404
        assert resp.content_type == "application/json"
        doc = await resp.json()
    assert doc["error"] == "not_found"
    assert "/v1/services" in doc["message"]


async def test_wrong_method_is_a_json_405_with_allow(api: Api) -> None:
    async with api.http.put(f"{api.url}/v1/services/billing") as resp:
        assert resp.status == 405
        assert set(resp.headers["Allow"].split(",")) == {"GET", "HEAD"}
        doc = await resp.json()
    assert doc["error"] == "method_not_allowed"
    assert "PUT" in doc["message"]


async def test_unexpected_failure_is_a_json_500_and_logged(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    api.registry.failures["mappings"] = RuntimeError("boom")
    with caplog.at_level(logging.ERROR, logger="gtm.api.errors"):
        async with api.http.get(f"{api.url}/v1/services") as resp:
            assert resp.status == 500
            doc = await resp.json()
    assert doc == {"error": "internal", "message": "internal error; the server log has details"}
    assert "boom" not in str(doc)
    assert any(
        record.exc_info and "/v1/services" in record.getMessage() for record in caplog.records
    )


async def test_store_unavailable_is_a_503_to_retry(api: Api) -> None:
    api.registry.failures["get"] = StoreUnavailable("registry: store did not answer in 2.0s")
    async with api.http.get(f"{api.url}/v1/services/billing") as resp:
        assert resp.status == 503
        assert resp.headers["Retry-After"] == "1"
        assert await resp.json() == {
            "error": "unavailable",
            "message": "registry: store did not answer in 2.0s",
        }


async def test_body_over_the_size_limit_is_a_json_413(api: Api) -> None:
    async with api.http.post(
        f"{api.url}/v1/intents", data=b"x" * (2 * 1024 * 1024), headers=api.writer()
    ) as resp:
        assert resp.status == 413
        assert (await resp.json())["error"] == "request_entity_too_large"
