"""Liveness for load balancers and supervisors: is this instance up, and how is it doing.

The controller can add its own status (leader, last decision, provider state) and can
report itself unhealthy by setting ``ok`` to false, which turns the answer into a 503 so
plain HTTP checks see it too. A *degraded* vantage (stalled, short of descriptors, its
store blocked) is still up and answers 200: it serves DNS and the API as before, and says
``"degraded": true`` with the reasons, because it makes no automatic move until it recovers.
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
        """``{"ok": true, "services": n, ...status}``; 503 when the status says not ok.

        When the status has a ``vantage`` (a running gtm's has), ``degraded`` repeats its
        ``degraded`` at the top, and ``vantage.reasons`` says why.
        """
        doc: dict[str, Any] = {"ok": True, "services": self._services}
        if self._status is not None:
            doc.update(self._status())
        vantage = doc.get("vantage")
        if isinstance(vantage, dict):
            doc["degraded"] = vantage.get("degraded") is True
        return json_response(doc, status=200 if doc["ok"] is True else 503)
