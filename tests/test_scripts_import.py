"""Benchmarks and examples run as scripts, outside mypy and the suite: their imports of
gtm, healthchecks and the test bed must still name what exists."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = ("gtm", "healthchecks", "testbed")
SCRIPTS = sorted([*ROOT.glob("benchmarks/*.py"), *ROOT.glob("examples/*/*.py")])


def our_imports(path: Path) -> list[tuple[str, str | None]]:
    """Each ``(module, name)`` a script imports from our packages (name None: the module)."""
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(a.name, None) for a in node.names if a.name.split(".")[0] in OURS]
        elif (
            isinstance(node, ast.ImportFrom)
            and not node.level
            and node.module
            and node.module.split(".")[0] in OURS
        ):
            found += [(node.module, alias.name) for alias in node.names]
    return found


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_import_of_ours_names_something_that_exists(script: Path) -> None:
    missing = []
    for module, name in our_imports(script):
        try:
            imported = importlib.import_module(module)
        except ImportError as exc:
            missing.append(f"{module}: {exc}")
            continue
        if name is not None and not hasattr(imported, name):
            try:
                importlib.import_module(f"{module}.{name}")
            except ImportError:
                missing.append(f"{module}.{name}")
    assert not missing, "\n".join(missing)
