"""Read a configuration file into a :class:`Config`, or say everything that is wrong with it.

Operators fix files faster when every problem comes at once, each naming the file, the
field, the value and what was expected, with the line it is on; this is where the YAML
positions and the validation errors are put together.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from gtm.config.models import Config, SqliteStoreConfig
from gtm.config.preflight import preflight_problems
from gtm.config.problems import FieldPath, Problem, describe, show
from gtm.config.secrets import map_secrets
from gtm.errors import ConfigError


def load_config(path: str | Path, *, secrets: bool = False) -> Config:
    """The configuration in the YAML file at ``path``.

    Relative paths in the file (the SQLite store, every ``file:`` secret) are made absolute
    against the file's directory, so the result does not depend on the working directory.

    Args:
        path: The configuration file.
        secrets: Also read every secret the file refers to and refuse the file when one
            is unusable, as :func:`check_config` does with ``secrets``: ``gtm run`` reads
            a file of ten thousand services once, not once to check and once to use.

    Raises:
        ConfigError: the file is missing, unreadable, not YAML, empty, or not a valid
            configuration (or, with ``secrets``, a secret is unusable). ``problems`` has
            one line per problem:
            ``<file>: <field path>: <value and what was expected> (line N)``.
    """
    config, positions = _load(path)
    if secrets:
        problems = _secret_problems(str(path), config, positions)
        if problems:
            raise ConfigError(problems[0], problems)
    return config


def check_config(path: str | Path, *, secrets: bool = False) -> list[str]:
    """The problems in the configuration file at ``path``, one line each; empty when valid.

    Every check that needs nothing outside the file runs, including each provider's
    option checks, so a file that passes is one ``gtm run`` will not refuse for its
    content.

    Args:
        path: The configuration file.
        secrets: Also read every secret the file refers to (environment variables and
            files, on this machine) and check their values, as ``gtm run`` does before
            it starts: :func:`gtm.config.preflight.preflight_problems`. Only reported
            when the file itself is valid.

    Returns:
        Lines of the form ``<file>: <field path>: <message> (line N)``.
    """
    try:
        config, positions = _load(path)
    except ConfigError as exc:
        return exc.problems
    return _secret_problems(str(path), config, positions) if secrets else []


def _secret_problems(shown: str, config: Config, positions: _Positions) -> list[str]:
    """:func:`preflight_problems` of ``config``, top to bottom, each with its line."""
    found = [(positions.line_of(problem.path), problem) for problem in preflight_problems(config)]
    found.sort(key=lambda placed: placed[0])
    return [_render(shown, problem, line) for line, problem in found]


@contextlib.contextmanager
def _collection_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a while.

    A file of ten thousand services becomes hundreds of thousands of nodes and values,
    all of which live on; each full collection their making sets off walks every one made
    so far, which tripled the time to read such a file. Nothing made here is garbage.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _load(path: str | Path) -> tuple[Config, _Positions]:
    shown = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"{shown}: cannot read: {reason}") from exc
    with _collection_paused():
        return _validate(text, shown, Path(path).parent)


def _validate(text: str, shown: str, base: Path) -> tuple[Config, _Positions]:
    """The configuration in ``text`` (read from ``shown``) and its positions."""
    data, positions = _parse(text, shown)
    if data is None:
        raise ConfigError(
            f"{shown}: the file is empty; expected a mapping with zone, sites, services"
        )
    if not isinstance(data, dict):
        raise ConfigError(
            f"{shown}: {show(data)} is not a mapping; expected a mapping with zone, sites, "
            "services (line 1)"
        )
    found = list(positions.duplicates)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        found += [(positions.line_of(problem.path), problem) for problem in describe(exc, Config)]
    if found:
        # Top to bottom, the order in which an operator reads and fixes the file.
        found.sort(key=lambda placed: placed[0])
        problems = [_render(shown, problem, line) for line, problem in found]
        raise ConfigError(_summary(shown, problems), problems)
    return _anchor(config, base), positions


@dataclass(slots=True)
class _Positions:
    """Where each key and list item of a YAML document is, and which keys came twice."""

    lines: dict[FieldPath, int] = field(default_factory=dict)
    duplicates: list[tuple[int, Problem]] = field(default_factory=list)

    def line_of(self, path: FieldPath) -> int:
        """The line of ``path`` or of its nearest ancestor in the file; 0 when unknown."""
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 0)

    def index(self, node: yaml.Node, path: FieldPath = ()) -> None:
        """Record the positions under ``node``, which sits at ``path``.

        PyYAML silently keeps the last of two equal keys, which would hide a mistake such
        as a service defined twice; this walk sees every key, so it reports them.
        """
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue
                child = (*path, key_node.value)
                line = key_node.start_mark.line + 1
                if child in self.lines:
                    message = f"duplicate key (first at line {self.lines[child]})"
                    self.duplicates.append((line, Problem(child, message)))
                    continue
                self.lines[child] = line
                self.index(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for number, item in enumerate(node.value):
                self.lines[(*path, number)] = item.start_mark.line + 1
                self.index(item, (*path, number))


SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""The safe YAML loader: libyaml's when available."""


def _parse(text: str, shown: str) -> tuple[Any, _Positions]:
    """The document in ``text`` and the positions of its keys and list items."""
    # libyaml's parser, where PyYAML was built with it, reads a file of 10,000 services
    # in a fraction of the seconds the pure-Python one takes; the nodes are the same.
    loader = SAFE_LOADER(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{shown}: invalid YAML: {reason}{where}") from exc
    finally:
        loader.dispose()
    positions = _Positions()
    if node is not None:
        positions.index(node)
    return data, positions


def _render(shown: str, problem: Problem, line: int) -> str:
    where = f" (line {line})" if line else ""
    return f"{shown}: {problem}{where}"


def _summary(shown: str, problems: list[str]) -> str:
    if len(problems) == 1:
        return problems[0]
    prefix = f"{shown}: "
    listed = "\n".join(f"  {line.removeprefix(prefix)}" for line in problems)
    return f"{shown}: {len(problems)} problems:\n{listed}"


def _anchor(config: Config, base: Path) -> Config:
    """``config`` with relative file paths resolved against ``base``."""
    update: dict[str, Any] = {}
    store = config.store
    if isinstance(store, SqliteStoreConfig) and not Path(store.path).is_absolute():
        update["store"] = store.model_copy(update={"path": str((base / store.path).resolve())})
    anchored = config.model_copy(update=update) if update else config
    return map_secrets(anchored, lambda ref: _anchor_secret(ref, base))


def _anchor_secret(ref: str, base: Path) -> str:
    """``ref`` with a relative ``file:`` path made absolute against ``base``."""
    if ref.startswith("file:") and not Path(ref[5:]).is_absolute():
        return f"file:{(base / ref[5:]).resolve()}"
    return ref
