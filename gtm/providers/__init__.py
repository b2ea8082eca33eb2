"""Actuators that make external systems (DNS servers, load balancers) follow the mappings.

Provider kinds are the entries of :data:`gtm.config.providers.PROVIDERS`, each naming its
factory; modules load on first use, so a gtm with no AWS provider never imports boto3.
A factory is called as ``factory(name, section, zone)``; the builders here adapt the
constructors that take other arguments.
"""

from __future__ import annotations

from typing import Any, Protocol, cast

from gtm.config.providers import (
    PROVIDERS,
    Elbv2Provider,
    HaproxyProvider,
    ProviderBase,
    Rfc2136Provider,
)
from gtm.providers.base import Provider


class ProviderFactory(Protocol):
    """What a provider kind's factory is: its name, section and gtm's zone in."""

    def __call__(self, name: str, section: Any, zone: str) -> Provider[Any]:
        """The provider ``section`` describes, named ``name``, for gtm's zone ``zone``."""
        ...


def build_provider(name: str, config: ProviderBase, zone: str) -> Provider[Any]:
    """The provider that ``config`` describes, named ``name``, for the gtm zone ``zone``.

    Raises:
        ConfigError: An option is unusable, or a secret cannot be resolved.
    """
    factory = cast(ProviderFactory, PROVIDERS.factory(config.type))
    return factory(name, config, zone)


def build_rfc2136(name: str, section: Rfc2136Provider, zone: str) -> Provider[Any]:
    """An RFC 2136 provider for its own ``zone``, else gtm's."""
    from gtm.providers.rfc2136 import Rfc2136

    return Rfc2136(name, section, section.zone or zone)


def build_haproxy(name: str, section: HaproxyProvider, zone: str) -> Provider[Any]:
    """An HAProxy provider; load balancers have no zone."""
    from gtm.providers.haproxy import Haproxy

    del zone
    return Haproxy(name, section)


def build_elbv2(name: str, section: Elbv2Provider, zone: str) -> Provider[Any]:
    """An ELBv2 provider; load balancers have no zone."""
    from gtm.providers.elbv2 import Elbv2

    del zone
    return Elbv2(name, section)
