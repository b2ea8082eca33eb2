"""Read the load figure a replica reports in its health answer, for cloud bursting.

A replica knows its own load better than any prober can guess from outside (queue
depth, CPU, sessions); the check names where the answer carries it, a header or a JSON
field, and this module reads it. A figure that is missing or not a number is no figure:
health is judged by the status alone, never by whether the load could be read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LoadReader:
    """Where the figure is: a response header, or a JSON field of the body (dots nest).

    Attributes:
        header: Name of the header holding the figure, e.g. ``X-Load``.
        field: Dotted path of the JSON field holding it, e.g. ``load`` or ``load.cpu``.
    """

    header: str | None = None
    field: str | None = None

    def __post_init__(self) -> None:
        """Refuse a reader that names no place, or two."""
        if (self.header is None) == (self.field is None):
            raise ValueError("load reader: name exactly one of header or field")

    @property
    def needs_body(self) -> bool:
        """Whether the figure is in the body, which must then be read."""
        return self.field is not None

    def read(self, headers: Mapping[str, str], body: bytes) -> float | None:
        """The figure in a health answer, or None when it is missing or not a number.

        Args:
            headers: The response headers (a case-insensitive mapping, as aiohttp's).
            body: The start of the response body.
        """
        if self.header is not None:
            return _number(headers.get(self.header))
        assert self.field is not None
        try:
            value: object = json.loads(body)
        except ValueError:
            return None
        for key in self.field.split("."):
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return _number(value)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        figure = float(value)
    elif isinstance(value, str):
        try:
            figure = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return figure if math.isfinite(figure) else None
