"""Names that end up in DNS: service and site names, and the zone that holds them.

A service ``billing`` is answered as ``billing.<zone>`` and sites show up in locator ids,
so both must be valid DNS labels; checking them here keeps a bad name from surfacing as
a confusing error in the DNS responder.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_ZONE_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")


def _check_label(name: str) -> str:
    if _LABEL.fullmatch(name):
        return name
    raise PydanticCustomError(
        "name",
        "{value} is not a valid name; expected 1..63 lowercase letters, digits and hyphens, "
        "not starting or ending with a hyphen",
        {"value": repr(name)},
    )


Label = Annotated[
    str,
    AfterValidator(_check_label),
    WithJsonSchema({"type": "string", "pattern": f"^{_LABEL.pattern}$"}),
]
"""A DNS-label-safe name: lowercase letters, digits and hyphens, 1..63 characters."""


def normalize_zone(zone: str) -> str:
    """``zone`` lowercased and made absolute (ending with a dot).

    Raises:
        ValueError: ``zone`` is the root, has an empty or invalid label, or is too long.
    """
    absolute = zone.lower() if zone.endswith(".") else f"{zone.lower()}."
    labels = absolute[:-1].split(".")
    if absolute == "." or len(absolute) > 254 or not all(map(_ZONE_LABEL.fullmatch, labels)):
        raise ValueError(f"{zone!r} is not a zone; expected a domain name such as gtm.example.com.")
    return absolute


def _check_zone(zone: str) -> str:
    try:
        return normalize_zone(zone)
    except ValueError as exc:
        raise PydanticCustomError("zone", "{message}", {"message": str(exc)}) from None


Zone = Annotated[str, AfterValidator(_check_zone)]
"""A DNS zone, stored lowercased with its final dot."""
