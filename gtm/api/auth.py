"""Who may change state through the API: bearer tokens checked against a required scope.

Reads stay open because applications resolve through the sidecar without credentials;
changes (intents, runs) move traffic, so they need a token of a sufficient scope. The
presented token is compared with every configured one in constant time, and neither it
nor any secret is ever logged or echoed back: answers and logs name tokens, not secrets.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping

from aiohttp import web

from gtm.api.errors import ApiError
from gtm.api.tokens import Scope, Token

log = logging.getLogger(__name__)

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
