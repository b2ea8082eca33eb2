"""Store sections: where the registry keeps mappings, intents and events.

Each store kind is one section chosen by ``type`` and one entry in :data:`STORES`; the
factory named there opens the store from its section.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from gtm.config.plugins import Family, Plugin
from gtm.config.section import Section


class StoreSection(Section):
    """Settings every store shares."""

    type: str
    """The store's kind."""


class MemoryStoreConfig(StoreSection):
    """Keep the registry in memory: nothing survives a restart. For tests and demos."""

    type: Literal["memory"]
    """``memory``."""


class SqliteStoreConfig(StoreSection):
    """Keep the registry in an embedded SQLite file (the default)."""

    type: Literal["sqlite"] = "sqlite"
    """``sqlite``."""
    path: str = "var/gtm.db"
    """Database file. A relative path is relative to the directory of the config file."""


STORES = Family(
    "store",
    {
        "memory": Plugin(MemoryStoreConfig, "gtm.registry.stores.factory:open_memory"),
        "sqlite": Plugin(SqliteStoreConfig, "gtm.registry.stores.factory:open_sqlite"),
    },
)
"""Store kinds. A factory takes the section and ``exclusive`` (claim the store for this
process, where the kind can) and returns a :class:`gtm.registry.store.Store`."""

if TYPE_CHECKING:
    StoreConfig = StoreSection
else:
    StoreConfig = STORES.union()
"""Where the registry keeps mappings, intents and events, chosen by ``type``."""
