"""Secret references resolve to SecretStr values, and say clearly what is missing."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from gtm.config import resolve_secret
from gtm.config.secrets import SecretRef, _secret_fields, map_secrets, secret_references
from gtm.errors import ConfigError


def test_env_reference_reads_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GTM_TEST_TOKEN", "s3cret")

    secret = resolve_secret("env:GTM_TEST_TOKEN")

    assert secret.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(secret) and "s3cret" not in str(secret)


def test_file_reference_reads_the_file_without_its_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("s3cret\n", encoding="utf-8")

    assert resolve_secret(f"file:{path}").get_secret_value() == "s3cret"


def test_missing_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GTM_TEST_TOKEN", raising=False)

    with pytest.raises(ConfigError, match="environment variable GTM_TEST_TOKEN is not set"):
        resolve_secret("env:GTM_TEST_TOKEN")


def test_empty_variable_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GTM_TEST_TOKEN", "  ")

    with pytest.raises(ConfigError, match="environment variable GTM_TEST_TOKEN is empty"):
        resolve_secret("env:GTM_TEST_TOKEN")


def test_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "absent"

    with pytest.raises(ConfigError, match=f"cannot read file {path}: No such file"):
        resolve_secret(f"file:{path}")


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("\n", encoding="utf-8")

    with pytest.raises(ConfigError, match=f"file {path} is empty"):
        resolve_secret(f"file:{path}")


@pytest.mark.parametrize("ref", ["hunter2", "env:", "env:1BAD", "file:", "vault:x"])
def test_malformed_reference_is_refused(ref: str) -> None:
    with pytest.raises(ConfigError, match="expected env:NAME or file:PATH"):
        resolve_secret(ref)


def test_malformed_reference_is_not_shown() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_secret("hunter2")

    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(("mode", "warned"), [(0o600, False), (0o640, False), (0o644, True)])
def test_a_secret_file_every_user_can_read_is_warned_about_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: int, warned: bool
) -> None:
    path = tmp_path / "token"
    path.write_text("s3cret\n")
    path.chmod(mode)
    caplog.set_level(logging.WARNING, logger="gtm.config.secrets")

    for _ in range(3):
        assert resolve_secret(f"file:{path}").get_secret_value() == "s3cret"

    lines = [r.getMessage() for r in caplog.records if r.name == "gtm.config.secrets"]
    if warned:
        assert len(lines) == 1
        assert str(path) in lines[0] and "mode 644" in lines[0] and "chmod o-rwx" in lines[0]
        assert "s3cret" not in lines[0]
    else:
        assert lines == []


class _Key(BaseModel):
    secret: SecretRef
    algorithm: Literal["hmac-sha256"] = "hmac-sha256"


class _Holder(BaseModel):
    name: str = "x"
    keys: dict[str, _Key] = {}
    chain: list[_Key] = []
    anything: Any = None
    nested: _Holder | None = None
    count: int = 0


def test_secret_references_are_found_wherever_a_section_can_hold_them() -> None:
    holder = _Holder(
        keys={"a": _Key(secret="env:A")},
        chain=[_Key(secret="env:B")],
        anything=_Key(secret="env:C"),
        nested=_Holder(keys={"d": _Key(secret="env:D")}),
    )

    found = secret_references(holder)

    assert found == [
        (("keys", "a", "secret"), "env:A"),
        (("chain", 0, "secret"), "env:B"),
        (("anything", "secret"), "env:C"),
        (("nested", "keys", "d", "secret"), "env:D"),
    ]
    changed = map_secrets(holder, lambda ref: ref.upper())
    assert [ref for _, ref in secret_references(changed)] == ["ENV:A", "ENV:B", "ENV:C", "ENV:D"]


def test_fields_that_cannot_hold_a_secret_are_not_walked() -> None:
    assert [name for name, _ in _secret_fields(_Holder)] == ["keys", "chain", "anything", "nested"]
    assert _secret_fields(_Key) == (("secret", True),)
