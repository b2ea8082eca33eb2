"""TcpProbe against real listeners on loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from healthchecks.tcp import TcpProbe

LOOPBACK = "127.0.0.1"


@pytest.fixture
async def listener() -> AsyncIterator[tuple[int, list[bool]]]:
    """A server on 127.0.0.1 recording, per connection, whether the prober closed it."""
    closed: list[bool] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        closed.append(await reader.read() == b"")
        writer.close()

    server = await asyncio.start_server(record, LOOPBACK, 0)
    try:
        yield int(server.sockets[0].getsockname()[1]), closed
    finally:
        server.close()
        await server.wait_closed()


async def test_listening_port_passes_and_is_closed_again(
    listener: tuple[int, list[bool]],
) -> None:
    port, closed = listener

    result = await TcpProbe(LOOPBACK, port).probe(timeout=2)

    assert result.ok
    assert result.reason == "connected"
    for _ in range(100):
        if closed:
            break
        await asyncio.sleep(0.01)
    assert closed == [True]


async def test_closed_port_is_refused(closed_port: int) -> None:
    result = await TcpProbe(LOOPBACK, closed_port).probe(timeout=2)

    assert not result.ok
    assert result.reason == "connect refused"


async def test_full_backlog_times_out() -> None:
    # A listener that never accepts, with its backlog filled, leaves new handshakes
    # unanswered: the closest loopback gets to a silently dropped SYN.
    server = socket.socket()
    fillers: list[socket.socket] = []
    try:
        server.bind((LOOPBACK, 0))
        server.listen(0)
        port = server.getsockname()[1]
        for _ in range(8):
            filler = socket.socket()
            filler.setblocking(False)
            fillers.append(filler)
            filler.connect_ex((LOOPBACK, port))

        result = await TcpProbe(LOOPBACK, port).probe(timeout=0.2)
    finally:
        for filler in fillers:
            filler.close()
        server.close()

    assert not result.ok
    assert result.reason == "timeout after 0.200s"


async def test_a_probe_leaves_from_its_source_address() -> None:
    peers: list[str] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer.get_extra_info("peername")[0])
        writer.close()

    server = await asyncio.start_server(record, LOOPBACK, 0)
    try:
        port = int(server.sockets[0].getsockname()[1])
        result = await TcpProbe(LOOPBACK, port, source="127.0.0.2").probe(timeout=2)
        for _ in range(100):
            if peers:
                break
            await asyncio.sleep(0.01)
    finally:
        server.close()
        await server.wait_closed()

    assert result.ok
    assert peers == ["127.0.0.2"]
