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
        providers: Provider statuses for ``/v1/providers``, or None when there are none.
    """

    def __init__(
        self,
        services: tuple[str, ...],
        status: Callable[[], dict[str, Any]] | None,
        providers: Callable[[], list[dict[str, Any]]] | None = None,
    ) -> None:
        self._services = len(services)
        self._status = status
        self._providers = providers

    def routes(self) -> list[web.RouteDef]:
        """The routes this report answers."""
        return [web.get("/healthz", self.healthz), web.get("/v1/providers", self.providers)]

    async def providers(self, request: web.Request) -> web.Response:
        """``{"providers": [...]}``: each provider's last success, last error, pending changes."""
        return json_response({"providers": self._providers() if self._providers else []})

    async def healthz(self, request: web.Request) -> web.Response:
        """``{"ok": true, "services": n, ...status}``; 503 when the status says not ok."""
        doc: dict[str, Any] = {"ok": True, "services": self._services}
        if self._status is not None:
            doc.update(self._status())
        return json_response(doc, status=200 if doc["ok"] is True else 503)
