"""Which release a replica runs, read from its health answer: a header, a JSON field or a
regular expression over the body.

Faux mobility only works when every site runs the same release; the probe that judges a
replica's health is also the cheapest way to ask it which release it runs.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

MAX_RELEASE = 128
"""Characters of a release identifier kept; a longer one is cut, so a replica answering
with a huge field cannot grow what gtm keeps and shows."""


class ReleaseSource(enum.StrEnum):
    """Where in the answer the release identifier is."""

    HEADER = "header"
    """A response header, by name (case-insensitive)."""
    JSON = "json"
    """A field of a JSON object body; dots name nested fields (``build.version``)."""
    REGEX = "regex"
    """A regular expression searched in the body: its first group, or the whole match."""


@dataclass(frozen=True, slots=True)
class ReleaseRule:
    """How to read the release from one HTTP answer.

    Attributes:
        source: Where to look.
        name: The header's name, the JSON field's dotted path, or the pattern.

    Raises:
        ValueError: The name is empty, or the pattern does not compile; the message
            names the rule and the value.
    """

    source: ReleaseSource
    name: str

    def __post_init__(self) -> None:
        """Refuse a rule that could never read anything."""
        if not self.name:
            raise ValueError(f"release rule: {self.source.value} is empty")
        if self.source is ReleaseSource.REGEX:
            try:
                re.compile(self.name)
            except re.error as exc:
                raise ValueError(
                    f"release rule: regex {self.name!r} does not compile: {exc}"
                ) from exc

    @property
    def needs_body(self) -> bool:
        """Whether the body must be read (every source but a header)."""
        return self.source is not ReleaseSource.HEADER

    def read(self, headers: Mapping[str, str], body: bytes) -> str | None:
        """The release the answer names, or None when it names none.

        Args:
            headers: The response headers; a case-insensitive mapping, as aiohttp's.
            body: The start of the body (empty when ``needs_body`` is false).

        Returns:
            The identifier, stripped and cut to ``MAX_RELEASE`` characters; None when the
            header or field is missing or empty, the body is not JSON, the field is not a
            string or a number, or the pattern does not match.
        """
        if self.source is ReleaseSource.HEADER:
            found: object = headers.get(self.name)
        elif self.source is ReleaseSource.JSON:
            found = _field(body, self.name)
        else:
            match = re.search(self.name, body.decode("utf-8", errors="replace"))
            found = None if match is None else match.group(1 if match.re.groups else 0)
        if isinstance(found, bool) or not isinstance(found, str | int | float):
            return None
        text = str(found).strip()[:MAX_RELEASE]
        return text or None


def _field(body: bytes, path: str) -> object:
    """The value at the dotted ``path`` of a JSON object body, or None."""
    try:
        found: object = json.loads(body)
    except ValueError:
        return None
    for key in path.split("."):
        if not isinstance(found, dict):
            return None
        found = found.get(key)
    return found
