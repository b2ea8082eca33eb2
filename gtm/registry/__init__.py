"""The ID/locator registry: mappings with versions and epochs, intents, the journal."""

from gtm.registry.registry import Registry
from gtm.registry.store import Entry, Store

__all__ = ["Entry", "Registry", "Store"]
