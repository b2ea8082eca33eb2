"""Dependencies point one way (DESIGN.md §6): the core is pure, probers stand alone."""

from __future__ import annotations

import ast
import fnmatch
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# What each package must not import. The core may use no I/O, clock or randomness, so
# every decision is a function of its arguments.
FORBIDDEN = {
    "gtm/core": (
        "asyncio",
        "socket",
        "time",
        "random",
        "threading",
        "subprocess",
        "sqlite3",
        "aiohttp",
        "dns",
        "consul",
        "boto3",
        "yaml",
        "gtm.registry",
        "gtm.controller",
        "gtm.dns",
        "gtm.api",
        "gtm.config",
        "gtm.runtime",
        "gtm.cli",
        "healthchecks",
    ),
    "healthchecks": ("gtm",),
    "gtm/registry": ("gtm.controller", "gtm.dns", "gtm.api", "gtm.runtime", "gtm.cli"),
    "gtm/dns": ("gtm.registry", "gtm.controller", "gtm.api", "gtm.runtime", "gtm.cli"),
    "gtm/api": ("gtm.controller", "gtm.runtime", "gtm.cli", "gtm.dns"),
    "gtm/controller": ("gtm.api", "gtm.dns", "gtm.runtime", "gtm.cli"),
    "gtm/providers": ("gtm.controller", "gtm.api", "gtm.runtime", "gtm.cli", "gtm.registry"),
    "gtm/config": ("gtm.registry", "gtm.controller", "gtm.dns", "gtm.api", "gtm.runtime"),
}


def imports(path: Path) -> set[str]:
    """Every module name a file imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_downstream(package: str) -> None:
    offending = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in imports(path):
            for banned in FORBIDDEN[package]:
                if name == banned or name.startswith(banned + "."):
                    offending.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offending, "\n".join(offending)


def test_shipped_code_does_not_import_the_test_bed() -> None:
    offending = [
        f"{path.relative_to(ROOT)} imports {name}"
        for package in ("gtm", "healthchecks")
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in imports(path)
        if name == "testbed" or name.startswith("testbed.")
    ]
    assert not offending, "\n".join(offending)


def test_the_test_bed_is_not_a_shipped_package() -> None:
    spec = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = spec["tool"]["setuptools"]["packages"]["find"]["include"]
    assert (ROOT / "testbed" / "__init__.py").is_file()
    assert not [pattern for pattern in shipped if fnmatch.fnmatch("testbed", pattern)], shipped
