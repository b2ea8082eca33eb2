"""Secrets and provider options are checked before gtm starts, every problem at once."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter

from gtm.config.loader import check_config, load_config
from gtm.config.models import Config
from gtm.config.preflight import preflight, preflight_problems
from gtm.config.providers import HaproxyProvider, ProviderConfig, Rfc2136Provider
from gtm.config.secrets import secret_references
from gtm.errors import ConfigError
from gtm.providers import build_provider

EXAMPLE = Path(__file__).parents[2] / "config" / "gtm.example.yaml"
KEY = base64.b64encode(bytes(range(32))).decode()
SECTION: TypeAdapter[ProviderConfig] = TypeAdapter(ProviderConfig)
VARIABLES = ("GTM_PF_TOKEN", "GTM_PF_ALICE", "GTM_PF_BOB", "GTM_PF_KEY_ID", "GTM_PF_KEY")


@pytest.fixture(autouse=True)
def no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """None of the variables these tests name is set unless a test sets it."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def document(**sections: Any) -> dict[str, Any]:
    """A valid configuration with ``sections`` added or replaced."""
    return {
        "zone": "gtm.example.test.",
        "sites": {"a": {}},
        "services": {"s": {"locators": [{"site": "a", "address": "127.0.0.1", "port": 1}]}},
        **sections,
    }


def write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "gtm.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


BIND = {
    "type": "rfc2136",
    "server": "127.0.0.1:53",
    "tsig": {"name": "gtm-key.", "secret": "file:tsig.secret"},
}
ROUTE53 = {
    "type": "route53",
    "hosted_zone_id": "Z1",
    "credentials": {"access_key_id": "env:GTM_PF_KEY_ID", "secret_access_key": "env:GTM_PF_KEY"},
}


# -- secrets ---------------------------------------------------------------------------


def test_every_missing_secret_is_reported_at_once_with_its_field(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            document(
                api={"token": "env:GTM_PF_TOKEN"},
                providers={"bind": BIND, "route53": ROUTE53},
            ),
        )
    )

    problems = [str(problem) for problem in preflight_problems(config)]

    assert problems == [
        "api.token: environment variable GTM_PF_TOKEN is not set",
        f"providers.bind.tsig.secret: cannot read file {tmp_path / 'tsig.secret'}: "
        "No such file or directory",
        "providers.route53.credentials.access_key_id: "
        "environment variable GTM_PF_KEY_ID is not set",
        "providers.route53.credentials.secret_access_key: "
        "environment variable GTM_PF_KEY is not set",
    ]
    with pytest.raises(ConfigError) as caught:
        preflight(config)
    assert caught.value.problems == problems


def test_secrets_that_resolve_leave_nothing_to_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "tsig.secret").write_text(KEY + "\n")
    for name in VARIABLES:
        monkeypatch.setenv(name, f"value of {name}")
    config = load_config(
        write(
            tmp_path,
            document(api={"token": "env:GTM_PF_TOKEN"}, providers={"bind": BIND, "r": ROUTE53}),
        )
    )

    assert preflight_problems(config) == []
    preflight(config)


def test_a_relative_file_secret_of_a_provider_is_read_next_to_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "tsig.secret").write_text(KEY)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    config = load_config(write(tmp_path, document(providers={"bind": BIND})))

    provider = config.providers["bind"]
    assert isinstance(provider, Rfc2136Provider) and provider.tsig is not None
    assert provider.tsig.secret == f"file:{tmp_path / 'tsig.secret'}"
    assert preflight_problems(config) == []


def test_a_tsig_key_that_is_not_base64_is_reported_without_its_value(tmp_path: Path) -> None:
    (tmp_path / "tsig.secret").write_text("not base64 at all!")
    config = load_config(write(tmp_path, document(providers={"bind": BIND})))

    problems = [str(problem) for problem in preflight_problems(config)]

    assert problems == [
        f"providers.bind.tsig.secret: file:{tmp_path / 'tsig.secret'} is not base64 key "
        "material (value not shown)"
    ]
    with pytest.raises(ConfigError, match="is not base64 key material") as caught:
        build_provider("bind", config.providers["bind"], config.zone)
    assert "not base64 at all" not in str(caught.value)


def test_two_tokens_holding_one_secret_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GTM_PF_ALICE", "same")
    monkeypatch.setenv("GTM_PF_BOB", "same")
    tokens = {
        "alice": {"secret": "env:GTM_PF_ALICE", "scope": "admin"},
        "bob": {"secret": "env:GTM_PF_BOB", "scope": "read"},
    }
    config = load_config(write(tmp_path, document(api={"tokens": tokens})))

    assert [str(problem) for problem in preflight_problems(config)] == [
        "api.tokens.bob.secret: env:GTM_PF_BOB holds the same secret as "
        "api.tokens.alice.secret; each token needs a secret of its own"
    ]


def test_every_secret_of_the_example_is_found() -> None:
    config = load_config(EXAMPLE)

    found = [".".join(map(str, path)) for path, _ in secret_references(config)]

    assert found == [
        "api.tokens.alice.secret",
        "api.tokens.ci-deployer.secret",
        "api.tokens.dashboard.secret",
        "providers.bind.tsig.secret",
        "providers.route53.credentials.access_key_id",
        "providers.route53.credentials.secret_access_key",
    ]


# -- check_config ------------------------------------------------------------------------


