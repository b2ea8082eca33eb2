"""``GET /metrics`` for Prometheus, and the count of every API request by route and status.

Both only read and record: the figures themselves are gathered by :mod:`gtm.metrics`.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from gtm.metrics import CONTENT_TYPE, Metrics

UNMATCHED = "unmatched"
"""The route label of a request no route matched, so stray paths add no label values."""


class MetricsPage:
    """Serves the metrics and counts the requests.

    Args:
        metrics: This instance's metrics.
    """

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def routes(self) -> list[web.RouteDef]:
        """The route this page answers."""
        return [web.get("/metrics", self.scrape)]

    async def scrape(self, request: web.Request) -> web.Response:
        """Every metric in the text exposition format; no token needed."""
        body = await self._metrics.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Count the answer by the route's pattern (not its path) and status."""
        response = await handler(request)
        route = request.match_info.route.resource
        self._metrics.record_request(
            route.canonical if route is not None else UNMATCHED, response.status
        )
        return response
