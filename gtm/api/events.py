"""The journal over HTTP: what happened to which service, and when.

Operators and dashboards read failover history here; each event carries the timeline
of its steps so durations can be derived by the reader.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from gtm.api.deps import ApiRegistry
from gtm.api.documents import json_response
from gtm.api.errors import bad_request
from gtm.api.query import param, parse_limit, parse_since
from gtm.core.codec import event_to_dict
from gtm.core.journal import EVENT_KINDS

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
"""Most events one answer carries; older history is paged with ``since``."""


class EventFeed:
    """Answers ``/v1/events?service=&site=&kind=&since=&until=&limit=``.

    ``since`` and ``until`` take the CLI's forms: a duration ago (``2h``, ``10m``) or Unix
    seconds.

    Args:
        registry: Where the journal lives.
        clock: Wall clock that ``since=2h`` counts back from.
    """

    def __init__(self, registry: ApiRegistry, clock: Callable[[], float]) -> None:
        self._registry = registry
        self._clock = clock

    def routes(self) -> list[web.RouteDef]:
        """The routes this feed answers."""
        return [web.get("/v1/events", self.list_events)]

    async def list_events(self, request: web.Request) -> web.Response:
        """Events, optionally of one service and after a time, at most ``limit`` of them."""
        since_text = param(request.query, "since")
        limit_text = param(request.query, "limit")
        until_text = param(request.query, "until")
        now = self._clock()
        kind = param(request.query, "kind")
        if kind is not None and kind not in EVENT_KINDS:
            raise bad_request(
                f"query parameter 'kind' is {kind!r}; expected one of {', '.join(EVENT_KINDS)}",
                parameter="kind",
                value=kind,
            )
        events = await self._registry.events(
            service=param(request.query, "service"),
            since=None if since_text is None else parse_since(since_text, now),
            limit=DEFAULT_LIMIT if limit_text is None else parse_limit(limit_text, MAX_LIMIT),
            site=param(request.query, "site"),
            until=None if until_text is None else parse_since(until_text, now, "until"),
            kind=kind,
        )
        return json_response({"events": [event_to_dict(event) for event in events]})
