"""Plug-in families: each kind of store, provider and check is one entry in its family's map.

An entry names the kind's config section and, as ``module:attribute``, the factory that
builds the kind from that section. The config's discriminated union (``type: sqlite``) and
the factory are both derived from the map, so a new kind (the Consul store, a provider) is
one entry beside its section and its module. Factories are imported on first use: the
config layer depends on no implementation, and a gtm without AWS providers never imports
boto3 (the way packaging entry points name a plug-in).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Union

from pydantic import Field

from gtm.config.section import Section


@dataclass(frozen=True, slots=True)
class Plugin:
    """One kind of a family: its config section and the factory that builds it."""

    section: type[Section]
    """The config section of the kind; its ``type`` field names the kind."""
    factory: str
    """``module:attribute`` of the callable that builds the kind from a section; the
    family says what it is called with and returns."""

    def load(self) -> Callable[..., object]:
        """The factory, imported now.

        Raises:
            ImportError: The module cannot be imported.
            AttributeError: The module has no such attribute.
        """
        module, _, name = self.factory.partition(":")
        target: object = getattr(importlib.import_module(module), name)
        if not callable(target):
            raise TypeError(f"plug-in factory {self.factory} is not callable")
        return target


@dataclass(frozen=True, slots=True)
class Family:
    """The kinds of one sort of plug-in (stores, providers, checks) by their config name."""

    name: str
    """What the family is called in messages (``store``)."""
    kinds: Mapping[str, Plugin]
    """Every kind by the name ``type`` gives it, in the order documentation lists them."""

    @property
    def sections(self) -> tuple[type[Section], ...]:
        """The distinct sections of the kinds, in order (one section may serve two kinds,
        as ``http`` and ``https`` share the HTTP check)."""
        return tuple(dict.fromkeys(plugin.section for plugin in self.kinds.values()))

    def union(self) -> Any:
        """The discriminated union of the sections, chosen by ``type``, for pydantic."""
        return Annotated[Union[self.sections], Field(discriminator="type")]  # noqa: UP007

    def factory(self, kind: str) -> Callable[..., object]:
        """The factory of ``kind``, imported on first use.

        Raises:
            KeyError: ``kind`` is not in the family (a section from the union always is).
        """
        return self.kinds[kind].load()
