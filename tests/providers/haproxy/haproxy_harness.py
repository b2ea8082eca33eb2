"""What the HAProxy provider tests share: the sites, naming, and building a provider."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from gtm.config.providers import HaproxyProvider
from gtm.core.model import Mapping
from gtm.providers.haproxy import Haproxy
from gtm.providers.haproxy_settings import server_names
from testbed.haproxy import HaproxyServer

SERVICE = "billing"
SITES = {"site-a": "127.0.1.1", "site-b": "127.0.2.1", "site-c": "127.0.3.1"}

Place = Callable[..., Mapping]
StartHaproxy = Callable[..., HaproxyServer]
Traffic = Callable[..., Awaitable[list[str]]]


def backends_for(
    mapping: Mapping, *extra: tuple[str, str, int]
) -> dict[str, list[tuple[str, str, int]]]:
    """The servers HAProxy needs for ``mapping``, named by the provider's rule."""
    names = server_names(mapping)
    servers = [(names[loc.id], loc.address, loc.port) for loc in mapping.locators]
    return {mapping.service: servers + list(extra)}


def provider_for(server: HaproxyServer, *services: str) -> Haproxy:
    """The provider ``lb-main`` steering ``server``."""
    config = HaproxyProvider(
        type="haproxy", socket=server.socket, services=list(services or (SERVICE,))
    )
    return Haproxy("lb-main", config)
