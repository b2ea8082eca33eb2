"""Operators' standing instructions over HTTP: list, create and withdraw intents.

Requests are checked here, before they reach the registry, so a typo in a site name is
answered with the list of real sites instead of a pin that can never apply, and a pin to a
site that is down is refused unless forced (:func:`gtm.core.moves.admit` decides), as is,
for a service whose readiness is strict, a pin to a site running another release than the
active site (:func:`gtm.core.readiness.check_move`). The
author of an intent is the name of the token that sent it, never what the body says.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping as Lookup
from typing import Protocol, runtime_checkable

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from gtm.api.auth import authorize, caller, requires
from gtm.api.bodies import Text, read_body
from gtm.api.deps import ApiDeps, ApiRegistry
from gtm.api.documents import json_response
from gtm.api.errors import ApiError, bad_request
from gtm.api.tokens import Scope, Token
from gtm.core.codec import intent_to_dict
from gtm.core.model import Intent, IntentKind
from gtm.core.moves import admit, published_health
from gtm.core.readiness import MoveCheck
from gtm.core.sites import SiteHealth
from gtm.errors import NotFound

INTENT_TTL_MAX = 366 * 86400.0
"""Longest an intent may be set to last, in seconds: a year (and a day); an intent meant to
last longer is set without a ttl and withdrawn by hand."""


class IntentRequest(BaseModel):
    """The body of ``POST /v1/intents``; JSON types are taken as they are, not coerced."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=True, use_attribute_docstrings=True
    )

    kind: IntentKind
    """What to do: ``pin`` a service to a site, ``drain`` a site, ``freeze`` moves."""
    service: str | None = None
    """The service it concerns; None means every service (drain and freeze only)."""
    site: str | None = None
    """The site to pin to or drain."""
    why: Text
    """Why, in a sentence; kept with the intent and shown in events."""
    ttl: float | None = Field(default=None, gt=0, le=INTENT_TTL_MAX, allow_inf_nan=False)
    """Seconds until the intent expires; None keeps it until it is withdrawn."""
    force: bool = False
    """Pin even to a site that is down; needs a token of scope ``admin``."""
    who: Text | None = None
    """Whom the change is made for, when not the token's owner (a shared token used by a
    deploy job for alice). Unverified, so it is kept only as text at the end of ``why``
    (``... (on behalf of alice)``); the author recorded in ``who`` is the token's name."""


@runtime_checkable
class SiteHealthSource(Protocol):
    """Who knows each site's health as the controller decides with it (the runbook
    executor does). Implementations answer from memory, without blocking."""

    def site_health(self, service: str) -> Lookup[str, SiteHealth]:
        """The health of each site of ``service``."""
        ...


@runtime_checkable
class ReadinessSource(Protocol):
    """Who judges a pin by the service's readiness rule (the runbook executor does).
    Implementations answer from memory, without blocking."""

    def readiness(self, service: str, to_site: str, force: bool) -> MoveCheck:
        """Whether readiness lets ``service`` be pinned to ``to_site``."""
        ...


