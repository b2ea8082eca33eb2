"""HttpProbe reading responses a well-behaved framework would never send: chunked bodies
split anywhere, a HEAD answer announcing a body, garbage, a close before the head. The
targets are real sockets on loopback that answer with the bytes given."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from healthchecks.http import HttpClient, HttpProbe
from healthchecks.release import ReleaseRule, ReleaseSource

LOOPBACK = "127.0.0.1"

Canned = Callable[[list[bytes]], Awaitable[tuple[int, list[bytes]]]]
"""Starts a server answering every request with the pieces given; returns its port and the
request heads it received."""


class _Canned(asyncio.Protocol):
    """Answers the first request head with the pieces given, then closes."""

    def __init__(self, pieces: list[bytes], heads: list[bytes]) -> None:
        self._pieces = pieces
        self._heads = heads
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if b"\r\n\r\n" in self._buffer and self._transport is not None:
            self._heads.append(self._buffer)
            asyncio.get_running_loop().create_task(self._answer(self._transport))
            self._transport = None

    async def _answer(self, transport: asyncio.Transport) -> None:
        for piece in self._pieces:
            transport.write(piece)
            await asyncio.sleep(0.01)  # separate segments: the reader must join them
        transport.close()


@pytest.fixture
async def canned() -> AsyncIterator[Canned]:
    """Start a server answering every request with the given pieces; yields its port."""
    servers: list[asyncio.Server] = []

    async def start(pieces: list[bytes]) -> tuple[int, list[bytes]]:
        heads: list[bytes] = []
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Canned(pieces, heads), LOOPBACK, 0)
        servers.append(server)
        return server.sockets[0].getsockname()[1], heads

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def test_a_chunked_body_split_anywhere_is_joined(
    canned: Canned, http_client: HttpClient
) -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    port, _ = await canned([head + b"4\r\nre", b"ad\r\n1;x=1\r\ny", b"\r\n0\r\n\r\n"])
    probe = HttpProbe(LOOPBACK, port, body_contains="ready", client=http_client)

    result = await probe.probe(timeout=2)

    assert result.ok, result.reason


async def test_chunk_framing_is_not_read_as_body(canned: Canned, http_client: HttpClient) -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    port, _ = await canned([head + b"2\r\nre\r\n3\r\nady\r\n0\r\n\r\n"])
    probe = HttpProbe(LOOPBACK, port, body_contains="re\r\n3", client=http_client)

    result = await probe.probe(timeout=2)

    assert result.reason == "body does not contain 're\\r\\n3'"


async def test_a_body_without_length_ends_with_the_connection(
    canned: Canned, http_client: HttpClient
) -> None:
    port, _ = await canned([b"HTTP/1.0 200 OK\r\n\r\nall ", b"ready"])
    probe = HttpProbe(LOOPBACK, port, body_contains="ready", client=http_client)

    assert (await probe.probe(timeout=2)).ok


async def test_a_head_answer_is_judged_without_a_body(
    canned: Canned, http_client: HttpClient
) -> None:
    # The server keeps the connection open after the head: the probe must not wait for
    # the announced body, which a HEAD answer never carries.
    port, heads = await canned([b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n", b""])
    probe = HttpProbe(LOOPBACK, port, method="HEAD", body_contains="", client=http_client)

    result = await probe.probe(timeout=2)

    assert result.ok, result.reason
    assert heads[0].startswith(b"HEAD / HTTP/1.1\r\n")


async def test_garbage_is_a_malformed_response(canned: Canned, http_client: HttpClient) -> None:
    port, _ = await canned([b"SSH-2.0-OpenSSH_9.2\r\n\r\n"])
    probe = HttpProbe(LOOPBACK, port, client=http_client)

    result = await probe.probe(timeout=2)

    assert not result.ok
    assert result.reason.startswith("malformed response: malformed status line")


async def test_a_close_before_the_head_is_a_disconnect(
    canned: Canned, http_client: HttpClient
) -> None:
    port, _ = await canned([b"HTTP/1.1 200 OK\r\nContent-"])
    probe = HttpProbe(LOOPBACK, port, client=http_client)

    result = await probe.probe(timeout=2)

    assert result.reason == "server disconnected"


async def test_the_request_is_minimal_and_asks_for_a_close(
    canned: Canned, http_client: HttpClient
) -> None:
    port, heads = await canned([b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"])
    probe = HttpProbe(
        LOOPBACK,
        port,
        "/health?deep=1",
        method="POST",
        headers={"X-Probe": "1"},
        client=http_client,
    )

    assert (await probe.probe(timeout=2)).ok
    assert (
        heads[0]
        == (
            f"POST /health?deep=1 HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\nX-Probe: 1\r\n"
            "Connection: close\r\nContent-Length: 0\r\n\r\n"
        ).encode()
    )


async def test_a_release_header_is_read_whatever_its_case(
    canned: Canned, http_client: HttpClient
) -> None:
    port, _ = await canned([b"HTTP/1.1 503 No\r\nx-RELEASE: v42\r\nContent-Length: 0\r\n\r\n"])
    probe = HttpProbe(
        LOOPBACK, port, release=ReleaseRule(ReleaseSource.HEADER, "X-Release"), client=http_client
    )

    result = await probe.probe(timeout=2)

    assert (result.ok, result.release) == (False, "v42")


async def test_a_large_body_is_read_only_up_to_the_limit(http_client: HttpClient) -> None:
    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        while True:
            await response.write(b"x" * 65536)

    app = web.Application()
    app.router.add_get("/", endless)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, LOOPBACK, 0)
    await site.start()
    try:
        probe = HttpProbe(
            LOOPBACK, runner.addresses[0][1], body_contains="ready", client=http_client
        )
        result = await probe.probe(timeout=5)
    finally:
        await runner.cleanup()

    assert result.reason == "body does not contain 'ready'"


async def test_a_host_name_is_looked_up_and_judged_alike(
    canned: Canned, http_client: HttpClient
) -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    port, heads = await canned([head + b"5\r\nready\r\n0\r\n\r\n"])
    probe = HttpProbe("localhost", port, body_contains="ready", client=http_client)

    result = await probe.probe(timeout=2)

    assert result.ok, result.reason
    assert heads[0].startswith(b"GET / HTTP/1.1\r\nHost: localhost:")
