"""Intents: listing, creating and withdrawing them, with validation of every field."""

from __future__ import annotations

from typing import Any

import pytest
from api_harness import NOW, Api, ApiFactory

from gtm.core.health import Verdict
from gtm.core.model import Intent, IntentKind
from gtm.core.sites import SiteHealth, site_health
from gtm.errors import SafetyRefused

JSON_TYPE = "application/json"
PIN = {"kind": "pin", "service": "billing", "site": "dc-paris", "why": "aws-use1 maintenance"}


async def post(api: Api, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """POST ``body`` (JSON, or raw when bytes) to /v1/intents; the status and JSON answer."""
    headers = api.writer() if headers is None else headers
    if isinstance(body, bytes):
        request = api.http.post(f"{api.url}/v1/intents", data=body, headers=headers)
    else:
        request = api.http.post(f"{api.url}/v1/intents", json=body, headers=headers)
    async with request as resp:
        return resp.status, await resp.json()


async def test_pin_is_created_with_clock_ttl_and_the_token_as_author(api: Api) -> None:
    status, doc = await post(api, {**PIN, "ttl": 600, "force": True})
    assert status == 201
    assert doc == {
        "id": "i-1",
        "kind": "pin",
        "service": "billing",
        "site": "dc-paris",
        "who": "alice",
        "why": "aws-use1 maintenance",
        "created_at": NOW,
        "expires_at": NOW + 600,
        "force": True,
        "share": None,
        "ttl": None,
    }
    assert api.registry.intents() == [
        Intent(
            id="i-1",
            kind=IntentKind.PIN,
            service="billing",
            site="dc-paris",
            who="alice",
            why="aws-use1 maintenance",
            created_at=NOW,
            expires_at=NOW + 600,
            force=True,
        )
    ]


async def test_created_intent_has_a_location_and_is_listed(api: Api) -> None:
    async with api.http.post(f"{api.url}/v1/intents", json=PIN, headers=api.writer()) as resp:
        assert resp.status == 201
        assert resp.headers["Location"] == "/v1/intents/i-1"
    async with api.http.get(f"{api.url}/v1/intents") as resp:
        assert resp.status == 200
        doc = await resp.json()
    assert [(i["id"], i["who"], i["expires_at"]) for i in doc["intents"]] == [
        ("i-1", "alice", None)
    ]


async def test_drain_and_freeze_may_cover_every_service(api: Api) -> None:
    status, drain = await post(api, {"kind": "drain", "site": "gcp-euw1", "why": "cost"})
    assert status == 201
    assert (drain["service"], drain["site"]) == (None, "gcp-euw1")
    status, freeze = await post(api, {"kind": "freeze", "why": "incident 42"})
    assert status == 201
    assert (freeze["kind"], freeze["service"], freeze["site"]) == ("freeze", None, None)


async def test_remove_answers_the_removed_intent(api: Api) -> None:
    _, created = await post(api, PIN)
    async with api.http.delete(f"{api.url}/v1/intents/i-1", headers=api.writer()) as resp:
        assert resp.status == 200
        assert await resp.json() == created
    assert api.registry.intents() == []


async def test_removing_an_absent_intent_is_a_404(api: Api) -> None:
    async with api.http.delete(f"{api.url}/v1/intents/i-9", headers=api.writer()) as resp:
        assert resp.status == 404
        doc = await resp.json()
    assert doc["error"] == "not_found"
    assert doc["intent"] == "i-9"
    assert "'i-9'" in doc["message"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"kind": "pin", "service": "billing", "why": "x"}, ["pin", "'site'"]),
        ({"kind": "pin", "site": "dc-paris", "why": "x"}, ["pin", "'service'"]),
        ({"kind": "drain", "service": "billing", "why": "x"}, ["drain", "'site'"]),
        ({"kind": "freeze", "site": "dc-paris", "why": "x"}, ["freeze", "'site'"]),
        ({"kind": "pin", "service": "billing", "site": "dc-paris"}, ["'why'", "required"]),
        ({**PIN, "why": "   "}, ["'why'", "at least 1 character"]),
        ({**PIN, "kind": "move"}, ["'kind'", '"move"', "'pin', 'drain', 'freeze'"]),
        ({**PIN, "ttl": -5}, ["'ttl'", "-5", "greater than 0"]),
        ({**PIN, "ttl": "10m"}, ["'ttl'", '"10m"', "number"]),
        ({**PIN, "ttl": True}, ["'ttl'", "true"]),
        ({**PIN, "force": "yes"}, ["'force'", '"yes"', "boolean"]),
        ({**PIN, "until": 5}, ["'until'", "not accepted", "kind, service, site, why"]),
        ({**PIN, "who": ""}, ["'who'"]),
        ([PIN], ["JSON object"]),
    ],
)
async def test_invalid_intents_are_refused_with_the_reason(
    api: Api, body: Any, words: list[str]
) -> None:
    status, doc = await post(api, body)
    assert status == 400
    assert doc["error"] == "bad_request"
    for word in words:
        assert word in doc["message"]
    assert api.registry.intents() == []


