"""Stores behind the registry: memory, SQLite (embedded default)."""

from gtm.registry.stores.factory import open_store
from gtm.registry.stores.memory import MemoryStore
from gtm.registry.stores.sqlite import SqliteStore

__all__ = ["MemoryStore", "SqliteStore", "open_store"]
