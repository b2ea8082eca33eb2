"""One HTTP/1.1 request and its response on a fresh connection, parsed no further than asked.

A health probe needs the status line, sometimes one header and sometimes the start of the
body. A general HTTP client builds a request object, a response object, a header multidict
and a stream reader for every request; at thousands of probes a second that bookkeeping
is most of the prober's time. Here the request is bytes built once per probe, the
response is read by one protocol object, and headers and body are looked at only when
the probe needs them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from multidict import CIMultiDict

MAX_HEAD = 64 * 1024
"""Bytes allowed for the status line and headers; a health endpoint's are a few hundred."""

NO_BODY_STATUSES = frozenset({204, 304})
"""Statuses whose responses carry no body whatever their headers say (RFC 9110)."""


class ResponseError(Exception):
    """The target answered with something that is not an HTTP/1.x response."""


class ServerDisconnected(ConnectionResetError):
    """The target closed the connection before a complete response head."""


@dataclass(frozen=True, slots=True)
class Response:
    """What was read of one response.

    Attributes:
        status: The status code.
        headers: The response headers, when they were asked for; else empty.
        body: The first bytes of the body, when it was asked for; else empty.
    """

    status: int
    headers: CIMultiDict[str]
    body: bytes


def build_request(method: str, target: str, host: str, headers: dict[str, str]) -> bytes:
    """The bytes of a request that asks the server to close the connection after answering.

    Args:
        method: The HTTP method.
        target: The request target: path and query, already percent-encoded.
        host: The ``Host`` header, unless ``headers`` has one.
        headers: Extra headers; a ``Host`` among them wins over ``host``.

    Returns:
        The request, ready to write.
    """
    names = {name.lower() for name in headers}
    lines = [f"{method} {target} HTTP/1.1"]
    if "host" not in names:
        lines.append(f"Host: {host}")
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    if "connection" not in names:
        lines.append("Connection: close")
    if method == "POST" and "content-length" not in names:
        lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def parse_status(head: bytes) -> int:
    """The status code of a response head.

    Raises:
        ResponseError: The first line is not ``HTTP/1.x NNN ...``.
    """
    line = head.split(b"\r\n", 1)[0]
    parts = line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or len(parts[1]) != 3:
        raise ResponseError(f"malformed status line {line[:80]!r}")
    try:
        return int(parts[1])
    except ValueError:
        raise ResponseError(f"malformed status line {line[:80]!r}") from None


def parse_headers(head: bytes) -> CIMultiDict[str]:
    """The headers of a response head, looked up without regard to case."""
    headers: CIMultiDict[str] = CIMultiDict()
    for line in head.split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon:
            headers.add(name.strip().decode("latin-1"), value.strip().decode("latin-1"))
    return headers


def settle(done: asyncio.Future[Response]) -> None:
    """Close ``done`` for good once its probe is over, read or not.

    A probe cancelled by its timeout leaves a connection that ends later; its end must
    neither fill a future nobody reads nor be reported as an error never retrieved.
    """
    if not done.done():
        done.cancel()
    elif not done.cancelled():
        done.exception()


