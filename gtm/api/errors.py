"""Every failure the API reports is a JSON document ``{"error": code, "message": ...}``.

Handlers raise :class:`ApiError` for answers they choose; :func:`error_middleware` turns
those, gtm's own exceptions, aiohttp's HTTP errors (unknown route, wrong method) and
anything unexpected into that one shape, so clients parse a single format.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from gtm.api.documents import json_response
from gtm.errors import ConflictError, NotFound, Rejected, SafetyRefused, Unavailable

log = logging.getLogger(__name__)

_BODY_HEADERS = frozenset({"content-type", "content-length"})

RETRY_AFTER = "1"
"""Seconds a client should wait before retrying an answer that says "not yet"."""


class ApiError(Exception):
    """An error answer a handler decided on: status, machine code, human message.

    Args:
        status: HTTP status code.
        code: Short machine-readable code, the ``error`` field.
        message: What went wrong and what to do about it.
        headers: Extra headers for the answer.
        detail: Extra fields merged into the document (e.g. the offending parameter).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.detail = dict(detail or {})

    def response(self) -> web.Response:
        """The JSON answer this error stands for."""
        doc = {"error": self.code, "message": self.message, **self.detail}
        return json_response(doc, status=self.status, headers=self.headers)


def bad_request(message: str, **detail: Any) -> ApiError:
    """A 400 answer for a request the client must change before retrying."""
    return ApiError(400, "bad_request", message, detail=detail)


def from_gtm_error(exc: Unavailable | Rejected) -> ApiError:
    """The answer for one of gtm's own exceptions that reached the API boundary."""
    message = str(exc)
    if isinstance(exc, Unavailable):
        return ApiError(503, "unavailable", message, headers={"Retry-After": RETRY_AFTER})
    if isinstance(exc, NotFound):
        return ApiError(404, "not_found", message)
    if isinstance(exc, SafetyRefused):
        return ApiError(409, "safety_refused", message)
    if isinstance(exc, ConflictError):
        return ApiError(409, "conflict", message)
    return ApiError(409, "rejected", message)


def from_http_exception(exc: web.HTTPException) -> ApiError:
    """The JSON form of an aiohttp error such as an unknown route or a wrong method."""
    phrase = HTTPStatus(exc.status).phrase
    code = phrase.lower().replace(" ", "_").replace("-", "_")
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods))
        message = f"{exc.method} is not allowed here; allowed: {allowed}"
    elif isinstance(exc, web.HTTPNotFound):
        message = "no such endpoint; see /v1/services, /v1/intents, /v1/events, /healthz"
    elif exc.text and not exc.text.startswith(f"{exc.status}: "):
        # aiohttp's own text says more than the reason phrase when it has something to
        # say (the body size limit, for one); its default text is "<status>: <reason>".
        message = exc.text
    else:
        message = exc.reason
    # Keep headers that carry meaning (Allow, Retry-After) but not the old body's type.
    headers = {k: v for k, v in exc.headers.items() if k.lower() not in _BODY_HEADERS}
    return ApiError(exc.status, code, message, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every failure of ``handler`` with a JSON error document."""
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except (Unavailable, Rejected) as exc:
        return from_gtm_error(exc).response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return from_http_exception(exc).response()
    except Exception:
        log.exception("api: %s %s failed", request.method, request.path)
        return ApiError(500, "internal", "internal error; the server log has details").response()
