"""What the sidecar API needs from the rest of gtm, as one value handed to ``make_app``.

The API depends on a Protocol rather than the registry class so it can be served from any
registry (embedded, distributed, or a fake in tests) and stays on its side of the
``api -> controller -> registry`` dependency line.
"""

from __future__ import annotations

import collections.abc
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from gtm.api.tokens import Token
from gtm.core.model import Event, Intent, Mapping
from gtm.core.readiness import ServiceReleases
from gtm.core.runbook import Run, RunKind, RunOptions
from gtm.metrics import Metrics


class ApiRegistry(Protocol):
    """The registry as the API uses it.

    Implementations must answer ``get`` and ``mappings`` from memory without blocking: they
    sit on the resolve hot path. They must not mutate the mappings or intents they return
    (the model types are frozen) and must raise :class:`gtm.errors.NotFound` from
    ``remove_intent`` for an unknown id. Store failures are raised as
    :class:`gtm.errors.Unavailable`, which the API turns into 503 answers.
    """

    def get(self, service: str) -> Mapping | None:
        """The current mapping of ``service``, or None when it has none yet."""
        ...

    def mappings(self) -> list[Mapping]:
        """Every current mapping, sorted by service name."""
        ...

    async def wait(self, service: str, index: int, timeout: float) -> Mapping | None:
        """Return once the version of ``service`` passes ``index``, or after ``timeout``."""
        ...

    def subscribe(self, callback: Callable[[Mapping], None]) -> Callable[[], None]:
        """Call ``callback`` with every mapping stored from now on; returns the unsubscribe."""
        ...

    def on_event(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``callback`` with every journal event recorded from now on; returns the
        unsubscribe."""
        ...

    def on_run(self, callback: Callable[[Run], None]) -> Callable[[], None]:
        """Call ``callback`` with every planned run stored from now on; returns the
        unsubscribe."""
        ...

    def on_intents(self, callback: Callable[[list[Intent]], None]) -> Callable[[], None]:
        """Call ``callback`` with every intent after each change; returns the unsubscribe."""
        ...

    def intents(self) -> list[Intent]:
        """Every standing intent."""
        ...

    async def add_intent(self, intent: Intent) -> Intent:
        """Store ``intent``, assigning an id when ``intent.id`` is empty."""
        ...

    async def remove_intent(self, intent_id: str) -> Intent:
        """Remove the intent ``intent_id`` and return it."""
        ...

    async def events(
        self,
        service: str | None = None,
        since: float | None = None,
        limit: int = 100,
        *,
        site: str | None = None,
        until: float | None = None,
        kind: str | None = None,
    ) -> list[Event]:
        """Journal events, filtered by service, site, kind and a time window."""
        ...


class ApiRunbooks(Protocol):
    """What the API needs of the runbook executor."""

    def runs(self) -> list[Run]: ...

    def get(self, run_id: str) -> Run: ...

    async def wait(self, run_id: str, revision: int, timeout: float) -> Run: ...

    async def begin(
        self,
        kind: RunKind,
        service: str,
        to_site: str | None,
        reason: str,
        who: str,
        options: RunOptions,
    ) -> Run: ...

    async def abort(self, run_id: str, who: str) -> Run: ...

    async def evacuate(
        self, site: str, reason: str, who: str, options: RunOptions, parallel: int = 8
    ) -> list[Run]: ...

    async def drill(
        self, service: str, reason: str, who: str, options: RunOptions
    ) -> list[Run]: ...


@dataclass(frozen=True, slots=True)
class ApiDeps:
    """Everything the API reads, writes and reports.

    Attributes:
        registry: Source of mappings, intents and events.
        services: Names of the configured services, the ones a client may ask for.
        sites: Names of the configured sites, the ones an intent may name.
        tokens: Bearer tokens by name, each with a secret of its own (see
            :func:`gtm.api.tokens.tokens_from_config`); none makes the API read-only.
        status: Extra controller status merged into ``/healthz``; may set ``ok``.
        providers: Each provider's status (last success, last error, pending changes).
        runbooks: The planned-failover executor; None leaves the run endpoints out.
        clock: Wall clock for intent timestamps.
        max_wait: Longest a long poll may block, in seconds.
        locators: Every locator's probe detail for ``/v1/locators`` (of one service when
            given; KeyError for an unknown one); None leaves the route out.
        releases: Each service's release by site for ``/v1/releases`` (of one service
            when given; KeyError for an unknown one); None leaves the route out.
        metrics: Where requests and long polls are counted; a registry of its own unless
            given.
        serve_metrics: Whether ``GET /metrics`` is served (``api.metrics``).
        cluster: The cluster as this instance sees it, for ``GET /v1/cluster``; None for
            a lone instance (the route answers that it is one).
    """

    registry: ApiRegistry
    services: tuple[str, ...]
    sites: tuple[str, ...]
    tokens: collections.abc.Mapping[str, Token]
    status: Callable[[], dict[str, Any]] | None = None
    providers: Callable[[], list[dict[str, Any]]] | None = None
    runbooks: ApiRunbooks | None = None
    clock: Callable[[], float] = time.time
    max_wait: float = 60.0
    locators: Callable[[str | None], list[dict[str, Any]]] | None = None
    releases: Callable[[str | None], list[ServiceReleases]] | None = None
    metrics: Metrics = field(default_factory=Metrics)
    serve_metrics: bool = True
    cluster: Callable[[], Awaitable[dict[str, Any]]] | None = None
