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
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import aiohttp

from gtm.core.codec import event_from_dict, intent_from_dict, mapping_from_dict
from gtm.core.model import Event, Intent, Mapping
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

_ACCESS_CODES = frozenset({"unauthorized", "forbidden", "insufficient_scope", "read_only"})
"""The API's error codes for a change refused for want of a token (see gtm.api.auth)."""


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

    async def events(
        self,
        service: str | None = None,
        since: float | None = None,
        limit: int = 100,
        *,
        site: str | None = None,
        until: float | None = None,
        kind: str | None = None,
    ) -> list[Event]:
        """Journal events, oldest first, filtered by service, site, kind and time."""
        params = {"limit": str(limit)}
        for name, value in (("service", service), ("site", site), ("kind", kind)):
            if value:
                params[name] = value
        for name, moment in (("since", since), ("until", until)):
            if moment is not None:
                params[name] = str(moment)
        doc = await self._request("GET", "/v1/events", params=params)
        return [event_from_dict(item) for item in doc["events"]]

    async def intents(self) -> list[Intent]:
        """Standing operator intents."""
        doc = await self._request("GET", "/v1/intents")
        return [intent_from_dict(item) for item in doc["intents"]]

    async def add_intent(self, body: dict[str, Any]) -> Intent:
        """Create an intent (pin, drain, freeze); needs a token with write access."""
        return intent_from_dict(await self._request("POST", "/v1/intents", body=body))

    async def remove_intent(self, intent_id: str) -> Intent:
        """Delete an intent by id; needs a token with write access."""
        return intent_from_dict(await self._request("DELETE", f"/v1/intents/{intent_id}"))

    async def start_run(self, body: dict[str, Any]) -> dict[str, Any]:
        """Start a planned failover or failback (``POST /v1/runs``); needs scope operate."""
        return await self._request("POST", "/v1/runs", body=body, timeout=60)

    async def run(
        self, run_id: str, revision: int | None = None, wait: float = 30.0
    ) -> dict[str, Any]:
        """A run; with ``revision``, as soon as it changes past it (long poll)."""
        params = None if revision is None else {"revision": str(revision), "wait": str(wait)}
        return await self._request(
            "GET", f"/v1/runs/{run_id}", params=params, timeout=wait + self._timeout
        )

    async def runs(self) -> list[dict[str, Any]]:
        """Every run."""
        doc = await self._request("GET", "/v1/runs")
        runs: list[dict[str, Any]] = doc["runs"]
        return runs

    async def abort_run(self, run_id: str) -> dict[str, Any]:
        """Ask a running run to stop and roll back."""
        return await self._request("POST", f"/v1/runs/{run_id}/abort")

    async def evacuate(self, body: dict[str, Any], timeout: float = 3600) -> dict[str, Any]:
        """Move every service off a site; answers when all runs ended."""
        return await self._request("POST", "/v1/evacuations", body=body, timeout=timeout)

    async def drill(self, body: dict[str, Any], timeout: float = 3600) -> dict[str, Any]:
        """Move a service to its next site and back; answers with both runs."""
        return await self._request("POST", "/v1/drills", body=body, timeout=timeout)

    async def providers(self) -> list[dict[str, Any]]:
        """Each provider's status: last success, last error, pending changes."""
        doc = await self._request("GET", "/v1/providers")
        providers: list[dict[str, Any]] = doc["providers"]
        return providers

    async def health(self) -> dict[str, Any]:
        """The server's ``/healthz`` document."""
        return await self._request("GET", "/healthz")

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        url = self._base + path
        seconds = timeout or self._timeout
        try:
            async with self._session.request(
                method,
                url,
                params=params,
                json=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=seconds),
            ) as answer:
                text = await answer.text()
                status = answer.status
        except aiohttp.ClientConnectorError as exc:
            # Nothing listens there, or no such host: the address, not the request, is wrong.
            reason = _no_connection(exc)
            raise ApiUnreachable(
                f"gtm api: no answer from {self._base} to {method} {path}: {reason}",
                url=self._base,
                reason=reason,
            ) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unavailable(f"gtm api: {method} {url}: {_failure(exc, seconds)}") from exc
        try:
            doc: dict[str, Any] = json.loads(text) if text else {}
        except json.JSONDecodeError as exc:
            raise GtmError(f"gtm api: {method} {url}: answer is not JSON: {text[:200]!r}") from exc
        if status < 400:
            return doc
        message = str(doc.get("message", text.strip() or f"HTTP {status}"))
        code = str(doc.get("error", ""))
        if status == 404:
            raise NotFound(message)
        if status >= 500:
            raise Unavailable(f"gtm api: {method} {url}: {message}")
        full = f"gtm api: {method} {url}: {message} (HTTP {status})"
        if status in (401, 403) and code in _ACCESS_CODES:
            raise Unauthorized(
                full,
                code=code,
                needed=_text(doc.get("needed")),
                token=_text(doc.get("token")),
                scope=_text(doc.get("scope")),
            )
        if code == "safety_refused":
            raise SafetyRefused(full)
        if code == "conflict":
            raise ConflictError(full)
        raise Rejected(full)


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
