"""Library for applications and the CLI: ask gtm where a service is, and be told when it moves.

Applications keep a small map-cache of the answers and long-poll for changes, so they
learn about a move as soon as it is published instead of waiting out a DNS TTL.

Example::

    async with GtmClient("http://127.0.0.1:18080") as gtm:
        mapping = await gtm.resolve("billing")
        async for mapping in gtm.watch("billing"):
            print(mapping.active_site, [loc.address for loc in mapping.best()])
"""

from __future__ import annotations

import asyncio
import errno
import json
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp

from gtm.core.codec import event_from_dict, intent_from_dict, mapping_from_dict
from gtm.core.journal import EventKind
from gtm.core.model import Event, Intent, IntentKind, Mapping
from gtm.core.readiness import ServiceReleases, releases_from_dict
from gtm.core.reports import (
    BatchReport,
    ProviderReport,
    batch_report_from_dict,
    provider_report_from_dict,
)
from gtm.core.runbook import Run, RunKind, RunOptions, run_from_dict
from gtm.core.status import VantageStatus, vantage_status
from gtm.errors import (
    ApiUnreachable,
    ConflictError,
    GtmError,
    NotFound,
    Rejected,
    SafetyRefused,
    Unauthorized,
    Unavailable,
)
from gtm.feed import (
    EventStreamParser,
    FeedItem,
    JournalEntry,
    Lost,
    MappingChange,
    Regained,
    RunProgress,
    Snapshot,
    feed_item,
)

FEED_RETRY_MIN = 0.1
"""Seconds before the first attempt to reconnect a feed; doubled after each failure."""

FEED_RETRY_MAX = 5.0
"""Longest pause between attempts to reconnect a feed, by default."""

FEED_QUIET = 45.0
"""Seconds of silence (three missed heartbeats) after which a feed counts as lost."""

FEED_CATCH_UP = 1000
"""Most journal events a feed fetches after gtm restarted (the API's own cap)."""

_ACCESS_CODES = frozenset({"unauthorized", "forbidden", "insufficient_scope", "read_only"})
"""The API's error codes for a change refused for want of a token (see gtm.api.auth)."""


@dataclass(frozen=True, slots=True)
class IntentRequest:
    """An intent to create: what it does, to which service and site, and why."""

    kind: IntentKind
    why: str
    service: str | None = None
    """None: every service."""
    site: str | None = None
    ttl: float | None = None
    """Seconds until the intent withdraws itself; None: it stands until withdrawn."""
    force: bool = False
    """For a pin: pin even to a site that is down (needs scope admin)."""
    who: str | None = None
    """On whose behalf, when not the token's holder."""


@dataclass(frozen=True, slots=True)
class RunRequest:
    """A planned run to start: a failover (to ``to``, or the next healthy site) or a
    failback."""

    kind: RunKind
    service: str
    reason: str
    options: RunOptions
    to: str | None = None


def intent_request_to_dict(request: IntentRequest) -> dict[str, Any]:
    """The body of ``POST /v1/intents``: the request's fields that are set."""
    body: dict[str, Any] = {"kind": request.kind.value, "why": request.why}
    for name in ("service", "site", "ttl", "who"):
        value = getattr(request, name)
        if value is not None:
            body[name] = value
    if request.force:
        body["force"] = True
    return body


def _moves(reason: str, options: RunOptions) -> dict[str, Any]:
    """The fields every move request shares (see ``gtm.api.runs.Moves``)."""
    return {
        "reason": reason,
        "drain": options.drain,
        "lower_ttl": options.lower_ttl,
        "hold": options.hold,
        "verify_timeout": options.verify_timeout,
        "force": options.force,
        "dry_run": options.dry_run,
        "replace_intents": options.replace_intents,
    }


