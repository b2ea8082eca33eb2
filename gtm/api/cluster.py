"""``GET /v1/cluster``: the instances, the leader and its term, the vantages, Consul's health.

Any instance answers, from what it reads of the cluster itself, so an operator can ask
the one beside them; a lone instance answers that it is one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gtm.api.documents import json_response

Describe = Callable[[], Awaitable[dict[str, Any]]]
"""The cluster as this instance sees it (:meth:`gtm.cluster.member.ClusterMember.describe`)."""


class ClusterReport:
    """Answers ``GET /v1/cluster``.

    Args:
        describe: The cluster as this instance sees it; None for a lone instance.
    """

    def __init__(self, describe: Describe | None) -> None:
        self._describe = describe

    def routes(self) -> list[web.RouteDef]:
        """The route this report answers."""
        return [web.get("/v1/cluster", self.cluster)]

    async def cluster(self, request: web.Request) -> web.Response:
        """``{"instance", "acting", "leader": {...}, "instances": [...], "consul": {...},
        "vantages": {...}}``; ``{"cluster": false}`` for a lone instance."""
        if self._describe is None:
            return json_response({"cluster": False})
        return json_response({"cluster": True, **await self._describe()})
