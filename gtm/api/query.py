"""Reading query parameters, with 400 answers that name the parameter, the value and the rule.

A client that sends ``wait=soon`` is told exactly that ``wait`` was ``'soon'`` and what a
valid value looks like, rather than getting a bare "bad request".
"""

from __future__ import annotations

import math
import re

from multidict import MultiMapping

from gtm.api.errors import ApiError, bad_request

_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s|m)?")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}


_MAX_DIGITS = 18
"""Longest integer accepted, so a parameter always fits in 64 bits."""


def _natural(value: str) -> int | None:
    """``value`` as a non-negative integer, or None if it is not one we accept."""
    if value.isascii() and value.isdigit() and len(value) <= _MAX_DIGITS:
        return int(value)
    return None


def _invalid(name: str, value: str, expected: str) -> ApiError:
    return bad_request(
        f"query parameter {name!r} is {value!r}; expected {expected}",
        parameter=name,
        value=value,
    )


def parse_index(value: str) -> int:
    """A mapping version a long poll waits to see passed.

    Raises:
        ApiError: ``value`` is not a non-negative integer.
    """
    index = _natural(value)
    if index is None:
        raise _invalid("index", value, "a non-negative integer mapping version")
    return index


def parse_wait(value: str, limit: float) -> float:
    """A long-poll duration in seconds (``30``, ``30s``, ``500ms``, ``1m``), capped at ``limit``.

    Raises:
        ApiError: ``value`` is not a non-negative duration.
    """
    match = _DURATION.fullmatch(value)
    if match is None:
        raise _invalid("wait", value, "a non-negative duration such as 30, 30s, 500ms or 1m")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    return min(seconds, limit)


def parse_since(value: str, name: str = "since") -> float:
    """A point in time as Unix seconds, from the query parameter ``name``.

    Raises:
        ApiError: ``value`` is not a finite, non-negative number.
    """
    try:
        since = float(value)
    except ValueError:
        since = math.nan
    if not math.isfinite(since) or since < 0:
        raise _invalid(name, value, "a non-negative number of Unix seconds")
    return since


def parse_limit(value: str, maximum: int) -> int:
    """A count of items to return, between 1 and ``maximum``.

    Raises:
        ApiError: ``value`` is not an integer in range.
    """
    limit = _natural(value)
    if limit is not None and 1 <= limit <= maximum:
        return limit
    raise _invalid("limit", value, f"an integer from 1 to {maximum}")


def param(query: MultiMapping[str], name: str) -> str | None:
    """The value of ``name`` in ``query``; an empty value counts as absent, as forms send it."""
    return query.get(name) or None
