"""The physical floor for resolve.py: a trivial aiohttp handler and a trivial UDP echo.

python benchmarks/baselines.py http|udp PORT
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import cast

from aiohttp import web

BODY = b'{"service":"app","version":1}'


async def serve_http(port: int) -> None:
    """Answer every GET with a small JSON body."""

    async def handle(_request: web.Request) -> web.Response:
        return web.Response(body=BODY, content_type="application/json")

    app = web.Application()
    app.router.add_get("/", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await _until_stopped()
    await runner.cleanup()


class Echo(asyncio.DatagramProtocol):
    """Send every datagram back."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(data, addr)


async def serve_udp(port: int) -> None:
    """Echo datagrams."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", port))
    await _until_stopped()
    transport.close()


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    await stop.wait()


if __name__ == "__main__":
    kind, port = sys.argv[1], int(sys.argv[2])
    asyncio.run(serve_http(port) if kind == "http" else serve_udp(port))
