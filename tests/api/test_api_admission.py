"""Admission: connection caps in all and per client, the header deadline, cheap refusals.

Clients come from different loopback addresses (127.0.0.2, 127.0.0.3, ...) so a test can
tell a greedy client from the others.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
from collections.abc import AsyncIterator

import pytest
from api_harness import Api, ApiFactory

from gtm.config.limits import ApiLimits
from gtm.core.budget import split

PARTIAL = b"GET /healthz HTTP/1.1\r\nHost: gtm\r\n"
"""A request line and a header, without the blank line that ends the headers."""
REQUEST = b"GET /healthz HTTP/1.1\r\nHost: gtm\r\nConnection: close\r\n\r\n"


class Client:
    """Raw connections from one loopback address, closed at the end of the test."""

    def __init__(self, port: int, address: str) -> None:
        self._port = port
        self._address = address
        self.open: list[asyncio.StreamWriter] = []

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", self._port, local_addr=(self._address, 0)
        )
        self.open.append(writer)
        return reader, writer

    async def idle(self, count: int, api: Api) -> None:
        """Open ``count`` connections that never finish their headers, once all are held."""
        for _ in range(count):
            _, writer = await self.connect()
            writer.write(PARTIAL)
            await writer.drain()
        await until(lambda: api.server.admission.connections(self._address) == count)

    async def ask(self) -> tuple[int, dict[str, object]]:
        """One full request; its status and JSON body."""
        reader, writer = await self.connect()
        writer.write(REQUEST)
        raw = await reader.read()
        head, _, body = raw.partition(b"\r\n\r\n")
        return int(head.split()[1]), json.loads(body)

    async def turned_away(self) -> tuple[int, dict[str, object]]:
        """Connect and read what the server sends unasked: a refusal's status and body.

        Nothing is sent, so the server closes a socket holding no unread data, and the
        answer is not lost to a reset.
        """
        reader, _ = await self.connect()
        raw = await reader.read()
        head, _, body = raw.partition(b"\r\n\r\n")
        return int(head.split()[1]), json.loads(body)

    def close(self) -> None:
        for writer in self.open:
            writer.close()


async def until(condition: object) -> None:
    """Wait (a bounded number of turns) until ``condition()`` holds."""
    assert callable(condition)
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


@pytest.fixture
async def clients() -> AsyncIterator[list[Client]]:
    made: list[Client] = []
    yield made
    for client in made:
        client.close()


def client(made: list[Client], api: Api, address: str) -> Client:
    one = Client(api.server.port, address)
    made.append(one)
    return one


async def test_one_client_cannot_hold_more_than_its_share(
    start: ApiFactory, clients: list[Client], caplog: pytest.LogCaptureFixture
) -> None:
    api = await start(limits=ApiLimits(max_connections=20, max_connections_per_client=3))
    greedy = client(clients, api, "127.0.0.2")
    await greedy.idle(3, api)

    caplog.set_level(logging.DEBUG)
    refusals = [await greedy.turned_away() for _ in range(20)]
    status, body = await client(clients, api, "127.0.0.3").ask()

    assert {status for status, _ in refusals} == {503}
    assert refusals[0][1]["error"] == "too_many_connections"
    assert status == 200 and body["ok"] is True
    # Twenty refusals, no traceback, and at most one line about them.
    assert not any(record.exc_info for record in caplog.records)
    assert len([r for r in caplog.records if "refused" in r.getMessage()]) <= 1


async def test_connections_beyond_the_total_are_refused_until_some_close(
    start: ApiFactory, clients: list[Client]
) -> None:
    api = await start(limits=ApiLimits(max_connections=4, max_connections_per_client=2))
    first, second = client(clients, api, "127.0.0.2"), client(clients, api, "127.0.0.3")
    await first.idle(2, api)
    await second.idle(2, api)

    status, body = await client(clients, api, "127.0.0.4").turned_away()
    assert (status, body["error"]) == (503, "busy")

    first.close()
    await until(lambda: api.server.admission.open == 2)
    status, _ = await client(clients, api, "127.0.0.4").ask()
    assert status == 200


async def test_headers_that_never_end_get_a_408_and_the_slot_back(
    start: ApiFactory, clients: list[Client]
) -> None:
    api = await start(limits=ApiLimits(max_connections_per_client=1, header_timeout=0.2))
    slow = client(clients, api, "127.0.0.2")
    reader, writer = await slow.connect()
    writer.write(PARTIAL)

    answer = await reader.read()  # the server closes it once the deadline passes

    assert answer.startswith(b"HTTP/1.1 408 ")
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"] == "request_timeout"
    await until(lambda: api.server.admission.open == 0)
    status, _ = await slow.ask()
    assert status == 200


async def test_a_request_sent_in_pieces_is_served(start: ApiFactory, clients: list[Client]) -> None:
    api = await start(limits=ApiLimits(header_timeout=5))
    reader, writer = await client(clients, api, "127.0.0.2").connect()
    for piece in (REQUEST[:20], REQUEST[20:-3], REQUEST[-3:-1], REQUEST[-1:]):
        writer.write(piece)
        await writer.drain()
        await asyncio.sleep(0.01)
    assert (await reader.read()).startswith(b"HTTP/1.1 200 ")


async def test_keep_alive_connections_serve_many_requests(api: Api) -> None:
    for _ in range(5):
        async with api.http.get(f"{api.url}/healthz") as resp:
            assert resp.status == 200
    assert api.server.admission.open <= 1


@pytest.mark.parametrize("tail", [b"\r", b"\x00", b"\rX-Evil: 1"])
async def test_a_stray_cr_or_nul_after_a_token_is_neither_logged_nor_echoed(
    api: Api, clients: list[Client], caplog: pytest.LogCaptureFixture, tail: bytes
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = b"s3cret-token"
    reader, writer = await client(clients, api, "127.0.0.1").connect()
    writer.write(
        b"POST /v1/intents HTTP/1.1\r\nHost: gtm\r\nAuthorization: Bearer "
        + secret
        + tail
        + b"\r\nContent-Length: 2\r\n\r\n{}"
    )
    answer = await reader.read()

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split()[1] == b"400"
    assert json.loads(body)["error"] == "bad_request"
    assert secret not in answer
    logged = "\n".join(
        record.getMessage() + str(record.exc_info) + str(record.exc_text)
        for record in caplog.records
    )
    assert secret.decode() not in logged
    assert not any(record.exc_info for record in caplog.records)


async def test_caps_beyond_the_descriptor_budget_are_warned_about(
    start: ApiFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gtm.api.server")
    api = await start(limits=ApiLimits(max_connections=1_000_000))
    assert api.server.admission.total == 1_000_000
    lines = [r.getMessage() for r in caplog.records if r.name == "gtm.api.server"]
    assert len(lines) == 1
    assert "api.limits.max_connections is 1000000" in lines[0]
    assert "kept for probes and the store" in lines[0]


async def test_unset_caps_follow_the_open_file_limit(api: Api) -> None:
    budget = split(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    assert api.server.admission.total == budget.api
    assert api.server.admission.per_client == budget.api // 4