class ResponseReader:
    """Reads one response from the bytes given, without doing any I/O itself.

    The head is always read; the headers are parsed when asked for; the body is read up
    to ``body_limit`` bytes, framed by Content-Length, chunks or the end of the
    connection. Both ways a probe talks to a target (a bare socket, a TLS transport)
    feed the same reader, so they judge the same bytes the same way.

    Args:
        head_only: The method was HEAD: no body follows whatever the headers say.
        want_headers: Parse the headers into the response.
        body_limit: Bytes of body to read; 0 reads none.
    """

    def __init__(self, *, head_only: bool, want_headers: bool, body_limit: int) -> None:
        self._head_only = head_only
        self._want_headers = want_headers or body_limit > 0
        self._body_limit = body_limit
        self._buffer = bytearray()
        self._status = 0
        self._headers: CIMultiDict[str] = CIMultiDict()
        self._body: _Body | None = None

    def feed(self, data: bytes) -> Response | None:
        """Take the next bytes received.

        Returns:
            The response once complete (as far as it was asked for), else None.

        Raises:
            ResponseError: The bytes are not an HTTP/1.x response.
        """
        if self._body is not None:
            return self._response() if self._body.feed(data) else None
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEAD:
                raise ResponseError(f"response head longer than {MAX_HEAD} bytes")
            return None
        head = bytes(self._buffer[:end])
        rest = bytes(self._buffer[end + 4 :])
        self._buffer.clear()
        self._status = parse_status(head)
        if self._want_headers:
            self._headers = parse_headers(head)
        if self._body_limit == 0 or self._head_only or self._status in NO_BODY_STATUSES:
            return self._response()
        self._body = _Body.of(self._headers, self._body_limit)
        return self._response() if self._body.feed(rest) else None

    def end(self) -> Response:
        """The connection ended: the response as read so far.

        Raises:
            ServerDisconnected: The head had not arrived in full.
        """
        if self._body is None:
            raise ServerDisconnected("server disconnected")
        return self._response()

    def _response(self) -> Response:
        body = b"" if self._body is None else self._body.content()
        return Response(self._status, self._headers, body)


class Exchange(asyncio.Protocol):
    """Writes one request on connecting, then fills ``done`` with what ``reader`` read.

    ``done`` holds the :class:`Response`, or the error that ended the exchange: a
    :class:`ResponseError`, :class:`ServerDisconnected`, or the socket's error.

    Args:
        request: The request bytes.
        reader: Reads the response.
        done: The future to fill.
    """

    def __init__(
        self, request: bytes, reader: ResponseReader, done: asyncio.Future[Response]
    ) -> None:
        self._request = request
        self._reader = reader
        self.done = done

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Send the request."""
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        """Feed the reader; fill ``done`` once the response is complete."""
        if self.done.done():
            return
        try:
            response = self._reader.feed(data)
        except ResponseError as exc:
            self.done.set_exception(exc)
            return
        if response is not None:
            self.done.set_result(response)

    def eof_received(self) -> bool:
        """The server closed its side: what was read is all there is."""
        self._end()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection ended; a response not yet complete fails with the reason."""
        if exc is not None and not self.done.done():
            self.done.set_exception(exc)
        self._end()

    def _end(self) -> None:
        if self.done.done():
            return
        try:
            self.done.set_result(self._reader.end())
        except ServerDisconnected as exc:
            self.done.set_exception(exc)


class _Body:
    """Collects a body up to a limit, framed by Content-Length, chunks or the close."""

    def __init__(self, length: int | None, chunked: bool, limit: int) -> None:
        self._length = length
        self._chunked = chunked
        self._limit = limit
        self._raw = bytearray()
        self._content = bytearray()

    @classmethod
    def of(cls, headers: CIMultiDict[str], limit: int) -> _Body:
        """The body framing the headers announce."""
        chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
        length: int | None = None
        if not chunked and headers.get("Content-Length", "").strip().isdigit():
            length = int(headers["Content-Length"])
        return cls(length, chunked, limit)

    def feed(self, data: bytes) -> bool:
        """Take more bytes; True once the body has ended or the limit is reached."""
        if not self._chunked:
            self._content += data
            wanted = self._limit if self._length is None else min(self._limit, self._length)
            return len(self._content) >= wanted
        self._raw += data
        return self._dechunk() or len(self._content) >= self._limit

    def content(self) -> bytes:
        """The body read so far, at most the limit."""
        return bytes(self._content[: self._limit])

    def _dechunk(self) -> bool:
        """Move complete chunks from the raw bytes to the content; True at the last one."""
        while True:
            line_end = self._raw.find(b"\r\n")
            if line_end < 0:
                return False
            size_text = bytes(self._raw[:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                return True  # not chunked after all: keep what was read
            if size == 0:
                return True
            if len(self._raw) < line_end + 2 + size + 2:
                return False
            start = line_end + 2
            self._content += self._raw[start : start + size]
            del self._raw[: start + size + 2]
