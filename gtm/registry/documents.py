"""How registry documents become store bytes and back, with one error for unreadable ones.

The JSON shape itself belongs to :mod:`gtm.core.codec`; this module only frames it, so a
damaged value is reported with the key that holds it instead of a bare ``KeyError``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypeVar

from gtm.core.codec import Document
from gtm.errors import StoreUnavailable
from gtm.registry.store import Entry

T = TypeVar("T")


def encode(doc: Document) -> bytes:
    """``doc`` as compact UTF-8 JSON with sorted keys, so equal documents are equal bytes."""
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def decode(entry: Entry, parse: Callable[[Document], T]) -> T:
    """The value of ``entry`` read as JSON and turned into a model value by ``parse``.

    Raises:
        StoreUnavailable: The value is not a JSON object ``parse`` accepts; the message
            names the key.
    """
    try:
        doc = json.loads(entry.value)
        if not isinstance(doc, dict):
            raise ValueError(f"expected a JSON object, got {type(doc).__name__}")
        return parse(doc)
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreUnavailable(
            f"registry: {entry.key} (index {entry.index}) holds an unreadable document: {exc!r}"
        ) from exc
