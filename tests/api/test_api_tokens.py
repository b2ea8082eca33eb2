"""Tokens and scopes: who may change what, who is recorded, and that secrets never leak."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from api_harness import NOW, OPERATOR_TOKEN, READER_TOKEN, TOKEN, TOKENS, Api, ApiFactory
from pydantic import SecretStr

from gtm.api.tokens import Scope, Token, tokens_from_config
from gtm.config.models import ApiConfig, TokenConfig
from gtm.core.model import Intent, IntentKind
from gtm.errors import ConfigError

PIN = {"kind": "pin", "service": "billing", "site": "dc-paris", "why": "aws-use1 maintenance"}
UNKNOWN_TOKEN = "guessed-token"
SECRETS = (TOKEN, OPERATOR_TOKEN, READER_TOKEN)
STANDING = Intent(
    id="i-0",
    kind=IntentKind.FREEZE,
    service="search",
    site=None,
    who="alice",
    why="incident 41",
    created_at=NOW,
)

# What each caller sends: a secret, or nothing at all.
CALLERS = {
    "admin": TOKEN,
    "operate": OPERATOR_TOKEN,
    "read": READER_TOKEN,
    "unknown": UNKNOWN_TOKEN,
    "anonymous": None,
}
# Requests as (method, path, JSON body).
POST_PIN = ("POST", "/v1/intents", PIN)
POST_FORCED_PIN = ("POST", "/v1/intents", {**PIN, "force": True})
DELETE_INTENT = ("DELETE", "/v1/intents/i-0", None)
LIST_INTENTS = ("GET", "/v1/intents", None)
RESOLVE = ("GET", "/v1/services/billing", None)

TABLE = [
    (caller, request, status)
    for request, statuses in (
        (POST_PIN, {"admin": 201, "operate": 201, "read": 403, "unknown": 403, "anonymous": 401}),
        (
            POST_FORCED_PIN,
            {"admin": 201, "operate": 403, "read": 403, "unknown": 403, "anonymous": 401},
        ),
        (
            DELETE_INTENT,
            {"admin": 200, "operate": 200, "read": 403, "unknown": 403, "anonymous": 401},
        ),
        (LIST_INTENTS, dict.fromkeys(CALLERS, 200)),
        (RESOLVE, dict.fromkeys(CALLERS, 200)),
    )
    for caller, status in statuses.items()
]


def bearer(secret: str | None) -> dict[str, str]:
    """The Authorization header carrying ``secret``; none for None."""
    return {} if secret is None else {"Authorization": f"Bearer {secret}"}


async def send(
    api: Api, request: tuple[str, str, Any], headers: dict[str, str]
) -> tuple[int, str, dict[str, str]]:
    """Send ``request``; the status, the raw body and the headers of the answer."""
    method, path, body = request
    async with api.http.request(method, f"{api.url}{path}", json=body, headers=headers) as resp:
        return resp.status, await resp.text(), dict(resp.headers)


@pytest.fixture
async def standing(api: Api) -> Api:
    """The API with one standing intent, ``i-0``, to withdraw."""
    await api.registry.add_intent(STANDING)
    return api


@pytest.mark.parametrize(
    ("caller", "request_", "status"),
    TABLE,
    ids=[f"{caller}-{request[0]}-{request[1]}-{request[2]}" for caller, request, _ in TABLE],
)
async def test_each_scope_may_do_what_it_covers_and_nothing_more(
    standing: Api, caller: str, request_: tuple[str, str, Any], status: int
) -> None:
    before = standing.registry.intents()

    answer, _, _ = await send(standing, request_, bearer(CALLERS[caller]))

    assert answer == status
    if status >= 400:
        assert standing.registry.intents() == before
    elif request_[0] == "POST":
        assert len(standing.registry.intents()) == len(before) + 1
    elif request_[0] == "DELETE":
        assert standing.registry.intents() == []


async def test_a_request_without_a_token_is_told_how_to_send_one(api: Api) -> None:
    status, raw, headers = await send(api, POST_PIN, {})

    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert json.loads(raw) == {
        "error": "unauthorized",
        "message": "this request changes state: send 'Authorization: Bearer <token>' with a "
        "token of scope operate (api.tokens in the config)",
        "needed": "operate",
    }


@pytest.mark.parametrize("header", [f"Basic {TOKEN}", "Bearer", "Bearer   ", TOKEN])
async def test_an_authorization_that_is_not_a_bearer_token_is_a_401(api: Api, header: str) -> None:
    status, raw, headers = await send(api, POST_PIN, {"Authorization": header})

    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert "'Bearer <token>'" in raw
    assert TOKEN not in raw
    assert api.registry.intents() == []


@pytest.mark.parametrize("presented", [UNKNOWN_TOKEN, TOKEN[:-1], TOKEN + "x", TOKEN.upper()])
async def test_a_token_that_is_not_configured_is_a_403(api: Api, presented: str) -> None:
    status, raw, _ = await send(api, POST_PIN, bearer(presented))

    assert status == 403
    doc = json.loads(raw)
    assert doc["error"] == "forbidden"
    assert "not one of the api.tokens" in doc["message"]
    assert doc["needed"] == "operate"
    assert presented not in raw


async def test_a_weak_scope_is_a_403_naming_both_scopes_and_the_token(api: Api) -> None:
    status, raw, _ = await send(api, POST_PIN, bearer(READER_TOKEN))

    assert status == 403
    assert json.loads(raw) == {
        "error": "insufficient_scope",
        "message": "POST /v1/intents needs a token of scope operate; "
        "token 'dashboard' has scope read",
        "token": "dashboard",
        "scope": "read",
        "needed": "operate",
    }


async def test_forcing_a_pin_needs_admin(api: Api) -> None:
    status, raw, _ = await send(api, POST_FORCED_PIN, bearer(OPERATOR_TOKEN))

    assert status == 403
    doc = json.loads(raw)
    assert doc["message"] == (
        "an intent with force: true needs a token of scope admin; "
        "token 'ci-deployer' has scope operate"
    )
    assert (doc["scope"], doc["needed"]) == ("operate", "admin")


async def test_without_tokens_the_api_is_read_only(start: ApiFactory) -> None:
    api = await start(tokens={})
    await api.registry.add_intent(STANDING)

    for request in (POST_PIN, POST_FORCED_PIN, DELETE_INTENT):
        status, raw, _ = await send(api, request, bearer(TOKEN))
        assert status == 403
        doc = json.loads(raw)
        assert doc["error"] == "read_only"
        assert "add api.tokens to the config" in doc["message"]
        assert doc["needed"] in ("operate", "admin")
    assert api.registry.intents() == [STANDING]
    for request in (LIST_INTENTS, RESOLVE):
        status, _, _ = await send(api, request, {})
        assert status == 200


@pytest.mark.parametrize(
    ("secret", "claimed", "who", "why"),
    [
        (OPERATOR_TOKEN, None, "ci-deployer", "aws-use1 maintenance"),
        (OPERATOR_TOKEN, "ci-deployer", "ci-deployer", "aws-use1 maintenance"),
        (OPERATOR_TOKEN, "bob", "ci-deployer", "aws-use1 maintenance (on behalf of bob)"),
        (TOKEN, "ci-deployer", "alice", "aws-use1 maintenance (on behalf of ci-deployer)"),
    ],
)
async def test_the_author_is_the_token_and_a_claimed_name_is_kept_as_text(
    api: Api, secret: str, claimed: str | None, who: str, why: str
) -> None:
    body = PIN if claimed is None else {**PIN, "who": claimed}

    status, raw, _ = await send(api, ("POST", "/v1/intents", body), bearer(secret))

    assert status == 201
    doc = json.loads(raw)
    assert (doc["who"], doc["why"]) == (who, why)
    assert [(i.who, i.why) for i in api.registry.intents()] == [(who, why)]


async def test_no_secret_shows_in_answers_or_logs(
    standing: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    for caller, request, _ in TABLE:
        status, raw, headers = await send(standing, request, bearer(CALLERS[caller]))
        seen.append(f"{status} {raw} {headers}")
    statuses = {text.split(" ", 1)[0] for text in seen}

    assert {"200", "201", "401", "403"} <= statuses
    assert any("ci-deployer" in record.getMessage() for record in caplog.records)
    for secret in (*SECRETS, UNKNOWN_TOKEN):
        assert secret not in caplog.text
        assert all(secret not in text for text in seen)


def test_a_token_hides_its_secret() -> None:
    token = TOKENS["alice"]

    assert TOKEN not in repr(token)
    assert TOKEN not in str(token)
    assert token.secret.get_secret_value() == TOKEN


def test_scopes_are_ordered_and_named_in_lowercase() -> None:
    assert Scope.READ < Scope.OPERATE < Scope.ADMIN
    assert [str(scope) for scope in Scope] == ["read", "operate", "admin"]


def test_tokens_are_built_from_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GTM_TEST_ALICE", TOKEN)
    monkeypatch.setenv("GTM_TEST_CI", OPERATOR_TOKEN)
    config = ApiConfig(
        tokens={
            "alice": TokenConfig(secret="env:GTM_TEST_ALICE", scope="admin"),
            "ci-deployer": TokenConfig(secret="env:GTM_TEST_CI", scope="operate"),
        }
    )

    assert tokens_from_config(config) == {
        "alice": Token("alice", Scope.ADMIN, SecretStr(TOKEN)),
        "ci-deployer": Token("ci-deployer", Scope.OPERATE, SecretStr(OPERATOR_TOKEN)),
    }


def test_the_single_api_token_is_the_admin_token_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GTM_TEST_TOKEN", TOKEN)

    tokens = tokens_from_config(ApiConfig(token="env:GTM_TEST_TOKEN"))

    assert tokens == {"default": Token("default", Scope.ADMIN, SecretStr(TOKEN))}


def test_no_token_configured_means_none() -> None:
    assert tokens_from_config(ApiConfig()) == {}


def test_two_tokens_with_the_same_secret_are_refused_without_showing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GTM_TEST_ALICE", TOKEN)
    monkeypatch.setenv("GTM_TEST_BOB", TOKEN)
    config = ApiConfig(
        tokens={
            "alice": TokenConfig(secret="env:GTM_TEST_ALICE", scope="admin"),
            "bob": TokenConfig(secret="env:GTM_TEST_BOB", scope="read"),
        }
    )

    with pytest.raises(ConfigError) as caught:
        tokens_from_config(config)

    message = str(caught.value)
    assert "api.tokens.bob" in message and "api.tokens.alice" in message
    assert TOKEN not in message


def test_an_unresolvable_secret_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GTM_TEST_ABSENT", raising=False)
    config = ApiConfig(tokens={"alice": TokenConfig(secret="env:GTM_TEST_ABSENT", scope="admin")})

    with pytest.raises(ConfigError, match="environment variable GTM_TEST_ABSENT is not set"):
        tokens_from_config(config)
