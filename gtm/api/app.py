"""The sidecar HTTP API as one aiohttp application, built from its dependencies.

Applications resolve and watch services here; operators read events and write intents.
``make_app`` only wires routes; each concern lives in its own module.
"""

from __future__ import annotations

from aiohttp import web

from gtm.api.auth import Guard
from gtm.api.cluster import ClusterReport
from gtm.api.deps import ApiDeps, ApiRegistry
from gtm.api.errors import error_middleware
from gtm.api.events import EventFeed
from gtm.api.health import HealthReport
from gtm.api.intents import IntentDesk
from gtm.api.locators import LocatorReport
from gtm.api.metrics import MetricsPage
from gtm.api.releases import ReleaseReport
from gtm.api.resolve import Resolver
from gtm.api.runs import RunDesk
from gtm.api.stream import Stream
from gtm.api.ui import Dashboard

__all__ = ["ApiDeps", "ApiRegistry", "make_app"]


def make_app(deps: ApiDeps) -> web.Application:
    """The API application serving ``deps``.

    Routes: ``GET /v1/services``, ``GET /v1/services/{name}`` (with ``index``/``wait``
    long polls), ``GET /v1/events``, ``GET /v1/stream`` (server-sent events of every
    change), ``GET|POST /v1/intents``, ``DELETE /v1/intents/{id}``, ``GET /v1/providers``,
    ``GET /v1/cluster`` and ``GET /healthz``, the run endpoints when ``deps`` has
    runbooks, ``GET /v1/locators`` when it has the locators' detail, ``GET /v1/releases``
    when it has the sites' releases, ``GET /metrics`` unless ``deps.serve_metrics`` is off,
    and the dashboard at ``/ui/`` (``/`` and ``/ui`` redirect there). Every answer is
    counted by route and status.
    Handlers that change state are marked with :func:`gtm.api.auth.requires`
    and authenticated before they run. Every error is a JSON document
    ``{"error", "message"}``.
    """
    guard = Guard(deps.tokens)
    page = MetricsPage(deps.metrics)
    app = web.Application(middlewares=[page.middleware, error_middleware, guard.middleware])
    resolver = Resolver(deps)
    app.on_shutdown.append(resolver.close)
    app.add_routes(resolver.routes())
    app.add_routes(IntentDesk(deps).routes())
    app.add_routes(EventFeed(deps.registry, deps.clock).routes())
    Stream(deps).install(app)
    if deps.runbooks is not None:
        app.add_routes(RunDesk(deps, deps.runbooks).routes())
    app.add_routes(HealthReport(deps.services, deps.status, deps.providers).routes())
    if deps.locators is not None:
        app.add_routes(LocatorReport(deps.registry, deps.locators).routes())
    if deps.releases is not None:
        app.add_routes(ReleaseReport(deps.releases).routes())
    app.add_routes(ClusterReport(deps.cluster).routes())
    if deps.serve_metrics:
        app.add_routes(page.routes())
    app.add_routes(Dashboard().routes())
    return app
