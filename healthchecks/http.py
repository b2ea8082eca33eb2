"""HTTP(S) probe: the check most services are judged by.

Every probe opens a fresh connection. A pooled keep-alive connection would carry a
request through to a process whose listener has died, or would hide that new
connections are refused, and new connections are what clients make.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import NamedTuple

import aiohttp
from yarl import URL

from healthchecks.load import LoadReader
from healthchecks.reasons import describe_timeout, describe_tls_error
from healthchecks.release import ReleaseRule
from healthchecks.result import Result, Stopwatch

MAX_BODY = 1 << 20
"""Bytes of a response body searched for ``body_contains`` or a release; a health page is
small, and a target answering with an endless body must not exhaust the prober's memory."""


class HttpClient:
    """The one aiohttp session that every HTTP probe of a process shares.

    A session carries a connector, a resolver cache and a cookie jar; thousands of checks
    each making their own would waste all three. The owner (the process that builds the
    checks) creates one client, hands it to every ``HttpProbe`` and closes it on shutdown.
    Ownership is explicit rather than a hidden per-loop global because an aiohttp session
    belongs to the event loop it was made on and must be closed on that loop; an owner
    with a ``close`` makes that lifetime visible. The session itself is created on first
    use, inside the running loop, as aiohttp requires.
    """

    def __init__(self, source: str | None = None) -> None:
        """Create a client; its session is opened by the first probe.

        Args:
            source: The local address probes leave from (a host with several, or several
                gtm instances on one host, each probing from its own); None: the system's
                choice.
        """
        self._session: aiohttp.ClientSession | None = None
        self.source = source

    def session(self) -> aiohttp.ClientSession:
        """The shared session, opened on first call.

        Returns:
            A session whose connector closes each connection after its response, has
            no connection limit of its own (the scheduler bounds concurrency) and keeps
            no cookies, so one probe cannot influence the next.
        """
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                force_close=True,
                limit=0,
                local_addr=None if self.source is None else (self.source, 0),
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
            )
        return self._session

    async def close(self) -> None:
        """Close the session and its connections; the client may be used again after."""
        if self._session is not None:
            await self._session.close()
            self._session = None

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
            figure is reported in the result's ``load``.
        client: The shared HTTP client.
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

    def __post_init__(self) -> None:
        """Refuse a probe that could never pass."""
        if self.scheme not in ("http", "https"):
            raise ValueError(f"http probe: scheme {self.scheme!r} is not http or https")
        if not self.expect_status:
            raise ValueError("http probe: expect_status is empty, no response could pass")

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
        except aiohttp.ClientConnectorCertificateError as exc:
            return watch.result(False, describe_tls_error(exc.certificate_error))
        except aiohttp.ClientConnectorSSLError as exc:
            return watch.result(False, describe_tls_error(exc.os_error))
        except aiohttp.ClientConnectorError as exc:
            return watch.socket_error(exc.os_error)
        except aiohttp.ServerDisconnectedError:
            return watch.result(False, "server disconnected")
        except aiohttp.ClientError as exc:
            return watch.result(False, f"request failed: {exc}")
        except OSError as exc:
            return watch.socket_error(exc)
        return replace(
            watch.result(answer.ok, answer.reason), release=answer.release, load=answer.load
        )

    async def _exchange(self) -> _Answer:
        headers = dict(self.headers)
        if self.host_header is not None:
            headers["Host"] = self.host_header
        async with self.client.session().request(
            self.method,
            self.url,
            headers=headers,
            allow_redirects=False,
            ssl=self.tls_verify,
            server_hostname=self.host_header if self.scheme == "https" else None,
        ) as response:
            needs_body = self.body_contains is not None or any(
                reader is not None and reader.needs_body for reader in (self.release, self.load)
            )
            body = await _read_head(response.content, MAX_BODY) if needs_body else b""
            # The release is read whatever the status: a failing replica still runs one.
            release = None if self.release is None else self.release.read(response.headers, body)
            if response.status not in self.expect_status:
                wanted = ", ".join(str(status) for status in sorted(self.expect_status))
                return _Answer(False, f"status {response.status} not in {{{wanted}}}", release)
            figure = None if self.load is None else self.load.read(response.headers, body)
            if self.body_contains is not None and self.body_contains.encode() not in body:
                reason = f"body does not contain {self.body_contains!r}"
                return _Answer(False, reason, release, figure)
            return _Answer(True, f"status {response.status}", release, figure)


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


async def _read_head(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """Read a body up to ``limit`` bytes, or less when it ends first."""
    body = bytearray()
    while len(body) < limit:
        chunk = await stream.read(limit - len(body))
        if not chunk:
            break
        body += chunk
    return bytes(body)
