"""Reading request bodies: UTF-8 JSON into a typed request, or a 400 that says what is wrong.

Every write endpoint reads its body here, after the caller is authenticated, so each
malformed body (not UTF-8, an unknown charset, nesting too deep, a number too long, a
field out of range) gets the same kind of answer: a 400 JSON document naming the field,
the value and the rule, never a 500. Text fields that end up in the journal and on
operators' terminals refuse control characters (a terminal escape in ``why`` would reach
every ``gtm events`` reader raw).
"""

from __future__ import annotations

import json
import math
import unicodedata
from typing import Annotated, Any, TypeVar

from aiohttp import web
from annotated_types import Ge, Gt, Le, Lt
from pydantic import AfterValidator, BaseModel, StringConstraints, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from gtm.api.errors import ApiError, bad_request

M = TypeVar("M", bound=BaseModel)

TEXT_MAX = 1000
"""Longest text field, in characters."""

_CHARSETS = frozenset({"utf-8", "utf8"})
_RANGE_ERRORS = frozenset(
    {"greater_than", "greater_than_equal", "less_than", "less_than_equal", "finite_number"}
)


def _printable(value: str) -> str:
    for char in value:
        if unicodedata.category(char) == "Cc":
            raise PydanticCustomError(
                "control_character",
                "holds the control character U+{code:04X}; text takes printable characters only",
                {"code": ord(char)},
            )
    return value


Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=TEXT_MAX),
    AfterValidator(_printable),
]
"""A sentence for people (a reason, a name): trimmed, not empty, no control characters."""


async def read_body(request: web.Request, model: type[M]) -> M:
    """The body of ``request`` as a ``model``.

    Raises:
        ApiError: 400 when the body is not UTF-8 JSON or does not fit ``model``; every
            problem is listed, each naming its field and value.
    """
    charset = request.charset
    if charset is not None and charset.lower() not in _CHARSETS:
        raise bad_request(
            f"the body's charset is {charset!r}; send UTF-8 JSON (Content-Type: application/json)",
            charset=charset,
        )
    return parse_body(await request.read(), model)


def parse_body(raw: bytes, model: type[M]) -> M:
    """``raw`` as a ``model``, or a 400 listing every problem.

    Raises:
        ApiError: 400 ``bad_json`` when ``raw`` is not JSON (or not UTF-8, or nested too
            deep, or holds a number too long), else 400 ``bad_request``.
    """
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if errors and errors[0]["type"] == "json_invalid":
            raise ApiError(
                400,
                "bad_json",
                "the body is not valid JSON: " + errors[0]["msg"].removeprefix("Invalid JSON: "),
            ) from None
        problems = [_problem(model, error) for error in errors]
        raise bad_request("; ".join(problems), problems=problems) from None


def _problem(model: type[BaseModel], error: ErrorDetails) -> str:
    """One pydantic error as a sentence naming the field and the value."""
    field = ".".join(str(part) for part in error["loc"])
    kind = error["type"]
    if not field:
        return "the body must be a JSON object"
    if kind == "missing":
        return f"field {field!r} is required"
    if kind == "extra_forbidden":
        fields = ", ".join(model.model_fields)
        return f"field {field!r} is not accepted; the fields are {fields}"
    value = _shown(error["input"])
    if kind in _RANGE_ERRORS and len(error["loc"]) == 1:
        return f"field {field!r} is {value}; expected {bounds(model, field)}"
    return f"field {field!r} is {value}: {error['msg']}"


def _shown(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def bounds(model: type[BaseModel], field: str) -> str:
    """The range a number field of ``model`` accepts, in words."""
    words = []
    for rule in model.model_fields[field].metadata:
        if isinstance(rule, Gt):
            words.append(f"greater than {_number(rule.gt)}")
        elif isinstance(rule, Ge):
            words.append(f"at least {_number(rule.ge)}")
        elif isinstance(rule, Lt):
            words.append(f"less than {_number(rule.lt)}")
        elif isinstance(rule, Le):
            words.append(f"at most {_number(rule.le)}")
    return "a finite number " + " and ".join(words)


def _number(value: Any) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
