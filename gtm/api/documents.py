"""How the API puts JSON on the wire: one compact encoding for every answer.

Answers are built from bytes rather than through ``web.json_response`` so the resolve path
can reuse an encoded body across requests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

JSON = "application/json"


def encode(doc: Any) -> bytes:
    """``doc`` as compact UTF-8 JSON."""
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(
    doc: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """An answer carrying ``doc`` as JSON."""
    return web.Response(body=encode(doc), status=status, headers=headers, content_type=JSON)
