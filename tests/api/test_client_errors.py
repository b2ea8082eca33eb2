"""The client translates what goes wrong into gtm's exception tree, with the details kept."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from api_harness import OPERATOR_TOKEN, READER_TOKEN, Api

from gtm.client import GtmClient, IntentRequest
from gtm.core.model import IntentKind
from gtm.errors import ApiUnreachable, Unauthorized, Unavailable

PIN = IntentRequest(IntentKind.PIN, "drill", service="billing", site="dc-paris")


def unused_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def silent() -> AsyncIterator[str]:
    """The URL of a server that accepts connections and never answers."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up and closes
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


async def test_nothing_listening_is_unreachable_naming_the_address() -> None:
    url = f"http://127.0.0.1:{unused_port()}"

    async with GtmClient(url) as client:
        with pytest.raises(ApiUnreachable) as caught:
            await client.services()

    assert (caught.value.url, caught.value.reason) == (url, "connection refused")
    assert str(caught.value) == (
        f"gtm api: no answer from {url} to GET /v1/services: connection refused"
    )
    assert isinstance(caught.value.__cause__, OSError)


async def test_a_server_that_does_not_answer_is_unavailable_not_unreachable(silent: str) -> None:
    async with GtmClient(silent, timeout=0.2) as client:
        with pytest.raises(Unavailable) as caught:
            await client.services()

    assert not isinstance(caught.value, ApiUnreachable)
    assert str(caught.value) == f"gtm api: GET {silent}/v1/services: no answer within 0.2s"


async def test_a_missing_token_is_unauthorized_with_the_scope_needed(api: Api) -> None:
    async with GtmClient(api.url) as client:
        with pytest.raises(Unauthorized) as caught:
            await client.add_intent(PIN)

    assert (caught.value.code, caught.value.needed) == ("unauthorized", "operate")
    assert "(HTTP 401)" in str(caught.value)


async def test_a_weak_token_is_unauthorized_with_both_scopes(api: Api) -> None:
    async with GtmClient(api.url, token=READER_TOKEN) as client:
        with pytest.raises(Unauthorized) as caught:
            await client.add_intent(PIN)
    error = caught.value
    assert (error.code, error.needed, error.token, error.scope) == (
        "insufficient_scope",
        "operate",
        "dashboard",
        "read",
    )

    async with GtmClient(api.url, token=OPERATOR_TOKEN) as client:
        with pytest.raises(Unauthorized) as caught:
            await client.add_intent(replace(PIN, force=True))
    assert (caught.value.needed, caught.value.scope) == ("admin", "operate")


async def test_an_unknown_token_is_forbidden(api: Api) -> None:
    async with GtmClient(api.url, token="guessed") as client:
        with pytest.raises(Unauthorized) as caught:
            await client.add_intent(PIN)

    assert (caught.value.code, caught.value.needed, caught.value.token) == (
        "forbidden",
        "operate",
        None,
    )
