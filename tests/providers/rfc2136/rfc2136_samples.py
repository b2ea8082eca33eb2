"""Sample mappings and helpers shared by the RFC 2136 provider tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import dns.name

from gtm.config.providers import Rfc2136Provider
from gtm.core.model import NEVER, Locator, Mapping, State
from gtm.providers.rfc2136 import Rfc2136
from testbed.bind import BindServer

ZONE = "gtm.example.test."
ORIGIN = dns.name.from_text(ZONE)

SITES = {
    "aws-use1": ("192.0.2.10", "2001:db8::10"),
    "gcp-euw1": ("198.51.100.20", None),
    "dc-paris": ("203.0.113.30", None),
}
"""Each site's IPv4 and (optional) IPv6 replica address."""


def mapping(
    service: str, active: str = "aws-use1", *, version: int = 1, epoch: int = 1, ttl: int = 30
) -> Mapping:
    """``service`` served from ``active``; the other sites follow in order, all up,
    except a lab site that must never take traffic."""
    order = [active, *(site for site in SITES if site != active)]
    locators: list[Locator] = []
    for priority, site in enumerate(order, start=1):
        for index, address in enumerate(a for a in SITES[site] if a is not None):
            locators.append(
                Locator(f"{service}@{site}/lb-{index}", site, address, 443, priority, 100, State.UP)
            )
    locators.append(
        Locator(f"{service}@lab/lb-0", "lab", "203.0.113.40", 443, NEVER, 100, State.UP)
    )
    return Mapping(service, version, epoch, ttl, active, tuple(locators))


def make_provider(
    server: BindServer,
    services: list[str],
    *,
    secret: str | None = None,
    key_name: str | None = None,
    signed: bool = True,
    max_message: int = 32768,
    timeout: str = "2s",
    name: str = "bind-main",
    port: int | None = None,
) -> Rfc2136:
    """A provider for ``server``'s zone (at another ``port`` if given); the key (or a wrong
    one) read from a file."""
    document: dict[str, object] = {
        "type": "rfc2136",
        "server": f"{server.address}:{port or server.port}",
        "services": services,
        "max_message": max_message,
        "timeout": timeout,
    }
    if signed:
        path = Path(server.workdir) / f"secret-{name}"
        path.write_text((secret or server.key_secret) + "\n")
        document["tsig"] = {
            "name": key_name or server.key_name,
            "secret": f"file:{path}",
            "algorithm": server.algorithm,
        }
    return Rfc2136(name, Rfc2136Provider.model_validate(document), server.zone)


def nsupdate(server: BindServer, *commands: str) -> None:
    """Change the zone by hand, as an operator would: ``nsupdate`` signed with the key."""
    script = "\n".join(
        [f"server {server.address} {server.port}", f"zone {server.zone}", *commands, "send", ""]
    )
    result = subprocess.run(
        ["nsupdate", "-k", str(server.key_path)],
        input=script,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert result.returncode == 0, result.stderr
