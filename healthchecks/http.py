"""HTTP(S) probe: the check most services are judged by.

Every probe opens a fresh connection. Reusing a kept-alive connection would save a
loopback connect (tens of microseconds, measured by ``benchmarks/scale.py``) but would hide
failures: a pooled connection can carry a request through to a process whose listener has
died, or hide that new connections are refused, and new connections are what clients make.
What is shared is what cannot hide a failure: the TLS contexts (loading the trusted
certificates costs milliseconds) and the request bytes, built once per probe.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import NamedTuple

from yarl import URL

from healthchecks.exchange import (
    Exchange,
    Response,
    ResponseError,
    ResponseReader,
    ServerDisconnected,
    build_request,
    settle,
)
from healthchecks.load import LoadReader
from healthchecks.reasons import describe_timeout, describe_tls_error
from healthchecks.release import ReleaseRule
from healthchecks.result import Result, Stopwatch

MAX_BODY = 1 << 20
"""Bytes of a response body searched for ``body_contains``, a release or a load; a health page is
small, and a target answering with an endless body must not exhaust the prober's memory."""


RECEIVE_SIZE = 64 * 1024
"""Bytes asked of the socket per read; a health answer usually arrives in one."""


def address_family(host: str) -> socket.AddressFamily | None:
    """The family of an address literal; None when ``host`` is a name to look up."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return socket.AF_INET6 if address.version == 6 else socket.AF_INET


class HttpClient:
    """What every HTTP probe of a process shares: its TLS contexts and its source address.

    Making a verifying TLS context loads the system's trusted certificates, which takes
    milliseconds; thousands of checks each making their own would spend a core on it.
    The owner (the process that builds the checks) creates one client, hands it to every
    ``HttpProbe`` and closes it on shutdown; connections are never shared (see the module
    docstring).
    """

    def __init__(self, source: str | None = None) -> None:
        """Create a client; its contexts are made on first use.

        Args:
            source: The local address probes leave from (a host with several, or several
                gtm instances on one host, each probing from its own); None: the system's
                choice.
        """
        self.source = source
        self._contexts: dict[bool, ssl.SSLContext] = {}

    def tls_context(self, verify: bool) -> ssl.SSLContext:
        """The shared TLS context that verifies certificates, or the one that does not.

        Args:
            verify: Whether the certificate and the host name must verify.
        """
        context = self._contexts.get(verify)
        if context is None:
            context = ssl.create_default_context()
            if not verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._contexts[verify] = context
        return context

    async def close(self) -> None:
        """Drop the contexts; the client may be used again after."""
        self._contexts.clear()

    async def __aenter__(self) -> HttpClient:
        """Use the client as an async context manager that closes it on exit."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the client."""
        await self.close()