class GtmClient:
    """A client of the sidecar API with a local map-cache.

    Args:
        base_url: the API's address, e.g. ``http://127.0.0.1:18080``.
        token: bearer token for intents (write operations); reads need none.
        timeout: seconds to wait for one ordinary request.
    """

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 5.0) -> None:
        self._base = base_url.rstrip("/")
        self._token = token
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._cache: dict[str, Mapping] = {}

    async def __aenter__(self) -> GtmClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def cached(self, service: str) -> Mapping | None:
        """The last mapping seen for ``service``, without asking the server."""
        return self._cache.get(service)

    async def resolve(self, service: str) -> Mapping:
        """The current mapping of ``service``; raises NotFound for an unknown name."""
        mapping = mapping_from_dict(await self._request("GET", f"/v1/services/{service}"))
        self._cache[service] = mapping
        return mapping

    async def services(self) -> list[Mapping]:
        """Every published mapping."""
        doc = await self._request("GET", "/v1/services")
        mappings = [mapping_from_dict(item) for item in doc["services"]]
        self._cache.update({m.service: m for m in mappings})
        return mappings

    async def watch(self, service: str, wait: float = 30.0) -> AsyncIterator[Mapping]:
        """Yield the current mapping, then each newer version as soon as it is published.

        Errors while the server is unreachable are retried with backoff; the last known
        mapping stays in the cache meanwhile.
        """
        index = 0
        backoff = 0.1
        while True:
            try:
                doc = await self._request(
                    "GET",
                    f"/v1/services/{service}",
                    params={"index": str(index), "wait": f"{wait}s"},
                    timeout=wait + self._timeout,
                )
            except Unavailable:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.1
            mapping = mapping_from_dict(doc)
            if mapping.version > index:
                index = mapping.version
                self._cache[service] = mapping
                yield mapping

    async def feed(
        self, services: Sequence[str] = (), *, retry_max: float = FEED_RETRY_MAX
    ) -> AsyncIterator[FeedItem]:
        """Every change of every service (or of ``services``) and every journal event, live.

        Yields a :class:`Snapshot` of the mappings first, then each :class:`MappingChange`,
        :class:`JournalEntry` and :class:`RunProgress` as gtm publishes it (``GET
        /v1/stream``). When the
        connection breaks, or stays silent past three heartbeats, it yields :class:`Lost`
        once and retries with a growing pause (up to ``retry_max`` seconds); once gtm
        answers again, :class:`Regained`, then what happened meanwhile: the changes gtm
        replays, or, when it cannot (it restarted), the journal events recorded since the
        last one seen and a new :class:`Snapshot`. A journal event is yielded once.

        Raises:
            ApiUnreachable: The first connection found no gtm (a wrong address should not
                wait in silence).
            Rejected: gtm refused the request (an unknown service, for one).
        """
        params = [("service", name) for name in services]
        last_id: str | None = None
        journal = _JournalMark()
        backoff = FEED_RETRY_MIN
        outage: Lost | None = None
        started = False
        while True:
            headers = self._auth() | ({} if last_id is None else {"Last-Event-ID": last_id})
            parser = EventStreamParser()
            parser.last_id = last_id
            try:
                async with self._http().get(
                    self._base + "/v1/stream",
                    params=params,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(
                        total=None, sock_connect=self._timeout, sock_read=FEED_QUIET
                    ),
                ) as answer:
                    if answer.status != 200:
                        text = await answer.text()
                        raise _refused("GET", str(answer.url), answer.status, _doc(text), text)
                    if outage is not None:
                        yield Regained(self._base)
                        outage, backoff = None, FEED_RETRY_MIN
                    async for chunk in answer.content.iter_any():
                        for raw in parser.feed(chunk):
                            item = feed_item(raw)
                            last_id = parser.last_id
                            if isinstance(item, Snapshot):
                                self._cache.update({m.service: m for m in item.mappings})
                                if started:
                                    for event in await self._missed(journal, services):
                                        yield JournalEntry(event)
                                else:
                                    journal.start(await self.events(limit=1))
                                    started = True
                                yield item
                            elif isinstance(item, MappingChange):
                                self._cache[item.mapping.service] = item.mapping
                                yield item
                            elif isinstance(item, RunProgress) or (
                                isinstance(item, JournalEntry) and journal.new(item.event)
                            ):
                                yield item
                reason = "gtm closed the stream"
            except (aiohttp.ClientError, TimeoutError) as exc:
                if not started and isinstance(exc, aiohttp.ClientConnectorError):
                    raise self._failed("GET", "/v1/stream", exc, self._timeout) from exc
                reason = _lost(exc)
            except Unavailable as exc:
                if not started and isinstance(exc, ApiUnreachable):
                    raise
                reason = str(exc).removeprefix("gtm api: ")
            if outage is None:
                outage = Lost(self._base, reason, backoff)
                yield outage
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, retry_max)

    async def _missed(self, journal: _JournalMark, services: Sequence[str]) -> list[Event]:
        """The journal events after the last one seen, of ``services`` when given."""
        found = await self.events(since=journal.time, limit=FEED_CATCH_UP)
        # An event stamped with the same time as the last one seen may be older than it.
        floor = journal.seq
        return [
            event
            for event in found
            if event.seq > floor
            and (not services or event.service in services)
            and journal.new(event)
        ]

    async def events(
        self,
        service: str | None = None,
        since: float | None = None,
        limit: int = 100,
        *,
        site: str | None = None,
        until: float | None = None,
        kind: EventKind | None = None,
    ) -> list[Event]:
        """Journal events, oldest first, filtered by service, site, kind and time."""
        params = {"limit": str(limit)}
        for name, value in (("service", service), ("site", site), ("kind", kind)):
            if value:
                params[name] = str(value)
        for name, moment in (("since", since), ("until", until)):
            if moment is not None:
                params[name] = str(moment)
        doc = await self._request("GET", "/v1/events", params=params)
        return [event_from_dict(item) for item in doc["events"]]

    async def intents(self) -> list[Intent]:
        """Standing operator intents."""
        doc = await self._request("GET", "/v1/intents")
        return [intent_from_dict(item) for item in doc["intents"]]

    async def add_intent(self, request: IntentRequest) -> Intent:
        """Create an intent (pin, drain, freeze); needs a token with write access."""
        body = intent_request_to_dict(request)
        return intent_from_dict(await self._request("POST", "/v1/intents", body=body))

    async def remove_intent(self, intent_id: str) -> Intent:
        """Delete an intent by id; needs a token with write access."""
        return intent_from_dict(await self._request("DELETE", f"/v1/intents/{intent_id}"))

    async def start_run(self, request: RunRequest) -> Run:
        """Start a planned failover or failback (``POST /v1/runs``); needs scope operate.

        With ``dry_run`` in its options the run carries its preview and has changed nothing.
        """
        body = {
            "kind": request.kind.value,
            "service": request.service,
            **({} if request.to is None else {"to": request.to}),
            **_moves(request.reason, request.options),
        }
        return run_from_dict(await self._request("POST", "/v1/runs", body=body, timeout=60))

    async def run(self, run_id: str, revision: int | None = None, wait: float = 30.0) -> Run:
        """A run; with ``revision``, as soon as it changes past it (long poll)."""
        params = None if revision is None else {"revision": str(revision), "wait": str(wait)}
        doc = await self._request(
            "GET", f"/v1/runs/{run_id}", params=params, timeout=wait + self._timeout
        )
        return run_from_dict(doc)

    async def runs(self, limit: int | None = None) -> list[Run]:
        """The latest runs, oldest first: ``limit`` of them, or the server's default (100)."""
        params = None if limit is None else {"limit": str(limit)}
        doc = await self._request("GET", "/v1/runs", params=params)
        return [run_from_dict(item) for item in doc["runs"]]

    async def vantage(self) -> VantageStatus:
        """Whether the instance answering is degraded, and why (from ``/healthz``)."""
        return vantage_status(await self._request("GET", "/healthz"))

    async def cluster(self) -> dict[str, Any]:
        """The cluster as the instance answering sees it (``GET /v1/cluster``):
        ``{"cluster": false}`` for a lone instance."""
        doc: dict[str, Any] = await self._request("GET", "/v1/cluster")
        return doc

    async def abort_run(self, run_id: str) -> Run:
        """Ask a running run to stop and roll back."""
        return run_from_dict(await self._request("POST", f"/v1/runs/{run_id}/abort"))

    async def evacuate(
        self,
        site: str,
        reason: str,
        options: RunOptions,
        parallel: int = 8,
        timeout: float = 3600,
    ) -> BatchReport:
        """Move every service off a site, at most ``parallel`` at once; answers when all
        runs ended."""
        body = {"site": site, "parallel": parallel, **_moves(reason, options)}
        doc = await self._request("POST", "/v1/evacuations", body=body, timeout=timeout)
        return batch_report_from_dict(doc)

    async def drill(
        self, service: str, reason: str, options: RunOptions, timeout: float = 3600
    ) -> BatchReport:
        """Move a service to its next site and back; answers with both runs."""
        body = {"service": service, **_moves(reason, options)}
        doc = await self._request("POST", "/v1/drills", body=body, timeout=timeout)
        return batch_report_from_dict(doc)

    async def locators(self, service: str | None = None) -> list[dict[str, Any]]:
        """Every locator's probe detail (of ``service`` only when given), as the API says it."""
        params = {"service": service} if service else None
        doc = await self._request("GET", "/v1/locators", params=params)
        locators: list[dict[str, Any]] = doc["locators"]
        return locators

    async def releases(self, service: str | None = None) -> list[ServiceReleases]:
        """Each service's release by site and whether they drift (of ``service`` only
        when given)."""
        params = {"service": service} if service else None
        doc = await self._request("GET", "/v1/releases", params=params)
        return [releases_from_dict(item) for item in doc["services"]]

    async def providers(self) -> list[ProviderReport]:
        """Each provider's status: last success, last error, pending changes."""
        doc = await self._request("GET", "/v1/providers")
        return [provider_report_from_dict(item) for item in doc["providers"]]

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        url = self._base + path
        seconds = timeout or self._timeout
        try:
            async with self._http().request(
                method,
                url,
                params=params,
                json=body,
                headers=self._auth(),
                timeout=aiohttp.ClientTimeout(total=seconds),
            ) as answer:
                text = await answer.text()
                status = answer.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._failed(method, path, exc, seconds) from exc
        try:
            doc: dict[str, Any] = json.loads(text) if text else {}
        except json.JSONDecodeError as exc:
            raise GtmError(f"gtm api: {method} {url}: answer is not JSON: {text[:200]!r}") from exc
        if status < 400:
            return doc
        raise _refused(method, url, status, doc, text)

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    def _failed(self, method: str, path: str, exc: BaseException, seconds: float) -> GtmError:
        """The error for a request that got no answer: unreachable, or cut off."""
        if isinstance(exc, aiohttp.ClientConnectorError):
            # Nothing listens there, or no such host: the address, not the request, is wrong.
            reason = _no_connection(exc)
            return ApiUnreachable(
                f"gtm api: no answer from {self._base} to {method} {path}: {reason}",
                url=self._base,
                reason=reason,
            )
        return Unavailable(f"gtm api: {method} {self._base + path}: {_failure(exc, seconds)}")


