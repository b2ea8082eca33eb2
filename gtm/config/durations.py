"""Durations as operators write them ("500ms", "1s", "2m") and as code uses them (seconds).

Probe intervals and dwell times are read by people far more often than by code, so the
file says ``500ms`` while every consumer gets a plain float of seconds.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = r"(\d+(?:\.\d+)?)(ms|s|m|h)"
_WHOLE = re.compile(rf"(?:{_PART})+")
_PARTS = re.compile(_PART)
EXPECTED = "expected a duration like 500ms, 1s, 2m"


def parse_duration(value: object) -> float:
    """Seconds in a duration given as a number of seconds or a string such as "1m30s".

    Strings are one or more ``<number><unit>`` parts with units ``ms``, ``s``, ``m`` and
    ``h``; a bare number in a string is refused because its unit would be a guess.

    Raises:
        ValueError: ``value`` is not a non-negative duration.
    """
    # bool is an int to Python but ``interval: yes`` is never meant as one second.
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < math.inf:
        return float(value)
    if isinstance(value, str) and _WHOLE.fullmatch(value):
        return sum(float(number) * _UNITS[unit] for number, unit in _PARTS.findall(value))
    raise ValueError(f"{value!r} is not a duration; {EXPECTED}")


def format_duration(seconds: float) -> str:
    """The shortest usual spelling of ``seconds``: 0.5 -> "500ms", 90 -> "90s", 120 -> "2m"."""
    if seconds == 0:
        return "0s"
    for unit, scale in (("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= scale and (seconds / scale).is_integer():
            return f"{int(seconds / scale)}{unit}"
    if seconds >= 1:
        return f"{seconds:g}s"
    return f"{seconds * 1000:g}ms"


def _validate(value: Any) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise PydanticCustomError("duration", "{message}", {"message": str(exc)}) from None


Duration = Annotated[
    float,
    BeforeValidator(_validate),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": f"^{_WHOLE.pattern}$"},
                {"type": "number", "minimum": 0},
            ],
        }
    ),
]
"""Seconds, written as a number or a string such as "500ms", "1s", "1.5s", "2m", "1h"."""