@dataclass(frozen=True, slots=True)
class HttpProbe:
    """Send one request and judge the response by its status and, optionally, its body.

    Redirects are not followed: the status of the endpoint itself is what is judged, so a
    redirect passes only when its status is in ``expect_status``.

    Attributes:
        host: Address or name to connect to.
        port: TCP port.
        path: Path and optional query of the request.
        scheme: ``"http"`` or ``"https"``.
        method: HTTP method.
        expect_status: Statuses that count as healthy.
        body_contains: Text the first ``MAX_BODY`` bytes of the body must contain.
        headers: Extra request headers.
        host_header: Host name to send in the ``Host`` header instead of ``host``; for
            https also the TLS server name the certificate is checked against.
        tls_verify: Whether an https target's certificate must verify.
        release: How to read the release the target runs from its answer (whatever
            its status); None reads none.
        load: Where the answer carries the replica's load figure, if it does; the
            figure is read only from an answer whose status is accepted and reported in
            the result's ``load``.
        client: The shared HTTP client; probes leave from its source address.
    """

    host: str
    port: int
    path: str = "/"
    scheme: str = "http"
    method: str = "GET"
    expect_status: frozenset[int] = frozenset({200})
    body_contains: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict, hash=False)
    host_header: str | None = None
    tls_verify: bool = True
    release: ReleaseRule | None = None
    load: LoadReader | None = None
    client: HttpClient = field(kw_only=True, compare=False, repr=False)
    _request: bytes = field(init=False, repr=False, compare=False)
    _family: socket.AddressFamily | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Refuse a probe that could never pass; build its request once."""
        if self.scheme not in ("http", "https"):
            raise ValueError(f"http probe: scheme {self.scheme!r} is not http or https")
        if not self.expect_status:
            raise ValueError("http probe: expect_status is empty, no response could pass")
        url = self.url
        host = self.host_header or (url.raw_authority if url.explicit_port else url.raw_host)
        request = build_request(self.method, url.raw_path_qs, str(host), dict(self.headers))
        object.__setattr__(self, "_request", request)
        object.__setattr__(self, "_family", address_family(self.host))

    async def _plain(self, reader: ResponseReader, family: socket.AddressFamily) -> Response:
        """Plain HTTP to an address: a bare non-blocking socket, no transport around it.

        A connection that is up as soon as ``connect`` returns (a near target: the
        handshake is done in the call) takes the request at once; one still connecting
        is waited for first. Either way a failed connection raises its own error.
        """
        loop = asyncio.get_running_loop()
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            if self.client.source is not None:
                sock.bind((self.client.source, 0))
            address = (self.host, self.port)
            sent = _connect_and_send(sock, address, self._request)
            if sent is None:
                await loop.sock_connect(sock, address)
                sent = 0
            if sent < len(self._request):
                await loop.sock_sendall(sock, self._request[sent:])
            return await _read_response(loop, sock, reader)
        finally:
            # Whatever the outcome, the connection ends with the probe: never reused.
            sock.close()

    async def _over_transport(self, reader: ResponseReader) -> Response:
        """HTTPS, or a host that is a name: asyncio's transport, which does TLS and lookups."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Response] = loop.create_future()
        tls = self.scheme == "https"
        try:
            transport, _ = await loop.create_connection(
                lambda: Exchange(self._request, reader, done),
                self.host,
                self.port,
                ssl=self.client.tls_context(self.tls_verify) if tls else None,
                server_hostname=(self.host_header or self.host) if tls else None,
                local_addr=None if self.client.source is None else (self.client.source, 0),
            )
            try:
                return await done
            finally:
                transport.close()
        finally:
            settle(done)

    @property
    def url(self) -> URL:
        """The URL requested."""
        return URL.build(scheme=self.scheme, host=self.host, port=self.port).join(URL(self.path))

    async def probe(self, timeout: float) -> Result:
        """Request the URL on a fresh connection and judge the response.

        Args:
            timeout: Seconds allowed for connecting, the request and reading the body.

        Returns:
            The result; a failure names the status, the missing text or the error.
        """
        watch = Stopwatch()
        try:
            async with asyncio.timeout(timeout):
                answer = await self._exchange()
        except TimeoutError:
            return watch.result(False, describe_timeout(timeout))
        except ssl.SSLError as exc:
            return watch.result(False, describe_tls_error(exc))
        except ResponseError as exc:
            return watch.result(False, f"malformed response: {exc}")
        except ServerDisconnected:
            return watch.result(False, "server disconnected")
        except OSError as exc:
            return watch.socket_error(exc)
        return watch.result(answer.ok, answer.reason, release=answer.release, load=answer.load)

    async def _exchange(self) -> _Answer:
        needs_body = self.body_contains is not None or any(
            reader is not None and reader.needs_body for reader in (self.release, self.load)
        )
        reader = ResponseReader(
            head_only=self.method == "HEAD",
            want_headers=self.release is not None or self.load is not None,
            body_limit=MAX_BODY if needs_body else 0,
        )
        if self.scheme == "http" and self._family is not None:
            response = await self._plain(reader, self._family)
        else:
            response = await self._over_transport(reader)
        # The release is read whatever the status: a failing replica still runs one.
        release = (
            None if self.release is None else self.release.read(response.headers, response.body)
        )
        if response.status not in self.expect_status:
            wanted = ", ".join(str(status) for status in sorted(self.expect_status))
            return _Answer(False, f"status {response.status} not in {{{wanted}}}", release)
        # A load figure counts only from an answer that passes (an error page's is not one).
        figure = None if self.load is None else self.load.read(response.headers, response.body)
        if self.body_contains is not None and self.body_contains.encode() not in response.body:
            reason = f"body does not contain {self.body_contains!r}"
            return _Answer(False, reason, release, figure)
        return _Answer(True, f"status {response.status}", release, figure)


IN_PROGRESS = frozenset({errno.EINPROGRESS, errno.EAGAIN, errno.EALREADY, errno.EINTR})
"""What a non-blocking ``connect`` returns while the handshake goes on."""


def _connect_and_send(sock: socket.socket, address: tuple[str, int], request: bytes) -> int | None:
    """Start connecting ``sock`` and, if the connection is already up, send ``request``.

    Returns:
        The bytes of ``request`` sent, or None while the connection is still being made.

    Raises:
        OSError: The connection failed (refused, unreachable), as ``connect`` reports it.
    """
    error = sock.connect_ex(address)
    if error and error not in IN_PROGRESS:
        raise OSError(error, os.strerror(error))
    try:
        # While connecting, a send fails with EAGAIN; once the connection has failed, with
        # the connection's own error.
        return sock.send(request)
    except (BlockingIOError, InterruptedError):
        return None


async def _read_response(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, reader: ResponseReader
) -> Response:
    """Feed ``reader`` what ``sock`` receives until the response is complete or ends.

    One watch of the socket for the whole response, rather than one per read.
    """
    done: asyncio.Future[Response] = loop.create_future()
    fd = sock.fileno()
    loop.add_reader(fd, _receive, sock, reader, done)
    try:
        return await done
    finally:
        loop.remove_reader(fd)


def _receive(sock: socket.socket, reader: ResponseReader, done: asyncio.Future[Response]) -> None:
    """The socket is readable: read once, and fill ``done`` when the response is complete."""
    if done.done():
        return
    try:
        data = sock.recv(RECEIVE_SIZE)
    except (BlockingIOError, InterruptedError):
        return
    except OSError as exc:
        done.set_exception(exc)
        return
    try:
        response = reader.feed(data) if data else reader.end()
    except (ResponseError, ServerDisconnected) as exc:
        done.set_exception(exc)
        return
    if response is not None:
        done.set_result(response)


class _Answer(NamedTuple):
    """What one exchange told: the verdict, its reason, and the figures read on the way."""

    ok: bool
    reason: str
    release: str | None = None
    load: float | None = None


@dataclass(frozen=True, slots=True)
class HttpsProbe(HttpProbe):
    """An ``HttpProbe`` whose scheme defaults to https."""

    scheme: str = "https"
