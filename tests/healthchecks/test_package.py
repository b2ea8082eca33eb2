"""The package's shape: self-contained, and a real probe driven by the scheduler."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import healthchecks
from healthchecks import Check, Result, Scheduler, TcpProbe

PACKAGE = Path(healthchecks.__file__).parent


def imported_modules(source: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and not node.level:
            modules.add(node.module)
    return modules


def test_healthchecks_imports_nothing_from_gtm() -> None:
    sources = sorted(PACKAGE.glob("*.py"))
    offenders = {
        source.name: sorted(m for m in imported_modules(source) if m.split(".")[0] == "gtm")
        for source in sources
    }

    assert len(sources) >= 8
    assert {name: mods for name, mods in offenders.items() if mods} == {}


def test_import_scan_would_see_a_gtm_import(tmp_path: Path) -> None:
    source = tmp_path / "bad.py"
    source.write_text("import os\nfrom gtm.core import model\nimport gtm.errors\n")

    assert imported_modules(source) == {"os", "gtm.core", "gtm.errors"}


async def test_scheduler_drives_a_real_probe_on_the_real_clock() -> None:
    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    results: list[Result] = []
    scheduler = Scheduler(lambda check, result: results.append(result))
    try:
        port = server.sockets[0].getsockname()[1]
        scheduler.add(Check("tcp", TcpProbe("127.0.0.1", port), interval=0.05, timeout=1))
        await scheduler.start()
        for _ in range(200):
            if len(results) >= 3:
                break
            await asyncio.sleep(0.01)
    finally:
        await scheduler.stop()
        server.close()
        await server.wait_closed()

    assert len(results) >= 3
    assert all(result.ok and result.reason == "connected" for result in results)