def _refused(method: str, url: str, status: int, doc: dict[str, Any], text: str) -> GtmError:
    """The error for an answer of ``status`` 400 or above, from its JSON ``doc``."""
    message = str(doc.get("message", text.strip() or f"HTTP {status}"))
    code = str(doc.get("error", ""))
    if status == 404:
        return NotFound(message)
    if status >= 500:
        return Unavailable(f"gtm api: {method} {url}: {message}")
    full = f"gtm api: {method} {url}: {message} (HTTP {status})"
    if status in (401, 403) and code in _ACCESS_CODES:
        return Unauthorized(
            full,
            code=code,
            needed=_text(doc.get("needed")),
            token=_text(doc.get("token")),
            scope=_text(doc.get("scope")),
        )
    if code == "safety_refused":
        return SafetyRefused(full)
    if code == "conflict":
        return ConflictError(full)
    return Rejected(full)


class _JournalMark:
    """How far a feed has read the journal, and the events it has already yielded."""

    def __init__(self) -> None:
        self.seq = 0
        self.time: float | None = None
        self._yielded: deque[int] = deque(maxlen=FEED_CATCH_UP)

    def start(self, newest: list[Event]) -> None:
        """Count from the newest event in the journal when the feed began."""
        if newest:
            self.seq, self.time = newest[-1].seq, newest[-1].time

    def new(self, event: Event) -> bool:
        """Whether ``event`` was not yielded yet (and remember that it now is)."""
        if event.seq in self._yielded:
            return False
        self._yielded.append(event.seq)
        if event.seq > self.seq:
            self.seq, self.time = event.seq, event.time
        return True


def _doc(text: str) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _lost(exc: BaseException) -> str:
    """Why a stream broke, in a few words."""
    if isinstance(exc, TimeoutError):
        return f"no word from gtm within {FEED_QUIET:g}s"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return _no_connection(exc)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return "the connection was cut"
    return str(exc) or type(exc).__name__


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _no_connection(exc: aiohttp.ClientConnectorError) -> str:
    """Why no connection was made, in a few words, without aiohttp's ``ssl:default``."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"host name {exc.host!r} not found"
    cause = exc.os_error
    if isinstance(cause, ConnectionRefusedError) or cause.errno == errno.ECONNREFUSED:
        return "connection refused"
    return cause.strerror or str(cause) or type(cause).__name__


def _failure(exc: BaseException, timeout: float) -> str:
    """How a request to a reachable API failed, in a few words."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g}s"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection without answering"
    return str(exc) or type(exc).__name__
