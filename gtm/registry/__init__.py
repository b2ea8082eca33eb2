"""The ID/locator registry: mappings with versions and epochs, intents, the journal."""
