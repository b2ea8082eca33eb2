"""Opens a store by its short name, so configuration can choose one without importing it.

Each kind is a small opener in a map, the way probers and providers are registered: adding
Consul later means adding one entry.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from gtm.errors import ConfigError
from gtm.registry.store import Store
from gtm.registry.stores.memory import MemoryStore
from gtm.registry.stores.sqlite import SqliteStore

Options = Mapping[str, object]


def open_store(kind: str, **options: object) -> Store:
    """Open the store named ``kind`` with its options.

    Args:
        kind: ``memory`` or ``sqlite``.
        **options: The kind's options: none for ``memory``; ``path`` for ``sqlite``.

    Returns:
        The open store.

    Raises:
        ConfigError: The kind is unknown, or an option is missing, unexpected or of the
            wrong type.
        StoreUnavailable: The store cannot be opened.
    """
    opener = _OPENERS.get(kind)
    if opener is None:
        known = ", ".join(sorted(_OPENERS))
        raise ConfigError(f"store: unknown kind {kind!r}; known kinds: {known}")
    return opener(options)


def _open_memory(options: Options) -> Store:
    _check_options("memory", options, required=())
    return MemoryStore()


def _open_sqlite(options: Options) -> Store:
    _check_options("sqlite", options, required=("path",))
    path = options["path"]
    if not isinstance(path, str | os.PathLike):
        raise ConfigError(f"store: sqlite path must be a file path, got {path!r}")
    return SqliteStore(path)


def _check_options(kind: str, options: Options, required: tuple[str, ...]) -> None:
    problems = [f"store: {kind} needs option {name!r}" for name in required if name not in options]
    problems += [
        f"store: {kind} takes no option {name!r}"
        for name in sorted(options)
        if name not in required
    ]
    if problems:
        raise ConfigError("; ".join(problems), problems)


_OPENERS: dict[str, Callable[[Options], Store]] = {
    "memory": _open_memory,
    "sqlite": _open_sqlite,
}
