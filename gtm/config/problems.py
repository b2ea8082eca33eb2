"""One readable line per configuration problem, whatever found it.

Pydantic reports errors at internal locations (union tags, ``[key]`` markers) with
messages written for programmers. Operators need the field path as it appears in their
file, the value they wrote and what would have been accepted, so this module translates
every error into a :class:`Problem`, and gives validators a way to report several
problems at once (:func:`problems_error`) instead of stopping at the first.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticCustomError

FieldPath = tuple[str | int, ...]
"""Keys and list indexes from the top of the document down to a value."""

_PROBLEMS = "problems"
_KINDS = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
}
_BOUNDS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a configuration, at a field path."""

    path: FieldPath
    message: str

    def __str__(self) -> str:
        return f"{render_path(self.path)}: {self.message}" if self.path else self.message


def render_path(path: FieldPath) -> str:
    """``services.billing.locators[1].site`` from its keys and indexes."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


def show(value: object) -> str:
    """A value as the operator wrote it, cut short when it is a large mapping or list."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def problems_error(problems: Sequence[Problem]) -> PydanticCustomError:
    """An error carrying several problems, paths relative to where the validator runs.

    Raise it from a model or field validator; :func:`describe` expands it into one
    problem per entry, and its plain message lists them all for direct callers.
    """
    summary = "; ".join(str(problem) for problem in problems)
    entries = tuple((problem.path, problem.message) for problem in problems)
    return PydanticCustomError(_PROBLEMS, "{summary}", {"summary": summary, "entries": entries})


def describe(error: ValidationError, root: type[BaseModel]) -> list[Problem]:
    """Every problem in ``error``, raised while validating a ``root``, in document terms."""
    found: list[Problem] = []
    for details in error.errors():
        found.extend(_describe_one(details, root))
    return found


def _describe_one(details: ErrorDetails, root: type[BaseModel]) -> Iterable[Problem]:
    spot = _locate(root, details["loc"])
    kind = details["type"]
    ctx = details.get("ctx", {})
    value = show(details["input"])
    if kind == _PROBLEMS:
        return [Problem((*spot.path, *path), message) for path, message in ctx["entries"]]
    if kind == "missing":
        message = "missing; this key is required"
    elif kind == "extra_forbidden":
        fields = spot.owner.model_fields.items() if spot.owner else ()
        known = sorted(info.alias or name for name, info in fields)
        message = "unknown key; expected one of: " + ", ".join(known)
    elif kind in _BOUNDS:
        message = f"{value} is out of range; expected {spot.bounds()}"
    elif kind == "too_short":
        message = f"{value} is empty; expected at least {ctx['min_length']} entry"
    elif kind == "string_pattern_mismatch":
        message = f"{value} does not match the pattern {ctx['pattern']}"
    elif kind == "literal_error":
        message = f"{value} is not allowed; expected {ctx['expected']}"
    elif kind in ("union_tag_invalid", "union_tag_not_found"):
        tags = ", ".join(repr(tag) for tag in spot.tags())
        wrong = f"{show(ctx.get('tag'))} is not a known type" if "tag" in ctx else "missing"
        return [Problem((*spot.path, "type"), f"{wrong}; expected one of: {tags}")]
    elif kind in _KINDS:
        bounds = spot.bounds()
        message = f"{value} is not {_KINDS[kind]}" + (f"; expected {bounds}" if bounds else "")
    else:
        message = details["msg"].removeprefix("Value error, ")
    return [Problem(tuple(spot.path), message)]


@dataclass(slots=True)
class _Spot:
    """What the walk from the root type down an error location found."""

    annotation: Any
    path: list[str | int] = field(default_factory=list)
    metadata: list[Any] = field(default_factory=list)
    owner: type[BaseModel] | None = None
    """The model whose field the last path element names."""

    def bounds(self) -> str:
        """The numeric range the value had to be in, as "1..65535" or ">= 1"; or ""."""
        metadata = list(self.metadata)
        _strip(self.annotation, metadata)
        found: dict[str, Any] = {}
        for item in metadata:
            for name in ("ge", "gt", "le", "lt"):
                if isinstance(item, getattr(annotated_types, name.capitalize())):
                    found[name] = getattr(item, name)
        if "ge" in found and "le" in found:
            return f"{found['ge']}..{found['le']}"
        signs = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
        return " and ".join(f"{signs[name]} {limit}" for name, limit in found.items())

    def tags(self) -> list[str]:
        """The ``type`` values the union at this spot accepts."""
        members = _members(_strip(self.annotation, [])) or ()
        return [tag for member in members for tag in _tags(member)]


def _locate(root: type[BaseModel], loc: tuple[str | int, ...]) -> _Spot:
    spot = _Spot(root)
    for part in loc:
        _enter(spot, part)
    return spot


def _enter(spot: _Spot, part: str | int) -> None:
    if part == "[key]":
        # The key itself is wrong; the path already ends with it.
        spot.annotation, spot.metadata = None, []
        return
    annotation = _strip(spot.annotation, [])
    members = _members(annotation)
    if members is not None:
        tagged = [member for member in members if part in _tags(member)]
        if tagged:
            # Pydantic names the chosen member of a tagged union; the document does not.
            spot.annotation, spot.metadata = tagged[0], []
            return
        real = [member for member in members if member is not type(None)]
        annotation = _strip(real[0], []) if len(real) == 1 else None
    spot.metadata = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        spot.owner = annotation
        by_key = {info.alias or name: info for name, info in annotation.model_fields.items()}
        info = by_key.get(str(part))
        spot.annotation = info.annotation if info else None
        spot.metadata = list(info.metadata) if info else []
    elif get_origin(annotation) is dict:
        spot.annotation = get_args(annotation)[1]
    elif get_origin(annotation) in (list, tuple):
        spot.annotation = get_args(annotation)[0]
    else:
        spot.annotation = None
    spot.path.append(part)


def _strip(annotation: Any, metadata: list[Any]) -> Any:
    """``annotation`` without ``Annotated``, its metadata appended to ``metadata``."""
    while get_origin(annotation) is Annotated:
        inner, *extra = get_args(annotation)
        for item in extra:
            metadata.append(item)
            if isinstance(item, FieldInfo):
                metadata.extend(item.metadata)
        annotation = inner
    return annotation


def _members(annotation: Any) -> tuple[Any, ...] | None:
    if get_origin(annotation) in (Union, types.UnionType):
        return get_args(annotation)
    return None


def _tags(member: Any) -> tuple[Any, ...]:
    if not (isinstance(member, type) and issubclass(member, BaseModel)):
        return ()
    info = member.model_fields.get("type")
    if info is None or get_origin(info.annotation) is not Literal:
        return ()
    return get_args(info.annotation)
