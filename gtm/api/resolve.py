"""Resolve and watch: where a service is now, and a long poll that answers when it moves.

This is the hot path of the sidecar, so it stays lean: mappings come from the registry's
in-memory cache, encoded bodies are reused until the mapping changes, and nothing is
logged per request.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from aiohttp import web
from multidict import MultiMapping

from gtm.api.deps import ApiDeps, ApiRegistry
from gtm.api.documents import JSON, encode
from gtm.api.errors import RETRY_AFTER, ApiError
from gtm.api.query import param, parse_index, parse_wait
from gtm.core.codec import Document, mapping_to_dict
from gtm.core.model import Mapping

UNKNOWN_MAX_AGE = 5
"""Seconds a client may cache "no such service" (a negative answer, as in DNS)."""


def mapping_document(mapping: Mapping) -> Document:
    """The resolve answer: the mapping plus the ids of the locators traffic goes to now."""
    doc = mapping_to_dict(mapping)
    doc["best"] = [loc.id for loc in mapping.best()]
    return doc


@dataclass(frozen=True, slots=True)
class EncodedMapping:
    """A resolve answer ready to send: the mapping, its JSON body and its headers."""

    mapping: Mapping
    body: bytes
    headers: dict[str, str]
    """ETag, Cache-Control, X-Gtm-Index and Content-Type; aiohttp copies them per answer."""


def encode_mapping(mapping: Mapping) -> EncodedMapping:
    """The answer for ``mapping``, encoded once."""
    version = str(mapping.version)
    headers = {
        "ETag": f'"{version}"',
        "Cache-Control": f"max-age={mapping.ttl}",
        "X-Gtm-Index": version,
        "Content-Type": JSON,
    }
    return EncodedMapping(mapping, encode(mapping_document(mapping)), headers)


class MappingAnswers:
    """Encoded resolve answers, one per service, reused while its mapping stays the same."""

    def __init__(self) -> None:
        self._answers: dict[str, EncodedMapping] = {}

    def answer(self, mapping: Mapping) -> EncodedMapping:
        """The encoded answer for ``mapping``."""
        cached = self._answers.get(mapping.service)
        # The registry hands out the same object until it changes, so identity is the
        # usual hit; equality covers registries that rebuild equal mappings, and also a
        # change of reason that does not bump the version.
        if cached is not None and (cached.mapping is mapping or cached.mapping == mapping):
            return cached
        encoded = encode_mapping(mapping)
        self._answers[mapping.service] = encoded
        return encoded


class Resolver:
    """Answers ``/v1/services`` and ``/v1/services/{name}``, including long polls.

    Args:
        deps: The registry, the configured services and the long-poll cap.
    """

    def __init__(self, deps: ApiDeps) -> None:
        self._registry: ApiRegistry = deps.registry
        self._known = frozenset(deps.services)
        self._known_text = ", ".join(sorted(deps.services)) or "(none configured)"
        self._max_wait = deps.max_wait
        self._answers = MappingAnswers()
        self._closing = asyncio.Event()
        self._held = deps.metrics.long_polls

    def routes(self) -> list[web.RouteDef]:
        """The routes this resolver answers."""
        return [
            web.get("/v1/services", self.list_services),
            web.get("/v1/services/{name}", self.get_service),
        ]

    async def list_services(self, request: web.Request) -> web.Response:
        """Every current mapping."""
        bodies = [self._answers.answer(mapping).body for mapping in self._registry.mappings()]
        return web.Response(body=b'{"services":[' + b",".join(bodies) + b"]}", content_type=JSON)

    async def get_service(self, request: web.Request) -> web.Response:
        """The mapping of one service, at once or, with ``index``, once it passes it."""
        name = request.match_info["name"]
        mapping = self._registry.get(name)
        if mapping is None and name not in self._known:
            raise self._unknown(name)
        if request.query_string:
            mapping = await self._long_poll(name, mapping, request.query)
        if mapping is None:
            raise self._not_ready(name)
        return self._answer(request, mapping)

    async def close(self, app: web.Application) -> None:
        """Answer every pending long poll now, so shutting down does not wait them out."""
        self._closing.set()

    async def _long_poll(
        self, name: str, mapping: Mapping | None, query: MultiMapping[str]
    ) -> Mapping | None:
        wait_text = param(query, "wait")
        index_text = param(query, "index")
        wait = self._max_wait if wait_text is None else parse_wait(wait_text, self._max_wait)
        if index_text is None:
            return mapping
        index = parse_index(index_text)
        passed = mapping is not None and mapping.version > index
        if passed or wait <= 0 or self._closing.is_set():
            return mapping
        changed = await self._wait(name, index, wait)
        return changed if changed is not None else self._registry.get(name)

    async def _wait(self, name: str, index: int, wait: float) -> Mapping | None:
        change = asyncio.ensure_future(self._registry.wait(name, index, wait))
        closing = asyncio.ensure_future(self._closing.wait())
        self._held.inc()
        try:
            await asyncio.wait((change, closing), return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._held.dec()
            closing.cancel()
            if not change.done():
                change.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await change
        return change.result() if not change.cancelled() else None

    def _answer(self, request: web.Request, mapping: Mapping) -> web.Response:
        encoded = self._answers.answer(mapping)
        if "If-None-Match" in request.headers and _matches(request, mapping.version):
            headers = {k: v for k, v in encoded.headers.items() if k != "Content-Type"}
            return web.Response(status=304, headers=headers)
        return web.Response(body=encoded.body, headers=encoded.headers)

    def _unknown(self, name: str) -> ApiError:
        return ApiError(
            404,
            "not_found",
            f"no service {name!r}; known services: {self._known_text}",
            headers={"Cache-Control": f"max-age={UNKNOWN_MAX_AGE}"},
            detail={"service": name},
        )

    def _not_ready(self, name: str) -> ApiError:
        return ApiError(
            503,
            "not_ready",
            f"the health of service {name!r} is not known yet; retry shortly",
            headers={"Retry-After": RETRY_AFTER, "Cache-Control": "no-store"},
            detail={"service": name},
        )


def _matches(request: web.Request, version: int) -> bool:
    """Whether ``If-None-Match`` names ``version`` (weak comparison, ``*`` matches all)."""
    tags = request.if_none_match or ()
    return any(tag.value in (str(version), "*") for tag in tags)
