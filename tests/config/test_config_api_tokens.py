"""API tokens in the configuration: named tokens with scopes, and the single api.token."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from gtm.config import check_config, load_config
from gtm.config.models import TokenConfig
from gtm.config.schema import dump_schema
from gtm.errors import ConfigError

WriteConfig = Callable[[str], Path]

TOP = """\
zone: gtm.example.test.
sites:
  aws-use1: {}
services:
  billing:
    locators: [{site: aws-use1, address: 127.0.1.1, port: 18081}]
"""
"""A configuration with everything but the api section."""


def problems_in(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.problems


def test_named_tokens_are_loaded_with_their_scopes(write_config: WriteConfig) -> None:
    path = write_config(
        TOP
        + """\
api:
  tokens:
    alice: {secret: env:GTM_ALICE_TOKEN, scope: admin}
    ci-deployer: {secret: env:GTM_CI_TOKEN, scope: operate}
    dashboard: {secret: env:GTM_DASHBOARD_TOKEN, scope: read}
"""
    )

    api = load_config(path).api

    assert api.token is None
    assert api.bearer_tokens == {
        "alice": TokenConfig(secret="env:GTM_ALICE_TOKEN", scope="admin"),
        "ci-deployer": TokenConfig(secret="env:GTM_CI_TOKEN", scope="operate"),
        "dashboard": TokenConfig(secret="env:GTM_DASHBOARD_TOKEN", scope="read"),
    }


def test_the_single_token_is_the_admin_token_default(write_config: WriteConfig) -> None:
    api = load_config(write_config(TOP + "api: {token: env:GTM_TOKEN}\n")).api

    assert api.tokens == {}
    assert api.bearer_tokens == {"default": TokenConfig(secret="env:GTM_TOKEN", scope="admin")}


def test_no_token_at_all_is_a_read_only_api(write_config: WriteConfig) -> None:
    assert load_config(write_config(TOP)).api.bearer_tokens == {}


@pytest.mark.parametrize(
    ("api", "expected"),
    [
        pytest.param(
            "api:\n  token: env:GTM_TOKEN\n  tokens: {alice: {secret: env:A, scope: admin}}\n",
            "api.token: cannot be set together with api.tokens; keep one (api.token is short "
            "for api.tokens: {default: {secret: ..., scope: admin}}) (line 8)",
            id="both-forms",
        ),
        pytest.param(
            "api: {tokens: {alice: {secret: env:A, scope: root}}}\n",
            "api.tokens.alice.scope: 'root' is not allowed; expected 'read', 'operate' or "
            "'admin' (line 7)",
            id="unknown-scope",
        ),
        pytest.param(
            "api: {tokens: {alice: {secret: env:A}}}\n",
            "api.tokens.alice.scope: missing; this key is required (line 7)",
            id="no-scope",
        ),
        pytest.param(
            "api: {tokens: {alice: {secret: hunter2, scope: admin}}}\n",
            "api.tokens.alice.secret: not a secret reference (value not shown); "
            "expected env:NAME or file:PATH (line 7)",
            id="secret-not-a-reference",
        ),
        pytest.param(
            "api: {tokens: {Alice: {secret: env:A, scope: admin}}}\n",
            "api.tokens.Alice: 'Alice' is not a valid name",
            id="name-not-a-label",
        ),
        pytest.param(
            "api:\n  tokens:\n    alice: {secret: env:A, scope: admin}\n"
            "    bob: {secret: env:A, scope: read}\n",
            "api.tokens.bob.secret: same secret as api.tokens.alice; each token needs a "
            "secret of its own, or the name could not tell who asked (line 10)",
            id="shared-secret",
        ),
    ],
)
def test_each_token_problem_is_reported(write_config: WriteConfig, api: str, expected: str) -> None:
    path = write_config(TOP + api)

    problems = problems_in(path)

    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}: {expected}"), problems[0]
    assert check_config(path) == problems


def test_a_token_secret_that_is_not_a_reference_is_never_echoed(
    write_config: WriteConfig,
) -> None:
    path = write_config(TOP + "api: {tokens: {alice: {secret: hunter2, scope: admin}}}\n")

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert "hunter2" not in str(caught.value)


def test_the_schema_lists_the_scopes() -> None:
    schema = json.loads(dump_schema())
    token = schema["$defs"]["TokenConfig"]

    assert token["properties"]["scope"]["enum"] == ["read", "operate", "admin"]
    assert token["required"] == ["secret", "scope"]
    tokens = schema["$defs"]["ApiConfig"]["properties"]["tokens"]
    assert list(tokens["patternProperties"].values()) == [{"$ref": "#/$defs/TokenConfig"}]


def test_token_files_are_relative_to_the_config_file(
    write_config: WriteConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(
        TOP + "api: {tokens: {alice: {secret: file:secrets/alice, scope: admin}}}\n"
    )
    monkeypatch.chdir("/")

    api = load_config(str(path)).api

    assert api.tokens["alice"].secret == f"file:{tmp_path / 'secrets' / 'alice'}"
