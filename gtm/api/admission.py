"""Who gets a connection to the API: caps in all and per client, and a deadline for headers.

Every open connection holds a file descriptor, and probes need descriptors too: a prober
that cannot open a socket would judge a healthy site down. So connections beyond
``max_connections``, or beyond ``max_connections_per_client`` from one address, are
answered with a canned 503 and closed as soon as they are accepted, and a connection that
has not finished its request headers within ``header_timeout`` gets a 408 and is closed.
None of this costs a traceback: refusals are counted and logged at most once per interval.

The gate sits in front of aiohttp's own request handler as the connection's protocol,
passing everything through once a connection is admitted. Requests aiohttp cannot parse
(a header holding a stray CR or NUL, as a token file with Windows line endings gives) are
answered with a JSON 400 that echoes nothing of the request, and logged without it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from gtm.api.documents import JSON, encode, json_response
from gtm.logs import throttle

log = logging.getLogger(__name__)
throttle(log)

_HEAD_ENDS = (b"\n\r\n", b"\n\n")
"""How the blank line after the headers looks, with CRLF or bare LF line ends."""


def canned(status: str, code: str, message: str) -> bytes:
    """A complete HTTP answer that closes the connection, built once and sent as it is."""
    body = encode({"error": code, "message": message})
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {JSON}\r\nContent-Length: {len(body)}\r\n"
        "Retry-After: 1\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class Admission:
    """Counts the API's open connections and decides whether one more may be served.

    Args:
        total: Connections open at once.
        per_client: Connections one client address may hold.
        header_timeout: Seconds a new connection has to send its request headers.
        handler: Makes the request handler an admitted connection is passed to.
    """

    def __init__(
        self,
        total: int,
        per_client: int,
        header_timeout: float,
        handler: Callable[[], RequestHandler],
    ) -> None:
        self.total = total
        self.per_client = per_client
        self.header_timeout = header_timeout
        self.handler = handler
        self.open = 0
        self._by_client: dict[str, int] = {}
        self._full = canned(
            "503 Service Unavailable",
            "busy",
            f"the API serves {total} connections at once and has none free; retry shortly",
        )
        self._greedy = canned(
            "503 Service Unavailable",
            "too_many_connections",
            f"this address holds {per_client} connections to the API, as many as one client "
            "may; close some, or reuse them (keep-alive)",
        )
        self.too_slow = canned(
            "408 Request Timeout",
            "request_timeout",
            f"the request headers did not arrive within {header_timeout:g}s",
        )

    def connections(self, client: str) -> int:
        """Connections ``client`` holds now."""
        return self._by_client.get(client, 0)

    def admit(self, client: str) -> bytes | None:
        """Count a new connection from ``client``; None, or the answer refusing it."""
        if self.open >= self.total:
            log.warning(
                "api: connection from %s refused: all %d connections (api.limits."
                "max_connections) are taken",
                client,
                self.total,
            )
            return self._full
        held = self._by_client.get(client, 0)
        if held >= self.per_client:
            log.warning(
                "api: connection from %s refused: it holds %d connections "
                "(api.limits.max_connections_per_client)",
                client,
                held,
            )
            return self._greedy
        self.open += 1
        self._by_client[client] = held + 1
        return None

    def release(self, client: str) -> None:
        """Forget one connection of ``client``, which has closed."""
        self.open -= 1
        held = self._by_client[client] - 1
        if held:
            self._by_client[client] = held
        else:
            del self._by_client[client]

    def gate(self) -> Gate:
        """The protocol for one new connection (the factory the listening server calls)."""
        return Gate(self)


class Gate(asyncio.Protocol):
    """One connection's protocol: admits it or refuses it, then watches for its headers."""

    def __init__(self, admission: Admission) -> None:
        self._admission = admission
        self._inner: RequestHandler | None = None
        self._client: str | None = None
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        peer = transport.get_extra_info("peername")
        client = str(peer[0]) if peer else ""
        refusal = self._admission.admit(client)
        if refusal is not None:
            transport.write(refusal)
            transport.close()
            return
        self._client = client
        self._transport = transport
        self._timer = asyncio.get_running_loop().call_later(
            self._admission.header_timeout, self._expire
        )
        self._inner = self._admission.handler()
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._inner is None:
            return
        if self._timer is not None:
            seen = self._tail + data
            if any(end in seen for end in _HEAD_ENDS):
                self._timer.cancel()
                self._timer = None
                self._tail = b""
            else:
                self._tail = seen[-2:]
        self._inner.data_received(data)

    def eof_received(self) -> None:
        if self._inner is not None:
            self._inner.eof_received()

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._inner is not None:
            inner, self._inner = self._inner, None
            inner.connection_lost(exc)
        if self._client is not None:
            self._admission.release(self._client)
            self._client = None

    def _expire(self) -> None:
        self._timer = None
        if self._transport is not None and not self._transport.is_closing():
            log.warning(
                "api: connection from %s closed: no request headers within %gs "
                "(api.limits.header_timeout)",
                self._client,
                self._admission.header_timeout,
            )
            self._transport.write(self._admission.too_slow)
            self._transport.close()


class QuietRequestHandler(RequestHandler):
    """aiohttp's request handler, answering unparsable requests without echoing them.

    aiohttp logs such a request with a traceback quoting the offending header line, and
    puts that line in its 400 body; with a stray CR after a bearer token, that line is the
    token. Here the answer is a JSON 400 naming only the kind of error, and the log line
    names the client and the kind, at most once per interval.
    """

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        kind = type(exc).__name__
        log.warning("api: unparsable request from %s refused (%s)", request.remote, kind)
        response = json_response(
            {
                "error": "bad_request",
                "message": f"the request is not valid HTTP ({kind}); a header may hold a "
                "character HTTP does not allow, such as a CR or NUL at the end of a token "
                "read from a file",
            },
            status=status if 400 <= status < 500 else 400,
        )
        response.force_close()
        return response
