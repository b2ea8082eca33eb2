"""Stores behind the registry: memory, SQLite (embedded default)."""
