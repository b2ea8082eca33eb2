"""Who may write: a bearer token guards every change made through the API.

Reads stay open because applications resolve through the sidecar without credentials;
writes (intents) move traffic, so they need the operator's token. The token is compared
in constant time and never logged or echoed back.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from gtm.api.errors import ApiError

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="gtm"'}


class WriteGuard:
    """Checks that a write request carries the configured bearer token.

    Args:
        token: The token writes need; None or empty makes the API read-only.
    """

    def __init__(self, token: str | None) -> None:
        self._token = token.encode() if token else None

    def check(self, request: web.Request) -> None:
        """Let the write in, or raise the answer that says what is missing.

        Raises:
            ApiError: 403 when the API is read-only or the token is wrong, 401 when the
                request carries no bearer token.
        """
        if self._token is None:
            raise ApiError(
                403,
                "read_only",
                "this API is read-only; set api.token in the config to allow writes",
            )
        header = request.headers.get("Authorization")
        if header is None:
            raise ApiError(
                401,
                "unauthorized",
                "writes need an 'Authorization: Bearer <token>' header with the api.token",
                headers=_CHALLENGE,
            )
        scheme, _, credentials = header.partition(" ")
        credentials = credentials.strip()
        if scheme.lower() != "bearer" or not credentials:
            raise ApiError(
                401,
                "unauthorized",
                "the Authorization header must be 'Bearer <token>' with the api.token",
                headers=_CHALLENGE,
            )
        if not hmac.compare_digest(credentials.encode(errors="surrogateescape"), self._token):
            raise ApiError(
                403,
                "forbidden",
                "the bearer token is not the api.token of this instance; check the config",
            )
