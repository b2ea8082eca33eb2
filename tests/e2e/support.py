"""Helpers shared by the end-to-end tests: the sites, a config builder, waiting."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

from gtm.runtime import Runtime

SITES = {"aws-use1": "127.0.1.1", "gcp-euw1": "127.0.2.1", "dc-paris": "127.0.3.1"}
ZONE = "gtm.example.test."
TOKEN = "s3cret-token"


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


def is_free(address: str, port: int) -> bool:
    """Whether nothing holds TCP ``port`` on ``address`` (a server let go of it)."""
    with socket.socket() as sock:
        try:
            sock.bind((address, port))
        except OSError:
            return False
        return True


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
