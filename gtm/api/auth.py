"""Who may change state through the API: bearer tokens checked against a required scope.

Reads stay open because applications resolve through the sidecar without credentials;
changes (intents, runs) move traffic, so they need a token of a sufficient scope. A
handler that changes state says so with :func:`requires`, and :meth:`Guard.middleware`
checks the token before the handler runs, so no body is read, parsed or described to a
caller who may not send it. The presented token is compared with every configured one in
constant time, and neither it nor any secret is ever logged or echoed back: answers and
logs name tokens, not secrets.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from typing import TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler

from gtm.api.errors import ApiError
from gtm.api.tokens import Scope, Token

log = logging.getLogger(__name__)

H = TypeVar("H", bound=Callable[..., object])

_SCOPE = "gtm_scope"
"""The attribute :func:`requires` sets on a handler."""
CALLER = web.RequestKey("caller", Token)
"""Where the middleware leaves the token that authenticated a request."""


def requires(scope: Scope) -> Callable[[H], H]:
    """Mark a handler as needing a token of at least ``scope``, checked before it runs."""

    def mark(handler: H) -> H:
        setattr(handler, _SCOPE, scope)
        return handler

    return mark


def required_scope(handler: object) -> Scope | None:
    """The scope :func:`requires` set on ``handler``; None for an open handler."""
    scope = getattr(handler, _SCOPE, None)
    return scope if isinstance(scope, Scope) else None


def caller(request: web.Request) -> Token:
    """The token that authenticated ``request`` (for a handler marked with :func:`requires`)."""
    return request[CALLER]


_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="gtm"'}


def _digest(secret: str) -> bytes:
    # Comparing fixed-length digests keeps even the length of the secrets out of the timing.
    return hashlib.sha256(secret.encode(errors="surrogateescape")).digest()


class Guard:
    """Lets a request through when it carries a configured token of a sufficient scope.

    Handlers that change state call :meth:`require` first and record the name of the token
    it returns as the author of the change.

    Args:
        tokens: The configured tokens by name; none makes the API read-only.
    """

    def __init__(self, tokens: Mapping[str, Token]) -> None:
        self._tokens = [
            (_digest(token.secret.get_secret_value()), token) for token in tokens.values()
        ]

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Authenticate requests to handlers marked with :func:`requires` before they run."""
        scope = required_scope(request.match_info.handler)
        if scope is not None:
            request[CALLER] = self.require(request, scope)
        return await handler(request)

    def require(self, request: web.Request, scope: Scope) -> Token:
        """The token ``request`` carries, provided it has at least ``scope``.

        Args:
            request: The request to check.
            scope: The weakest scope allowed.

        Raises:
            ApiError: 403 ``read_only`` when no token is configured; 401 ``unauthorized``
                when the request carries no bearer token; 403 ``forbidden`` when the token
                is not a configured one; 403 ``insufficient_scope`` when its scope is
                weaker than ``scope``. Each answer names the scope needed in its
                ``needed`` field, so a client can tell its user which token to use.
        """
        if not self._tokens:
            raise ApiError(
                403,
                "read_only",
                "this API is read-only: no tokens are configured; add api.tokens to the "
                f"config (name: {{secret: env:NAME, scope: {scope}}}) to allow changes",
                detail={"needed": str(scope)},
            )
        token = self._authenticate(request, scope)
        authorize(token, scope, f"{request.method} {request.path}")
        return token

    def _authenticate(self, request: web.Request, scope: Scope) -> Token:
        """The configured token ``request`` carries; 401 or 403 when there is none."""
        header = request.headers.get("Authorization")
        if header is None:
            raise ApiError(
                401,
                "unauthorized",
                "this request changes state: send 'Authorization: Bearer <token>' with a "
                f"token of scope {scope} (api.tokens in the config)",
                headers=_CHALLENGE,
                detail={"needed": str(scope)},
            )
        scheme, _, credentials = header.partition(" ")
        credentials = credentials.strip()
        if scheme.lower() != "bearer" or not credentials:
            raise ApiError(
                401,
                "unauthorized",
                "the Authorization header must be 'Bearer <token>' with a token of scope "
                f"{scope} (api.tokens in the config)",
                headers=_CHALLENGE,
                detail={"needed": str(scope)},
            )
        presented = _digest(credentials)
        found: Token | None = None
        # Every token is compared, whatever matched before, so the time taken does not
        # tell which configured token (if any) the presented one is close to.
        for digest, token in self._tokens:
            if hmac.compare_digest(presented, digest):
                found = token
        if found is None:
            log.info("api: %s %s refused: unknown bearer token", request.method, request.path)
            raise ApiError(
                403,
                "forbidden",
                "the bearer token is not one of the api.tokens of this instance; check the "
                "token, or the config",
                detail={"needed": str(scope)},
            )
        return found


def authorize(token: Token, scope: Scope, action: str) -> None:
    """Let ``token`` do ``action`` when it has at least ``scope``.

    For a step up within a request, such as a forced pin, after :meth:`Guard.require`.

    Raises:
        ApiError: 403 ``insufficient_scope``, naming both scopes and the token.
    """
    if token.scope < scope:
        log.info(
            "api: %s refused: token %r has scope %s, needs %s",
            action,
            token.name,
            token.scope,
            scope,
        )
        raise ApiError(
            403,
            "insufficient_scope",
            f"{action} needs a token of scope {scope}; token {token.name!r} has scope "
            f"{token.scope}",
            detail={"token": token.name, "scope": str(token.scope), "needed": str(scope)},
        )
    log.debug("api: %s by token %r (scope %s)", action, token.name, token.scope)