async def test_every_problem_of_a_body_is_listed(api: Api) -> None:
    status, doc = await post(api, {"kind": "pin", "ttl": 0, "extra": 1})
    assert status == 400
    assert len(doc["problems"]) == 3
    assert doc["message"] == "; ".join(doc["problems"])


@pytest.mark.parametrize(
    ("field", "value", "known"),
    [
        ("service", "biling", "known services: billing, ledger, search"),
        ("site", "aws-usw2", "known sites: aws-use1, dc-paris, gcp-euw1"),
    ],
)
async def test_unknown_names_are_refused_listing_the_known_ones(
    api: Api, field: str, value: str, known: str
) -> None:
    status, doc = await post(api, {**PIN, field: value})
    assert status == 400
    assert doc["message"] == f"no {field} {value!r}; {known}"
    assert (doc["field"], doc["value"]) == (field, value)


@pytest.mark.parametrize("raw", [b"{", b"", b"kind=pin"])
async def test_malformed_json_is_a_400(api: Api, raw: bytes) -> None:
    status, doc = await post(api, raw, headers={**api.writer(), "Content-Type": JSON_TYPE})
    assert status == 400
    assert doc["error"] == "bad_json"
    assert "not valid JSON" in doc["message"]


async def test_refusal_by_a_safety_rule_is_a_409(api: Api) -> None:
    api.registry.failures["add_intent"] = SafetyRefused(
        "registry: pin to dc-paris refused: site is down (0/1 locators up)"
    )
    status, doc = await post(api, PIN)
    assert status == 409
    assert doc == {
        "error": "safety_refused",
        "message": "registry: pin to dc-paris refused: site is down (0/1 locators up)",
    }


@pytest.mark.parametrize("kind", ["shift", "ttl"])
async def test_run_owned_intent_kinds_are_refused(api: Api, kind: str) -> None:
    body = {"kind": kind, "service": "billing", "site": "gcp-euw1", "why": "by hand"}
    status, doc = await post(api, body)
    assert status == 400
    assert "POST /v1/runs" in doc["message"]
    assert api.registry.intents() == []


# -- admission: a pin to a site that is down is refused without force ----------------------

DOWN_PIN = {**PIN, "site": "gcp-euw1"}


async def test_pin_to_a_down_site_is_refused_naming_site_and_state(api: Api) -> None:
    status, doc = await post(api, DOWN_PIN)
    assert status == 409
    assert doc == {
        "error": "refused",
        "message": "pin of billing to gcp-euw1 refused: gcp-euw1 unhealthy: 0/1 locators up "
        "(min 1); pin with force to send traffic there anyway",
        "site": "gcp-euw1",
    }
    assert api.registry.intents() == []
    status, doc = await post(api, {**DOWN_PIN, "force": True})
    assert status == 201 and doc["force"] is True


async def test_pin_before_any_mapping_is_refused_until_health_is_known(api: Api) -> None:
    status, doc = await post(api, {**PIN, "service": "ledger"})
    assert status == 409
    assert "the health of dc-paris is not known yet" in doc["message"]


async def test_drain_and_freeze_of_a_down_site_are_admitted(api: Api) -> None:
    assert (await post(api, {"kind": "drain", "site": "gcp-euw1", "why": "w"}))[0] == 201
    assert (await post(api, {"kind": "freeze", "service": "billing", "why": "w"}))[0] == 201


class Healths:
    """The controller's view of site health, as the runbook executor offers it."""

    def __init__(self, healthy: set[str]) -> None:
        self.healthy = healthy
        self.asked: list[str] = []

    def site_health(self, service: str) -> dict[str, SiteHealth]:
        self.asked.append(service)
        return {
            site: site_health(
                site, [Verdict.UP if site in self.healthy else Verdict.DOWN], 1, None, NOW
            )
            for site in ("aws-use1", "dc-paris", "gcp-euw1")
        }


async def test_admission_uses_the_controllers_site_health_when_offered(start: ApiFactory) -> None:
    healths = Healths({"aws-use1", "gcp-euw1"})  # the controller says dc-paris is down
    api = await start(runbooks=healths)
    status, doc = await post(api, PIN)
    assert status == 409 and "dc-paris unhealthy" in doc["message"]
    assert (await post(api, DOWN_PIN))[0] == 201
    assert healths.asked == ["billing", "billing"]
