"""Dependencies point one way (DESIGN.md §6): a pure core, probers and providers apart."""

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


def resolved_imports(path: Path) -> set[str]:
    """Every module a file imports, relative imports made absolute, and for ``from M import
    n`` also ``M.n`` (which may be a submodule)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


# Every provider may import the Protocol (``base``); the AWS client helpers (``aws``) are
# shared by the two AWS providers. Any other module belongs to the provider its name starts
# with (``haproxy_settings`` to ``haproxy``), and only that provider may import it.
PROVIDER_BASE = "base"
PROVIDER_SHARED = {"aws": {"route53", "elbv2"}}


def test_providers_do_not_import_each_other() -> None:
    offending = []
    for path in sorted((ROOT / "gtm" / "providers").glob("*.py")):
        if path.stem == "__init__":
            continue  # the factory, which builds every kind
        owner = path.stem.split("_")[0]
        for name in sorted(resolved_imports(path)):
            parts = name.split(".")
            if parts[:2] != ["gtm", "providers"]:
                continue
            module = parts[2] if len(parts) > 2 else "__init__"
            users = PROVIDER_SHARED.get(module, {module.split("_")[0]})
            if module != PROVIDER_BASE and owner not in users:
                offending.append(f"{path.name} imports {name}")
    assert not offending, "\n".join(offending)


# I/O in any form: event loops, sockets, files, processes, databases, remote clients.
CORE_IO = (
    "asyncio",
    "aiohttp",
    "sqlite3",
    "socket",
    "ssl",
    "select",
    "selectors",
    "boto3",
    "botocore",
    "dns",
    "consul",
    "subprocess",
    "multiprocessing",
    "concurrent",
    "threading",
    "signal",
    "os",
    "io",
    "pathlib",
    "shutil",
    "tempfile",
    "http",
    "urllib",
)
CORE_IO_CALLS = ("open", "print", "input")


def test_core_does_no_io() -> None:
    offending = []
    for path in sorted((ROOT / "gtm" / "core").rglob("*.py")):
        where = path.relative_to(ROOT)
        for name in sorted(resolved_imports(path)):
            if any(name == io or name.startswith(io + ".") for io in CORE_IO):
                offending.append(f"{where} imports {name}")
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in CORE_IO_CALLS
            ):
                offending.append(f"{where}:{node.lineno} calls {node.func.id}()")
    assert not offending, "\n".join(offending)
