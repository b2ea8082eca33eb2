"""``GET /v1/locators``: every locator's probe detail, the story behind its verdict.

The controller keeps the figures (:meth:`gtm.controller.controller.Controller.locators`);
this adds the state each locator is published with, so a reader sees the verdict and what
clients are told side by side.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from gtm.api.deps import ApiRegistry
from gtm.api.documents import json_response
from gtm.api.query import of_service

LocatorDetail = Callable[[str | None], list[dict[str, Any]]]
"""Every locator's probe detail, of one service when given; KeyError for an unknown one."""


class LocatorReport:
    """Answers ``/v1/locators``.

    Args:
        registry: Where the published mappings are read.
        detail: The controller's probe detail.
    """

    def __init__(self, registry: ApiRegistry, detail: LocatorDetail) -> None:
        self._registry = registry
        self._detail = detail

    def routes(self) -> list[web.RouteDef]:
        """The route this report answers."""
        return [web.get("/v1/locators", self.locators)]

    async def locators(self, request: web.Request) -> web.Response:
        """``{"locators": [...]}``, of ``?service=`` only when given."""
        docs = of_service(request.query, self._detail)
        states: dict[str, str] = {}
        for mapping in self._registry.mappings():
            for locator in mapping.locators:
                states[locator.id] = locator.state.value
        return json_response(
            {"locators": [{**doc, "state": states.get(str(doc["id"]))} for doc in docs]}
        )
