"""Every model value survives the trip to a JSON document and back."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from gtm.core import codec
from gtm.core.model import Action, Event, Intent, IntentKind, Locator, Mapping, State

LOCATOR = Locator("billing@a/lb-1", "a", "192.0.2.1", 443, 2, 50, State.DOWN)


@pytest.mark.parametrize(
    ("value", "encode", "decode"),
    [
        pytest.param(LOCATOR, codec.locator_to_dict, codec.locator_from_dict, id="locator"),
        pytest.param(
            Mapping("billing", 7, 3, 5, "a", (LOCATOR,), Action.STAY, "why", 12.5, "gtm-1"),
            codec.mapping_to_dict,
            codec.mapping_from_dict,
            id="mapping",
        ),
        pytest.param(
            Mapping("billing", 1, 1, 5, None, ()),
            codec.mapping_to_dict,
            codec.mapping_from_dict,
            id="mapping-negative",
        ),
        pytest.param(
            Intent("i-1", IntentKind.PIN, "billing", "a", "alice", "patching", 1.0, 99.0, True),
            codec.intent_to_dict,
            codec.intent_from_dict,
            id="intent-expiring",
        ),
        pytest.param(
            Intent("i-2", IntentKind.FREEZE),
            codec.intent_to_dict,
            codec.intent_from_dict,
            id="intent-forever",
        ),
        pytest.param(
            Event(
                "move", "billing", 5.0, "a is down", 3, "a", "b", 2, 9, "gtm-1", {"verdict": 4.5}
            ),
            codec.event_to_dict,
            codec.event_from_dict,
            id="event",
        ),
        pytest.param(
            Event("startup", None, 1.0, "started"),
            codec.event_to_dict,
            codec.event_from_dict,
            id="event-minimal",
        ),
        pytest.param(
            Event(
                "move",
                "billing",
                5.0,
                "a is down",
                votes={"billing@a/1": {"gtm-a": "down", "gtm-b": "down", "gtm-c": "up"}},
            ),
            codec.event_to_dict,
            codec.event_from_dict,
            id="event-with-votes",
        ),
    ],
)
def test_round_trip(
    value: object, encode: Callable[[Any], codec.Document], decode: Callable[[Any], object]
) -> None:
    assert decode(json.loads(json.dumps(encode(value)))) == value


@pytest.mark.parametrize(
    ("decode", "document", "expected"),
    [
        pytest.param(
            codec.mapping_from_dict,
            {"service": "billing", "version": 1, "epoch": 1, "ttl": 5},
            Mapping("billing", 1, 1, 5, None, ()),
            id="mapping",
        ),
        pytest.param(
            codec.intent_from_dict,
            {"id": "i", "kind": "drain", "site": "a"},
            Intent("i", IntentKind.DRAIN, site="a"),
            id="intent",
        ),
        pytest.param(
            codec.event_from_dict,
            {"kind": "move", "time": 2},
            Event("move", None, 2.0, ""),
            id="event",
        ),
    ],
)
def test_defaults_for_missing_fields(
    decode: Callable[[codec.Document], object], document: codec.Document, expected: object
) -> None:
    assert decode(document) == expected
