"""The bare-socket path of plain-HTTP probes: early send, waiting to connect, one reader."""

from __future__ import annotations

import asyncio
import socket
import threading

from healthchecks.exchange import ResponseError, ResponseReader
from healthchecks.http import HttpClient, HttpProbe, _receive

LOOPBACK = "127.0.0.1"
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


def reader() -> ResponseReader:
    return ResponseReader(head_only=False, want_headers=False, body_limit=0)


async def test_an_address_refused_at_once_fails_with_the_connect_error(
    http_client: HttpClient,
) -> None:
    # No packet leaves: the kernel refuses a broadcast address (or has no route) in connect.
    result = await HttpProbe("255.255.255.255", 80, client=http_client).probe(timeout=2)
    assert not result.ok
    assert "pipe" not in result.reason


def _serve_after_the_queue_drains(listener: socket.socket, released: threading.Event) -> None:
    """Accept the connection filling the queue once told, then answer the next one."""
    released.wait(5)
    filler, _ = listener.accept()
    filler.close()
    conn, _ = listener.accept()
    with conn:
        conn.settimeout(5)
        conn.recv(4096)
        conn.sendall(ANSWER)


async def test_a_connection_still_being_made_is_waited_for_before_the_request() -> None:
    # A listener whose accept queue is full drops the probe's SYN; its connect is still
    # in progress when connect returns, and completes when the SYN is sent again.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((LOOPBACK, 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    filler.connect((LOOPBACK, port))
    released = threading.Event()
    server = threading.Thread(target=_serve_after_the_queue_drains, args=(listener, released))
    server.start()
    try:
        async with HttpClient() as client:
            probing = asyncio.create_task(HttpProbe(LOOPBACK, port, client=client).probe(5))
            await asyncio.sleep(0.2)
            released.set()
            result = await probing
        assert result.ok, result.reason
    finally:
        released.set()
        server.join(10)
        filler.close()
        listener.close()


async def test_a_socket_read_after_the_response_is_complete_reads_nothing() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.setblocking(False)
        theirs.sendall(b"more")
        done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        _receive(ours, reader(), done)  # type: ignore[arg-type]
        assert ours.recv(16) == b"more"


async def test_a_spurious_wake_up_waits_for_the_next() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.setblocking(False)
        done = asyncio.get_running_loop().create_future()
        _receive(ours, reader(), done)
        assert not done.done()


async def test_a_socket_error_and_a_malformed_answer_end_the_read() -> None:
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.setblocking(False)
        theirs.sendall(b"SSH-2.0-OpenSSH\r\n\r\n")
        malformed = loop.create_future()
        _receive(ours, reader(), malformed)
        assert isinstance(malformed.exception(), ResponseError)
    broken = loop.create_future()
    _receive(ours, reader(), broken)  # closed: the read fails
    assert isinstance(broken.exception(), OSError)
