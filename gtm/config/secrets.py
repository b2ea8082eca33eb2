"""Secret references: the file says where a secret lives, never the secret itself.

A configuration file is copied, diffed and pasted into tickets; a token written in it
leaks. So the file holds ``env:NAME`` or ``file:PATH`` and the component that needs the
secret resolves it at start-up into a ``SecretStr``, which does not show in logs or reprs.
A secret file every user of the host can read is warned about, once per file.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin

from pydantic import AfterValidator, BaseModel, SecretStr, WithJsonSchema
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from gtm.config.problems import FieldPath
from gtm.errors import ConfigError

log = logging.getLogger(__name__)

SectionT = TypeVar("SectionT", bound=BaseModel)
_warned: set[str] = set()
"""Secret files already warned about, so a file read by several parts is named once."""

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
EXPECTED = "expected env:NAME or file:PATH"


def _check(ref: str) -> str:
    if _is_reference(ref):
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
    try:
        return read_secret(ref)
    except ValueError as exc:
        if not _is_reference(ref):
            raise ConfigError(f"config: secret {exc}") from exc
        raise ConfigError(f"config: secret {ref}: {exc}") from exc


def read_secret(ref: str) -> SecretStr:
    """Like :func:`resolve_secret`, for callers that say themselves where ``ref`` is from.

    Raises:
        ValueError: Why the secret cannot be had, without the reference
            (``environment variable GTM_TOKEN is not set``), so the caller can put the
            field it came from in front.
    """
    if not _is_reference(ref):
        raise ValueError(f"reference is malformed (value not shown); {EXPECTED}")
    kind, _, rest = ref.partition(":")
    if kind == "env":
        value = os.environ.get(rest)
        if value is None:
            raise ValueError(f"environment variable {rest} is not set")
        where = f"environment variable {rest}"
    else:
        try:
            value = Path(rest).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ValueError(f"cannot read file {rest}: {reason}") from exc
        where = f"file {rest}"
        warn_if_world_readable(rest)
    value = value.strip()
    if not value:
        raise ValueError(f"{where} is empty")
    return SecretStr(value)


def warn_if_world_readable(path: str) -> None:
    """Warn, once per file, when every user of the host may read the secret file ``path``."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # it was just read; a file gone since is not this check's to report
    if mode & stat.S_IROTH and path not in _warned:
        _warned.add(path)
        log.warning(
            "config: secret file %s is readable by every user of this host (mode %03o); "
            "restrict it with: chmod o-rwx %s",
            path,
            stat.S_IMODE(mode),
            path,
        )


def _is_reference(ref: str) -> bool:
    kind, _, rest = ref.partition(":")
    return (kind == "env" and _ENV_NAME.fullmatch(rest) is not None) or (
        kind == "file" and bool(rest)
    )


def secret_references(section: BaseModel, path: FieldPath = ()) -> list[tuple[FieldPath, str]]:
    """Every secret reference set in ``section`` and the sections in it, with its field path.

    Found by the fields' type, so a secret added to any section is found too.

    Args:
        section: A configuration section, usually the whole :class:`Config`.
        path: Where ``section`` is in the document, put in front of every path.
    """
    found: list[tuple[FieldPath, str]] = []
    for name, secret in _secret_fields(type(section)):
        value = getattr(section, name)
        if secret:
            if isinstance(value, str):
                found.append(((*path, name), value))
        else:
            found += _references_in(value, (*path, name))
    return found


def map_secrets(section: SectionT, change: Callable[[str], str]) -> SectionT:
    """``section`` with ``change`` applied to every secret reference in it (not to secrets).

    Sections without a changed reference are returned as they are.
    """
    update: dict[str, Any] = {}
    for name, secret in _secret_fields(type(section)):
        value = getattr(section, name)
        if secret:
            changed = change(value) if isinstance(value, str) else value
        else:
            changed = _map_in(value, change)
        if changed is not value and changed != value:
            update[name] = changed
    return section.model_copy(update=update) if update else section


_FIELDS: dict[type[BaseModel], tuple[tuple[str, bool], ...] | None] = {}
"""Per section type, its fields that are or may hold a secret reference (None while it
is being worked out)."""


def _secret_fields(section: type[BaseModel]) -> tuple[tuple[str, bool], ...]:
    """The fields of ``section`` that are a secret reference (True) or may hold one in a
    section within (False), in declaration order.

    Worked out once per type from the fields' annotations, so a walk over ten thousand
    services reads only the fields a secret can be in, instead of judging every field of
    every section again.
    """
    known = _FIELDS.get(section)
    if known is not None:
        return known
    _FIELDS[section] = None  # a section within itself: assumed to hold one (see _may_hold)
    fields = tuple(
        (name, _is_secret(info))
        for name, info in section.model_fields.items()
        if _is_secret(info) or _may_hold(info.annotation)
    )
    _FIELDS[section] = fields
    return fields


def _may_hold(annotation: Any) -> bool:
    """Whether a value of type ``annotation`` may contain a section with a secret.

    Anything not understood (``Any``, a bare ``list``, a name not resolved) may.
    """
    origin = get_origin(annotation)
    if origin is Literal:
        return False
    if origin is Annotated:
        return _may_hold(get_args(annotation)[0])
    if origin is not None:
        return any(_may_hold(arg) for arg in get_args(annotation) if arg is not Ellipsis)
    if annotation is Any or annotation is object:
        return True
    if annotation is None or annotation is type(None):
        return False
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        within_itself = annotation in _FIELDS and _FIELDS[annotation] is None
        return within_itself or bool(_secret_fields(annotation))
    if isinstance(annotation, type):
        return issubclass(annotation, list | tuple | dict)
    return True


def _is_secret(info: FieldInfo) -> bool:
    # Pydantic unpacks ``SecretRef`` into str plus its metadata, but leaves it whole
    # inside ``SecretRef | None``.
    marker = get_args(SecretRef)[1]
    return marker in info.metadata or SecretRef in get_args(info.annotation)


def _references_in(value: object, path: FieldPath) -> list[tuple[FieldPath, str]]:
    if isinstance(value, BaseModel):
        return secret_references(value, path)
    if isinstance(value, dict):
        return [
            found for key, item in value.items() for found in _references_in(item, (*path, key))
        ]
    if isinstance(value, list | tuple):
        return [
            found
            for index, item in enumerate(value)
            for found in _references_in(item, (*path, index))
        ]
    return []


def _map_in(value: Any, change: Callable[[str], str]) -> Any:
    if isinstance(value, BaseModel):
        return map_secrets(value, change)
    if isinstance(value, dict):
        return {key: _map_in(item, change) for key, item in value.items()}
    if isinstance(value, list):
        return [_map_in(item, change) for item in value]
    return value
