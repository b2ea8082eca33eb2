"""Release readiness in the config: where a check reads each replica's release, and how a
service treats a move to a site running another release.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Self

from pydantic import BeforeValidator, ConfigDict, Field, model_validator

from gtm.config.problems import Problem, problems_error
from gtm.config.section import Section
from healthchecks.release import ReleaseRule, ReleaseSource


class ReleaseConfig(Section):
    """Where an HTTP check reads the release a replica runs; exactly one of the three."""

    # ``json`` is a method of every pydantic model, so the field has another name and
    # ``json`` as its alias; a section handed on from ``defaults`` is revalidated by name.
    model_config = ConfigDict(**Section.model_config, validate_by_name=True, validate_by_alias=True)

    header: str | None = None
    """A response header holding the release (``X-Release``)."""
    json_field: str | None = Field(default=None, alias="json")
    """A field of the JSON body holding the release; dots name nested fields
    (``build.version``)."""
    regex: str | None = None
    """A regular expression searched in the body: its first group is the release, or the
    whole match when it has no group (``'v(\\d+\\.\\d+)'``)."""

    @model_validator(mode="after")
    def _check_one(self) -> Self:
        given = [key for key, name in self._sources() if name is not None]
        if len(given) != 1:
            found = ", ".join(given) or "none"
            message = (
                f"names {found}; expected exactly one of header, json or regex "
                "(release: {header: X-Release})"
            )
            raise problems_error([Problem((), message)])
        empty = [
            Problem((key,), "is empty; expected a name")
            for key, name in self._sources()
            if name == ""
        ]
        if empty:
            raise problems_error(empty)
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                message = f"{self.regex!r} is not a regular expression ({exc}); fix the pattern"
                raise problems_error([Problem(("regex",), message)]) from None
        return self

    def _sources(self) -> tuple[tuple[str, str | None], ...]:
        """Each source's key in the file and the name given for it."""
        return (("header", self.header), ("json", self.json_field), ("regex", self.regex))

    def rule(self) -> ReleaseRule:
        """The prober's rule for this section."""
        key, name = next((key, name) for key, name in self._sources() if name is not None)
        return ReleaseRule(ReleaseSource(key), name)


def _off(value: Any) -> Any:
    # YAML reads a bare ``off`` as false.
    return "off" if value is False else value


Readiness = Annotated[Literal["off", "warn", "strict"], BeforeValidator(_off)]
"""How a service treats a move to a site that runs another release than the active site."""
