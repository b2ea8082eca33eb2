"""``GET /v1/releases``: the release each site of a service runs, and whether they drift.

The controller keeps the releases its probes read (:meth:`gtm.controller.controller.
Controller.releases`); a service whose sites run different releases cannot move between
them without its users noticing, which its ``readiness`` rule judges.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from gtm.api.documents import json_response
from gtm.api.errors import ApiError
from gtm.api.query import param
from gtm.core.readiness import ServiceReleases, releases_to_dict

ReleaseDetail = Callable[[str | None], list[ServiceReleases]]
"""Each service's releases by site, of one service when given; KeyError for an unknown one."""


class ReleaseReport:
    """Answers ``/v1/releases``.

    Args:
        detail: The controller's releases.
    """

    def __init__(self, detail: ReleaseDetail) -> None:
        self._detail = detail

    def routes(self) -> list[web.RouteDef]:
        """The route this report answers."""
        return [web.get("/v1/releases", self.releases)]

    async def releases(self, request: web.Request) -> web.Response:
        """``{"services": [...]}``, of ``?service=`` only when given."""
        service = param(request.query, "service")
        try:
            found = self._detail(service)
        except KeyError:
            raise ApiError(
                404,
                "not_found",
                f"no service {service!r}; GET /v1/services lists the known ones",
                detail={"service": service},
            ) from None
        return json_response({"services": [releases_to_dict(item) for item in found]})
