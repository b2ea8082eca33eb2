"""Actuators that make external systems (DNS servers, load balancers) follow the mappings.

Providers are registered by their config ``type``; modules load lazily so that a gtm with
no AWS provider never imports boto3.
"""

from __future__ import annotations

from typing import Any

from gtm.config.providers import (
    Elbv2Provider,
    HaproxyProvider,
    ProviderConfig,
    Rfc2136Provider,
    Route53Provider,
)
from gtm.providers.base import Provider

KINDS = ("rfc2136", "route53", "haproxy", "elbv2")
"""Provider types, as the config's ``type`` names them."""


def build_provider(name: str, config: ProviderConfig, zone: str) -> Provider[Any]:
    """The provider that ``config`` describes, named ``name``, for the gtm zone ``zone``."""
    if isinstance(config, Rfc2136Provider):
        from gtm.providers.rfc2136 import Rfc2136

        return Rfc2136(name, config, config.zone or zone)
    if isinstance(config, Route53Provider):
        from gtm.providers.route53 import Route53

        return Route53(name, config, config.zone or zone)
    if isinstance(config, HaproxyProvider):
        from gtm.providers.haproxy import Haproxy

        return Haproxy(name, config)
    assert isinstance(config, Elbv2Provider)
    from gtm.providers.elbv2 import Elbv2

    return Elbv2(name, config)
