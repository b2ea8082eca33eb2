"""The journal over HTTP: what happened to which service, and when.

Operators and dashboards read failover history here; each event carries the timeline
of its steps so durations can be derived by the reader.
"""

from __future__ import annotations

from aiohttp import web

from gtm.api.deps import ApiRegistry
from gtm.api.documents import json_response
from gtm.api.query import param, parse_limit, parse_since
from gtm.core.codec import event_to_dict

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
"""Most events one answer carries; older history is paged with ``since``."""


class EventFeed:
    """Answers ``/v1/events?service=&site=&kind=&since=&until=&limit=``.

    Args:
        registry: Where the journal lives.
    """

    def __init__(self, registry: ApiRegistry) -> None:
        self._registry = registry

    def routes(self) -> list[web.RouteDef]:
        """The routes this feed answers."""
        return [web.get("/v1/events", self.list_events)]

    async def list_events(self, request: web.Request) -> web.Response:
        """Events, optionally of one service and after a time, at most ``limit`` of them."""
        since_text = param(request.query, "since")
        limit_text = param(request.query, "limit")
        until_text = param(request.query, "until")
        events = await self._registry.events(
            service=param(request.query, "service"),
            since=None if since_text is None else parse_since(since_text),
            limit=DEFAULT_LIMIT if limit_text is None else parse_limit(limit_text, MAX_LIMIT),
            site=param(request.query, "site"),
            until=None if until_text is None else parse_since(until_text, "until"),
            kind=param(request.query, "kind"),
        )
        return json_response({"events": [event_to_dict(event) for event in events]})
