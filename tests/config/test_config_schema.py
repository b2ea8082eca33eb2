"""The committed JSON schema matches the models."""

from __future__ import annotations

import json
from pathlib import Path

from gtm.config.schema import dump_schema

SCHEMA_FILE = Path(__file__).parents[2] / "config" / "gtm.schema.json"


def test_schema_file_is_current() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == dump_schema(), (
        "config/gtm.schema.json is out of date; run "
        "`python -m gtm.config.schema > config/gtm.schema.json`"
    )


def test_schema_documents_fields_and_accepts_durations_as_text_or_number() -> None:
    schema = json.loads(dump_schema())
    interval = schema["$defs"]["HttpCheck"]["properties"]["interval"]

    assert interval["description"] == "Time between two probes of the same locator; at least 200ms."
    assert [branch["type"] for branch in interval["anyOf"]] == ["string", "number"]
    assert schema["required"] == ["zone", "sites", "services"]
    assert schema["additionalProperties"] is False
