"""Liveness for load balancers and supervisors: is this instance up, and how is it doing.

The controller can add its own status (leader, last decision, provider state) and can
report itself unhealthy by setting ``ok`` to false, which turns the answer into a 503 so
plain HTTP checks see it too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from gtm.api.documents import json_response


class HealthReport:
    """Answers ``/healthz``.

    Args:
        services: The configured service names.
        status: Extra status to merge in, or None.
    """

    def __init__(
        self, services: tuple[str, ...], status: Callable[[], dict[str, Any]] | None
    ) -> None:
        self._services = len(services)
        self._status = status

    def routes(self) -> list[web.RouteDef]:
        """The routes this report answers."""
        return [web.get("/healthz", self.healthz)]

    async def healthz(self, request: web.Request) -> web.Response:
        """``{"ok": true, "services": n, ...status}``; 503 when the status says not ok."""
        doc: dict[str, Any] = {"ok": True, "services": self._services}
        if self._status is not None:
            doc.update(self._status())
        return json_response(doc, status=200 if doc["ok"] is True else 503)
