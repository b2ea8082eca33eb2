"""Planned failovers over HTTP: start, watch, abort runs; evacuate a site; drill a service.

Starting and aborting need a token of scope ``operate`` (``admin`` to force a move onto a
site that fails preflight); the token's name is the run's author in the audit journal.
The token is checked before the body is read (see :func:`gtm.api.auth.requires`).
"""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from gtm.api.auth import authorize, caller, requires
from gtm.api.bodies import Text, read_body
from gtm.api.deps import ApiDeps, ApiRunbooks
from gtm.api.documents import json_response
from gtm.api.query import param, parse_index, parse_limit, parse_wait
from gtm.api.tokens import Scope
from gtm.core.runbook import Run, RunKind, RunOptions, run_to_dict, summary

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
"""Most runs ``GET /v1/runs`` lists, the latest ones."""


class Moves(BaseModel):
    """How a planned move is carried out (the options every run request shares)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: Text
    """Why: required, kept in the audit journal."""
    drain: float = Field(default=0.0, ge=0, le=3600)
    """Seconds to ramp traffic from the old site to the new one."""
    lower_ttl: bool = False
    """Publish a short TTL first and wait out the caches."""
    hold: float = Field(default=2.0, ge=0, le=3600)
    """Seconds the new site must stay healthy before the run is done."""
    verify_timeout: float = Field(default=10.0, gt=0, le=3600)
    """Longest wait for DNS servers and load balancers to serve the new site."""
    force: bool = False
    """Move even when the target fails preflight (needs scope admin)."""
    dry_run: bool = False
    """Describe the run without doing it."""
    replace_intents: bool = False
    """Withdraw a standing pin or freeze of the service when the run's pin takes over,
    instead of being refused by it."""

    def options(self) -> RunOptions:
        """The executor's options."""
        return RunOptions(
            drain=self.drain,
            lower_ttl=self.lower_ttl,
            hold=self.hold,
            verify_timeout=self.verify_timeout,
            force=self.force,
            dry_run=self.dry_run,
            replace_intents=self.replace_intents,
        )


class RunRequest(Moves):
    """The body of ``POST /v1/runs``."""

    kind: Literal["failover", "failback"] = "failover"
    """``failover`` to ``to`` (default: the next healthy site), ``failback`` to the
    service's most preferred site."""
    service: Text
    """The service to move."""
    to: Text | None = None
    """The target site."""


class EvacuationRequest(Moves):
    """The body of ``POST /v1/evacuations``."""

    site: Text
    """Move every service active here to its next healthy site."""
    parallel: int = Field(default=8, ge=1, le=256)
    """Most runs at once."""


class DrillRequest(Moves):
    """The body of ``POST /v1/drills``."""

    service: Text
    """The service to move to its next site and back."""


class RunDesk:
    """Answers ``/v1/runs``, ``/v1/evacuations`` and ``/v1/drills``."""

    def __init__(self, deps: ApiDeps, runbooks: ApiRunbooks) -> None:
        self._runbooks = runbooks
        self._max_wait = deps.max_wait

    def routes(self) -> list[web.RouteDef]:
        """The routes this desk answers."""
        return [
            web.get("/v1/runs", self.list_runs),
            web.post("/v1/runs", self.start),
            web.get("/v1/runs/{id}", self.show),
            web.post("/v1/runs/{id}/abort", self.abort),
            web.post("/v1/evacuations", self.evacuate),
            web.post("/v1/drills", self.drill),
        ]

    async def list_runs(self, request: web.Request) -> web.Response:
        """The latest runs (``limit``, 100 unless told), oldest first."""
        limit_text = param(request.query, "limit")
        limit = DEFAULT_LIMIT if limit_text is None else parse_limit(limit_text, MAX_LIMIT)
        runs = self._runbooks.runs()[-limit:]
        return json_response({"runs": [run_to_dict(run) for run in runs]})

    async def show(self, request: web.Request) -> web.Response:
        """One run; with ``?revision=N&wait=S``, as soon as it changes past revision N."""
        run_id = request.match_info["id"]
        revision, wait = param(request.query, "revision"), param(request.query, "wait")
        if revision is None:
            return json_response(run_to_dict(self._runbooks.get(run_id)))
        seen = parse_index(revision, "revision")
        timeout = self._max_wait if wait is None else parse_wait(wait, self._max_wait)
        return json_response(run_to_dict(await self._runbooks.wait(run_id, seen, timeout)))

    @requires(Scope.OPERATE)
    async def start(self, request: web.Request) -> web.Response:
        """Start a failover or failback run (or describe it, with ``dry_run``)."""
        body = await read_body(request, RunRequest)
        who = self._author(request, body)
        run = await self._runbooks.begin(
            RunKind(body.kind), body.service, body.to, body.reason, who, body.options()
        )
        return json_response(run_to_dict(run), status=200 if body.dry_run else 201)

    @requires(Scope.OPERATE)
    async def abort(self, request: web.Request) -> web.Response:
        """Stop a running run; it rolls back."""
        run = await self._runbooks.abort(request.match_info["id"], caller(request).name)
        return json_response(run_to_dict(run))

    @requires(Scope.OPERATE)
    async def evacuate(self, request: web.Request) -> web.Response:
        """Move every service off a site; answers once all runs ended, with a summary."""
        body = await read_body(request, EvacuationRequest)
        who = self._author(request, body)
        runs = await self._runbooks.evacuate(
            body.site, body.reason, who, body.options(), body.parallel
        )
        return json_response(_report(runs, site=body.site))

    @requires(Scope.OPERATE)
    async def drill(self, request: web.Request) -> web.Response:
        """Move a service to its next site and back; answers with both runs' timings."""
        body = await read_body(request, DrillRequest)
        who = self._author(request, body)
        runs = await self._runbooks.drill(body.service, body.reason, who, body.options())
        return json_response(_report(runs, service=body.service))

    def _author(self, request: web.Request, body: Moves) -> str:
        token = caller(request)
        if body.force:
            authorize(token, Scope.ADMIN, f"{request.method} {request.path} with force")
        return token.name


def _report(runs: list[Run], **about: str) -> dict[str, Any]:
    states: dict[str, int] = {}
    for run in runs:
        states[run.state.value] = states.get(run.state.value, 0) + 1
    return {
        **about,
        "runs": [run_to_dict(run) for run in runs],
        "counts": states,
        "summary": [summary(run) for run in runs],
    }