def test_check_config_reads_secrets_only_when_asked(
    write_config: Callable[[str], Path],
) -> None:
    path = write_config(
        "zone: gtm.example.test.\n"
        "api: {token: env:GTM_PF_TOKEN}\n"
        "sites: {a: {}}\n"
        "services:\n"
        "  s: {locators: [{site: a, address: 127.0.0.1, port: 1}]}\n"
        "providers:\n"
        "  b:\n"
        "    type: rfc2136\n"
        "    server: 127.0.0.1:53\n"
        "    tsig: {name: gtm-key., secret: file:tsig.secret}\n"
    )

    assert check_config(path) == []
    assert check_config(path, secrets=True) == [
        f"{path}: api.token: environment variable GTM_PF_TOKEN is not set (line 2)",
        f"{path}: providers.b.tsig.secret: cannot read file {path.parent / 'tsig.secret'}: "
        "No such file or directory (line 10)",
    ]


def test_load_config_with_secrets_refuses_with_the_lines_check_config_gives(
    write_config: Callable[[str], Path],
) -> None:
    path = write_config(
        "zone: gtm.example.test.\n"
        "api: {token: env:GTM_PF_TOKEN}\n"
        "sites: {a: {}}\n"
        "services:\n"
        "  s: {locators: [{site: a, address: 127.0.0.1, port: 1}]}\n"
    )

    assert load_config(path).api.token == "env:GTM_PF_TOKEN"
    with pytest.raises(ConfigError) as refused:
        load_config(path, secrets=True)

    assert refused.value.problems == check_config(path, secrets=True)
    assert refused.value.problems == [
        f"{path}: api.token: environment variable GTM_PF_TOKEN is not set (line 2)"
    ]


def test_check_config_with_secrets_reports_the_file_first_when_it_is_invalid(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, document(api={"token": "env:GTM_PF_TOKEN"}, zone="a..b"))

    problems = check_config(path, secrets=True)

    assert len(problems) == 1 and "zone: 'a..b' is not a zone" in problems[0]


# The options a provider's constructor refuses, and what check_config says about each.
REFUSED = [
    (
        {"type": "haproxy", "socket": "not-a-socket"},
        "providers.p.socket: 'not-a-socket' is neither unix:/path nor host:port",
    ),
    (
        {"type": "haproxy", "socket": "127.0.0.1:99999"},
        "providers.p.socket: '127.0.0.1:99999' is neither unix:/path nor host:port",
    ),
    (
        {"type": "haproxy", "socket": "unix:"},
        "providers.p.socket: 'unix:' is neither unix:/path nor host:port",
    ),
    (
        {"type": "haproxy", "socket": "unix:/run/haproxy.sock", "backend": "be {service}"},
        "providers.p.backend: 'be {service}' is not a valid HAProxy name",
    ),
    (
        {"type": "haproxy", "socket": "unix:/run/haproxy.sock", "backend": "app"},
        "providers.p.backend: 'app' has no {service}, so it needs exactly one service",
    ),
    (
        {"type": "haproxy", "socket": "unix:/h.sock", "frontends": {"s": "127.0.0.1:0"}},
        "providers.p.frontends.s: '127.0.0.1:0' has port 0",
    ),
    (
        {"type": "rfc2136", "server": "127.0.0.1:0"},
        "providers.p.server: '127.0.0.1:0' has port 0",
    ),
    (
        {"type": "rfc2136", "server": "127.0.0.1:53", "zone": "a..b"},
        "providers.p.zone: 'a..b' is not a zone",
    ),
    (
        {
            "type": "rfc2136",
            "server": "127.0.0.1:53",
            "tsig": {"name": "key..", "secret": "env:GTM_PF_KEY"},
        },
        "providers.p.tsig.name: 'key..' is not a key name",
    ),
    (
        {"type": "route53", "hosted_zone_id": "Z1", "region": "us east 1"},
        "providers.p.region: 'us east 1' is not an AWS region name",
    ),
    (
        {"type": "route53", "hosted_zone_id": "Z1", "endpoint_url": "localhost:5000"},
        "providers.p.endpoint_url: 'localhost:5000' is not an endpoint",
    ),
    (
        {"type": "elbv2", "listeners": {}, "target_groups": {}, "region": "-x"},
        "providers.p.region: '-x' is not an AWS region name",
    ),
]


@pytest.mark.parametrize(("options", "expected"), REFUSED, ids=[e for _, e in REFUSED])
def test_check_config_refuses_what_the_provider_would_refuse_at_start(
    tmp_path: Path, options: dict[str, Any], expected: str
) -> None:
    path = write(tmp_path, document(providers={"p": options}))

    problems = check_config(path)

    assert len(problems) == 1
    assert problems[0].startswith(f"{path}: {expected}")
    # The provider's constructor, given the section alone, refuses it with the same words.
    with pytest.raises(ConfigError) as caught:
        build_provider("p", SECTION.validate_python(options), "gtm.example.test.")
    field, _, message = expected.removeprefix("providers.p.").partition(": ")
    assert f": {field} {message}" in str(caught.value)


def test_provider_problems_come_with_every_other_problem_of_the_file(tmp_path: Path) -> None:
    doc = document(providers={"lb": {"type": "haproxy", "socket": "nowhere"}})
    doc["sites"]["Bad"] = {}

    problems = check_config(write(tmp_path, doc))

    assert [problem.split(": ")[1] for problem in problems] == ["sites.Bad", "providers.lb.socket"]


def test_the_example_passes_its_offline_checks() -> None:
    assert check_config(EXAMPLE) == []


def test_sections_built_in_code_are_checked_by_preflight_too() -> None:
    config = Config.model_validate(document()).model_copy(
        update={"providers": {"lb": HaproxyProvider(type="haproxy", socket="nowhere")}}
    )

    assert [str(problem) for problem in preflight_problems(config)] == [
        "providers.lb.socket: 'nowhere' is neither unix:/path nor host:port with a port in "
        "1..65535 (unix:/run/haproxy/admin.sock, 127.0.0.1:9999)"
    ]
