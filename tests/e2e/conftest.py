"""Fixtures that run a whole gtm against simulated sites: real processes, real sockets."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gtm.config.loader import load_config
from gtm.controller.runtime import Runtime
from gtm.demo.sites import SimulatedSite, SiteFleet

SITES = {"aws-use1": "127.0.1.1", "gcp-euw1": "127.0.2.1", "dc-paris": "127.0.3.1"}
ZONE = "gtm.example.test."
TOKEN = "s3cret-token"


def free_port(address: str) -> int:
    """A TCP port free on ``address`` right now."""
    with socket.socket() as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def config_doc(
    tmp_path: Path, services: dict[str, int], store: str = "sqlite", **service_options: Any
) -> dict[str, Any]:
    """A config with fast probes (0.2 s) for ``services`` on every site."""
    return {
        "zone": ZONE,
        "instance": "test",
        "dns": {"listen": "127.0.0.1:0"},
        "api": {"listen": "127.0.0.1:0", "token": "env:GTM_TEST_TOKEN"},
        "store": {"type": "sqlite", "path": str(tmp_path / "gtm.db")}
        if store == "sqlite"
        else {"type": "memory"},
        "sites": {name: {"provider": "onprem"} for name in SITES},
        "services": {
            name: {
                "ttl": 5,
                "check": {
                    "type": "http",
                    "path": "/health",
                    "interval": "200ms",
                    "timeout": "100ms",
                    "recheck_interval": "20ms",
                },
                **service_options,
                "locators": [
                    {"site": site, "address": address, "port": port}
                    for site, address in SITES.items()
                ],
            }
            for name, port in services.items()
        },
    }


@pytest.fixture
def ports() -> dict[str, int]:
    """Ports for two services, free on every site address."""
    chosen: dict[str, int] = {}
    for name in ("billing", "search"):
        while True:
            port = free_port("127.0.1.1")
            if all(_free(address, port) for address in SITES.values()):
                chosen[name] = port
                break
    return chosen


def _free(address: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((address, port))
        except OSError:
            return False
        return True


@pytest.fixture
def fleet(ports: dict[str, int]) -> Iterator[SiteFleet]:
    """The three simulated sites, each a real process; stopped whatever happens."""
    sites = SiteFleet(
        {name: SimulatedSite(name, address, dict(ports)) for name, address in SITES.items()}
    )
    try:
        sites.start()
        yield sites
    finally:
        sites.stop()


@pytest.fixture
async def make_runtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[[dict[str, Any]], Runtime]]:
    """Build runtimes from config documents; every one is stopped at the end."""
    monkeypatch.setenv("GTM_TEST_TOKEN", TOKEN)
    made: list[Runtime] = []

    def make(doc: dict[str, Any]) -> Runtime:
        path = tmp_path / f"gtm-{len(made)}.yaml"
        path.write_text(yaml.safe_dump(doc))
        runtime = Runtime(load_config(path))
        made.append(runtime)
        return runtime

    try:
        yield make
    finally:
        for runtime in made:
            await runtime.stop()


@pytest.fixture
async def gtm(
    tmp_path: Path,
    ports: dict[str, int],
    fleet: SiteFleet,
    make_runtime: Callable[[dict[str, Any]], Runtime],
) -> AsyncIterator[Runtime]:
    """A started gtm in front of the fleet, with every service published."""
    runtime = make_runtime(config_doc(tmp_path, ports))
    await runtime.start()
    await wait_published(runtime)
    yield runtime


async def wait_published(runtime: Runtime, timeout: float = 10.0) -> None:
    """Wait until every service has a mapping with every locator up."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        mappings = [runtime.registry.get(name) for name in runtime.config.services]
        if all(
            m is not None and all(loc.state.value == "up" for loc in m.locators) for m in mappings
        ):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"services not all up: {mappings}")
        await asyncio.sleep(0.02)
