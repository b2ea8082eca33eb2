"""Opens the store a config section describes, through the store map of the config.

The kinds are the entries of :data:`gtm.config.stores.STORES`; each names one of the
openers here (or, for a new kind, in its own module), so adding Consul means one entry.
"""

from __future__ import annotations

from typing import Protocol, cast

from gtm.config.stores import STORES, MemoryStoreConfig, SqliteStoreConfig, StoreSection
from gtm.registry.store import Store
from gtm.registry.stores.memory import MemoryStore
from gtm.registry.stores.sqlite import SqliteStore


class Opener(Protocol):
    """What a store kind's factory is: its section in, an open store out."""

    def __call__(self, section: StoreSection, *, exclusive: bool) -> Store:
        """Open the store ``section`` describes; ``exclusive`` claims it for this process."""
        ...


def open_store(section: StoreSection, *, exclusive: bool = False) -> Store:
    """Open the store that ``section`` (``store`` of the config) describes.

    Args:
        section: The store section; its ``type`` chooses the kind.
        exclusive: Claim the store for this process, where the kind can (a SQLite file);
            a second claimant is refused.

    Raises:
        StoreInUse: ``exclusive`` and another process holds the store.
        StoreUnavailable: The store cannot be opened.
    """
    opener = cast(Opener, STORES.factory(section.type))
    return opener(section, exclusive=exclusive)


def open_memory(section: MemoryStoreConfig, *, exclusive: bool) -> Store:
    """A fresh memory store; it belongs to its process whatever ``exclusive`` says."""
    del section, exclusive
    return MemoryStore()


def open_sqlite(section: SqliteStoreConfig, *, exclusive: bool) -> Store:
    """The SQLite store at ``section.path``."""
    return SqliteStore(section.path, exclusive=exclusive)
