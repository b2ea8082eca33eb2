"""Reading query parameters, with 400 answers that name the parameter, the value and the rule.

A client that sends ``wait=soon`` is told exactly that ``wait`` was ``'soon'`` and what a
valid value looks like, rather than getting a bare "bad request". Durations and moments
(``2h``, ``10m`` ago, Unix seconds) are read here for the CLI too, so the command line and
the API take the same spellings.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import TypeVar

from multidict import MultiMapping

from gtm.api.errors import ApiError, bad_request
from gtm.config.durations import parse_duration

T = TypeVar("T")

_NUMBER = re.compile(r"\d+(?:\.\d*)?|\.\d+")
"""A plain non-negative decimal: no sign, exponent, ``nan`` or ``inf``."""

DURATION = "a number of seconds, or a duration such as 500ms, 30s, 10m, 2h or 1h30m"
"""What :func:`parse_seconds` accepts, for messages."""

MOMENT = "a duration ago such as 10m or 2h, or Unix seconds"
"""What :func:`parse_moment` accepts, for messages."""


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


def parse_index(value: str, name: str = "index") -> int:
    """A version (of a mapping, or a run's revision) a long poll waits to see passed.

    Raises:
        ApiError: ``value`` is not a non-negative integer of at most 18 digits.
    """
    index = _natural(value)
    if index is None:
        raise _invalid(name, value, "a non-negative integer of at most 18 digits")
    return index


def parse_seconds(value: str) -> float:
    """Seconds in ``value``: a plain number (``90``, ``1.5``) or a duration (``500ms``, ``2h``).

    The one reading of a duration on the command line and in query parameters, so the
    CLI and the API accept the same spellings.

    Raises:
        ValueError: ``value`` is neither; the message names it and the expected forms.
    """
    try:
        seconds = float(value) if _NUMBER.fullmatch(value) else parse_duration(value)
    except ValueError:
        seconds = math.inf
    if not math.isfinite(seconds):
        raise ValueError(f"{value!r} is not a duration; expected {DURATION}")
    return seconds


def parse_moment(value: str, now: float) -> float:
    """A point in time as Unix seconds: ``value`` Unix seconds, or a duration before ``now``.

    ``2h`` is two hours before ``now``; ``1700000000`` is that many Unix seconds. The CLI's
    ``--since``/``--until`` and the API's ``since``/``until`` both read moments here.

    Raises:
        ValueError: ``value`` is neither; the message names it and the expected forms.
    """
    try:
        moment = float(value) if _NUMBER.fullmatch(value) else now - parse_duration(value)
    except ValueError:
        moment = math.inf
    if not math.isfinite(moment):
        raise ValueError(f"{value!r} is not a moment; expected {MOMENT}")
    return moment


def parse_wait(value: str, limit: float) -> float:
    """A long-poll duration in seconds (``30``, ``30s``, ``500ms``, ``1m``), capped at ``limit``.

    Raises:
        ApiError: ``value`` is not a finite non-negative duration (``nan`` is not).
    """
    try:
        seconds = parse_seconds(value)
    except ValueError:
        raise _invalid(
            "wait",
            value,
            f"a finite duration from 0 to {limit:g}s (longer waits are cut to {limit:g}s), "
            "such as 30, 30s, 500ms or 1m",
        ) from None
    return min(seconds, limit)


def parse_since(value: str, now: float, name: str = "since") -> float:
    """A point in time as Unix seconds, from the query parameter ``name``.

    Takes the CLI's forms (see :func:`parse_moment`): ``2h`` ago, or Unix seconds.

    Raises:
        ApiError: ``value`` is neither.
    """
    try:
        return parse_moment(value, now)
    except ValueError:
        raise _invalid(name, value, MOMENT) from None


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


def of_service(query: MultiMapping[str], detail: Callable[[str | None], T]) -> T:
    """``detail`` of the ``service`` parameter's service, or of every one when it is absent.

    Args:
        query: The request's query.
        detail: What to answer, of one service when given; KeyError for an unknown one.

    Raises:
        ApiError: 404 for a service ``detail`` does not know, naming it.
    """
    service = param(query, "service")
    try:
        return detail(service)
    except KeyError:
        raise ApiError(
            404,
            "not_found",
            f"no service {service!r}; GET /v1/services lists the known ones",
            detail={"service": service},
        ) from None
