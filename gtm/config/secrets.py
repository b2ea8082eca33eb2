"""Secret references: the file says where a secret lives, never the secret itself.

A configuration file is copied, diffed and pasted into tickets; a token written in it
leaks. So the file holds ``env:NAME`` or ``file:PATH`` and the component that needs the
secret resolves it at start-up into a ``SecretStr``, which does not show in logs or reprs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, SecretStr, WithJsonSchema
from pydantic_core import PydanticCustomError

from gtm.errors import ConfigError

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
EXPECTED = "expected env:NAME or file:PATH"


def _check(ref: str) -> str:
    kind, _, rest = ref.partition(":")
    if (kind == "env" and _ENV_NAME.fullmatch(rest)) or (kind == "file" and rest):
        return ref
    # The value is left out: a value that is not a reference may be the secret itself.
    raise PydanticCustomError("secret_ref", "not a secret reference (value not shown); " + EXPECTED)


SecretRef = Annotated[
    str,
    AfterValidator(_check),
    WithJsonSchema({"type": "string", "pattern": r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$"}),
]
"""Where a secret lives: ``env:NAME`` (an environment variable) or ``file:PATH``."""


def resolve_secret(ref: str) -> SecretStr:
    """The secret ``ref`` points at, with surrounding whitespace (a final newline) removed.

    Args:
        ref: ``env:NAME`` or ``file:PATH``; a relative path is relative to the working
            directory (the loader makes paths in a config file absolute).

    Raises:
        ConfigError: ``ref`` is not a reference, or names a variable or file that is
            missing, unreadable or empty.
    """
    kind, _, rest = ref.partition(":")
    if kind == "env" and _ENV_NAME.fullmatch(rest):
        value = os.environ.get(rest)
        if value is None:
            raise ConfigError(f"config: secret {ref}: environment variable {rest} is not set")
        where = f"environment variable {rest}"
    elif kind == "file" and rest:
        try:
            value = Path(rest).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"config: secret {ref}: cannot read file {rest}: {exc.strerror or exc}"
            ) from exc
        where = f"file {rest}"
    else:
        raise ConfigError(f"config: secret reference is malformed (value not shown); {EXPECTED}")
    value = value.strip()
    if not value:
        raise ConfigError(f"config: secret {ref}: {where} is empty")
    return SecretStr(value)
