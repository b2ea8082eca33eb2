"""Provider sections: which external systems follow the mappings, and how to reach them.

Each provider kind is one model chosen by ``type`` and one entry in :data:`PROVIDERS`,
which names the factory that builds it; every provider lists the services it
manages (none listed: all of them). Secrets (TSIG keys, AWS keys) are references.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from gtm.config.durations import Duration
from gtm.config.listen import Listen
from gtm.config.names import Label
from gtm.config.plugins import Family, Plugin
from gtm.config.secrets import SecretRef
from gtm.config.section import Section


class ProviderBase(Section):
    """Settings every provider shares."""

    services: list[Label] = Field(default_factory=list)
    """Services this provider manages; empty: every service."""
    timeout: Duration = 2.0
    """How long one request to the system may take."""
    type: str
    """The provider's kind."""


class TsigConfig(Section):
    """A TSIG key that signs RFC 2136 updates."""

    name: str
    """Key name, as the DNS server knows it (``gtm-key.``)."""
    secret: SecretRef
    """The base64 key material, as a reference: ``env:NAME`` or ``file:PATH``."""
    algorithm: Literal["hmac-sha256", "hmac-sha512", "hmac-sha384", "hmac-sha224", "hmac-sha1"] = (
        "hmac-sha256"
    )
    """TSIG algorithm."""


class Rfc2136Provider(ProviderBase):
    """An authoritative DNS server that takes RFC 2136 dynamic updates (BIND, Knot, PowerDNS)."""

    type: Literal["rfc2136"]
    """``rfc2136``."""
    server: Listen
    """The server's address and port (``127.0.0.1:53``)."""
    zone: str | None = None
    """Zone to update; default: gtm's own ``zone``."""
    tsig: TsigConfig | None = None
    """Key that signs updates; none: unsigned (only for servers that allow it by address)."""
    max_message: int = Field(default=32768, ge=512, le=65535)
    """Largest update message in bytes; more changes go out in several messages."""


class AwsCredentials(Section):
    """AWS access keys as secret references; omit to use boto3's usual credential chain."""

    access_key_id: SecretRef
    """Access key id reference."""
    secret_access_key: SecretRef
    """Secret access key reference."""


class Route53Provider(ProviderBase):
    """Amazon Route 53 records in one hosted zone."""

    type: Literal["route53"]
    """``route53``."""
    hosted_zone_id: str
    """The hosted zone's id (``Z0123456789``)."""
    zone: str | None = None
    """The hosted zone's name; default: gtm's own ``zone``."""
    mode: Literal["plain", "weighted"] = "plain"
    """``plain``: one A/AAAA record set per service with the addresses traffic goes to.
    ``weighted``: one weighted record set per site, weight 0 for sites without traffic."""
    region: str = "us-east-1"
    """AWS region for the client."""
    endpoint_url: str | None = None
    """Custom endpoint (a local moto server in tests)."""
    credentials: AwsCredentials | None = None
    """Access keys; default: boto3's credential chain."""
    wait_insync: bool = False
    """Wait until Route 53 reports each change INSYNC before reporting success."""


class HaproxyProvider(ProviderBase):
    """HAProxy server weights, set through the runtime API (stats socket)."""

    type: Literal["haproxy"]
    """``haproxy``."""
    socket: str
    """The runtime API: ``unix:/run/haproxy/admin.sock`` or ``127.0.0.1:9999``."""
    backend: str = "{service}"
    """Backend name for a service; ``{service}`` is replaced by the service name."""
    frontends: dict[Label, Listen] = Field(default_factory=dict)
    """Frontend address per service (``127.0.0.1:8080``). A planned failover sends a
    request through it and checks, by HAProxy's session counters, that a server of the
    new site answered."""


class Elbv2Provider(ProviderBase):
    """An AWS Application Load Balancer listener forwarding to one target group per site."""

    type: Literal["elbv2"]
    """``elbv2``."""
    listeners: dict[Label, str]
    """Listener ARN per service."""
    target_groups: dict[Label, dict[Label, str]]
    """Target group ARN per service and site."""
    region: str = "us-east-1"
    """AWS region for the client."""
    endpoint_url: str | None = None
    """Custom endpoint (a local moto server in tests)."""
    credentials: AwsCredentials | None = None
    """Access keys; default: boto3's credential chain."""


PROVIDERS = Family(
    "provider",
    {
        "rfc2136": Plugin(Rfc2136Provider, "gtm.providers:build_rfc2136"),
        "route53": Plugin(Route53Provider, "gtm.providers.route53:Route53"),
        "haproxy": Plugin(HaproxyProvider, "gtm.providers:build_haproxy"),
        "elbv2": Plugin(Elbv2Provider, "gtm.providers:build_elbv2"),
    },
)
"""Provider kinds. A factory takes the provider's name, its section and gtm's zone, and
returns a :class:`gtm.providers.base.Provider`."""

if TYPE_CHECKING:
    ProviderConfig = ProviderBase
else:
    ProviderConfig = PROVIDERS.union()
"""An external system that follows the mappings, its kind chosen by ``type``."""


class ReconcileConfig(Section):
    """How often providers are checked against the mappings."""

    resync_interval: Duration = Field(default=30.0, gt=0)
    """A full observe-diff-apply pass of every provider this often, which repairs drift
    (records or weights changed by hand), besides the pass on every mapping change."""
    retry_max: Duration = Field(default=30.0, gt=0)
    """Longest wait between retries of a provider that is unavailable."""