class IntentDesk:
    """Answers ``/v1/intents`` and ``/v1/intents/{id}``.

    Args:
        deps: The registry, the known services and sites, the tokens and the clock. When
            ``deps.runbooks`` knows the sites' health (:class:`SiteHealthSource`), pins are
            admitted by it; otherwise by the published mapping's locator states.
    """

    def __init__(self, deps: ApiDeps) -> None:
        self._registry: ApiRegistry = deps.registry
        self._services = deps.services
        self._sites = deps.sites
        self._clock: Callable[[], float] = deps.clock
        health = deps.runbooks
        self._health = health if isinstance(health, SiteHealthSource) else None
        self._readiness = health if isinstance(health, ReadinessSource) else None

    def routes(self) -> list[web.RouteDef]:
        """The routes this desk answers."""
        return [
            web.get("/v1/intents", self.list_intents),
            web.post("/v1/intents", self.create_intent),
            web.delete("/v1/intents/{id}", self.remove_intent, name="intent"),
        ]

    async def list_intents(self, request: web.Request) -> web.Response:
        """Every standing intent."""
        intents = self._registry.intents()
        return json_response({"intents": [intent_to_dict(intent) for intent in intents]})

    @requires(Scope.OPERATE)
    async def create_intent(self, request: web.Request) -> web.Response:
        """Check the request and store the intent it describes; 201 with the stored intent.

        Needs scope ``operate``, and ``admin`` for ``force: true``.
        """
        token = caller(request)
        body = await read_body(request, IntentRequest)
        if body.force:
            authorize(token, Scope.ADMIN, "an intent with force: true")
        intent = self._intent_from(body, token)
        self._admit(intent)
        stored = await self._registry.add_intent(intent)
        location = request.app.router["intent"].url_for(id=stored.id)
        return json_response(
            intent_to_dict(stored), status=201, headers={"Location": str(location)}
        )

    @requires(Scope.OPERATE)
    async def remove_intent(self, request: web.Request) -> web.Response:
        """Withdraw an intent; 200 with what was removed. Needs scope ``operate``."""
        intent_id = request.match_info["id"]
        try:
            removed = await self._registry.remove_intent(intent_id)
        except NotFound as exc:
            raise ApiError(
                404,
                "not_found",
                f"no intent {intent_id!r}; GET /v1/intents lists the standing ones",
                detail={"intent": intent_id},
            ) from exc
        return json_response(intent_to_dict(removed))

    def _admit(self, intent: Intent) -> None:
        """Refuse, with a 409 naming the site and its state, what may not be stored now."""
        if intent.service is None:
            return  # only a pin is judged by health, and a pin names its service
        sites: Lookup[str, SiteHealth] = {}
        if self._health is not None:
            sites = self._health.site_health(intent.service)
        else:
            mapping = self._registry.get(intent.service)
            sites = published_health(mapping, self._clock()) if mapping is not None else {}
        refusal = admit(intent, sites, self._clock())
        if refusal is not None:
            raise ApiError(
                409,
                "refused",
                refusal.message,
                detail={"site": refusal.site} if refusal.site else None,
            )
        if intent.kind is IntentKind.PIN and intent.site and self._readiness is not None:
            # A pin moves traffic as a planned failover does, and meets the same rule.
            check = self._readiness.readiness(intent.service, intent.site, intent.force)
            if check.refusal is not None:
                raise ApiError(
                    409,
                    "refused",
                    f"pin of {intent.service} to {intent.site} refused: {check.refusal}",
                    detail={"site": intent.site},
                )

    def _intent_from(self, body: IntentRequest, token: Token) -> Intent:
        if body.kind in (IntentKind.SHIFT, IntentKind.TTL):
            raise bad_request(
                f"{body.kind.value} intents belong to planned failovers, which remove them "
                "when they end; start one with POST /v1/runs (drain, lower_ttl) instead"
            )
        if body.kind is IntentKind.PIN and (body.service is None or body.site is None):
            raise bad_request("a pin intent needs both 'service' and 'site'")
        if body.kind is IntentKind.DRAIN and body.site is None:
            raise bad_request("a drain intent needs 'site'")
        if body.kind is IntentKind.FREEZE and body.site is not None:
            raise bad_request("a freeze intent takes no 'site'; it names a service or none")
        if body.service is not None and body.service not in self._services:
            raise _unknown("service", body.service, self._services)
        if body.site is not None and body.site not in self._sites:
            raise _unknown("site", body.site, self._sites)
        now = self._clock()
        return Intent(
            id="",
            kind=body.kind,
            service=body.service,
            site=body.site,
            who=token.name,
            why=body.why
            if body.who in (None, token.name)
            else f"{body.why} (on behalf of {body.who})",
            created_at=now,
            expires_at=None if body.ttl is None else now + body.ttl,
            force=body.force,
        )


def _unknown(field: str, value: str, known: tuple[str, ...]) -> ApiError:
    names = ", ".join(sorted(known)) or "(none configured)"
    return bad_request(f"no {field} {value!r}; known {field}s: {names}", field=field, value=value)
