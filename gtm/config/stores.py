"""Store sections: where the registry keeps mappings, intents and events.

Each store kind is one section chosen by ``type`` and one entry in :data:`STORES`; the
factory named there opens the store from its section.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from gtm.config.plugins import Family, Plugin
from gtm.config.secrets import SecretRef
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


class ConsulStoreConfig(StoreSection):
    """Keep the registry in a Consul cluster's KV store, shared by every gtm that uses it."""

    type: Literal["consul"]
    """``consul``."""
    address: str = "127.0.0.1:8500"
    """``host:port`` of the HTTP API of a Consul agent (the local one, beside gtm)."""
    prefix: str = Field(default="gtm/", pattern=r"^[^/].*/$")
    """Key prefix every key of this gtm lives under, ending in ``/``; a running gtm holds
    ``<prefix>lock``, so two on one prefix are refused."""
    token: SecretRef | None = None
    """ACL token with read and write on the prefix, and session write when the store is
    held exclusively (``env:NAME`` or ``file:PATH``); omit when ACLs are off."""
    datacenter: str | None = None
    """Consul datacenter to use; omit for the agent's own."""


STORES = Family(
    "store",
    {
        "memory": Plugin(MemoryStoreConfig, "gtm.registry.stores.factory:open_memory"),
        "sqlite": Plugin(SqliteStoreConfig, "gtm.registry.stores.factory:open_sqlite"),
        "consul": Plugin(ConsulStoreConfig, "gtm.registry.stores.consul:open_consul"),
    },
)
"""Store kinds. A factory takes the section and ``exclusive`` (claim the store for this
process, where the kind can) and returns a :class:`gtm.registry.store.Store`."""

if TYPE_CHECKING:
    StoreConfig = StoreSection
else:
    StoreConfig = STORES.union()
"""Where the registry keeps mappings, intents and events, chosen by ``type``."""
