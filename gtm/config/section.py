"""The base every configuration model shares, so they all behave the same way."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A part of the configuration: strict about unknown keys, immutable once loaded.

    Field documentation is written as attribute docstrings so that it also lands in the
    JSON schema. Instances are revalidated when nested into another section, so checks
    that depend on the enclosing section (a locator's site) also see hand-built parts.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
        revalidate_instances="always",
    )
