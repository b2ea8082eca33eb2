"""The shape of a gtm configuration file, checked as a whole when it is loaded.

Every part is a frozen pydantic model, so the rest of gtm reads plain attributes and
never re-checks a value. Problems that involve several fields (a locator naming a site
that does not exist, two identical locators, a timeout longer than its interval) are
found here too, alongside every problem with a single field, so one run of
``gtm config check`` lists them all.
"""

from __future__ import annotations

import ipaddress
import socket
from collections import Counter
from contextvars import ContextVar
from typing import Annotated, Any, Literal, Self

from pydantic import (
    Field,
    ModelWrapValidatorHandler,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from gtm.config.burst import BurstConfig, LoadConfig
from gtm.config.checks import (
    CheckConfig,
    DnsCheck,
    HttpCheck,
    TcpCheck,
    TlsCheck,
    with_default_kind,
)
from gtm.config.cluster import ClusterConfig
from gtm.config.damping import Damping, DampingConfig
from gtm.config.durations import Duration, format_duration, parse_duration
from gtm.config.limits import ApiLimits, DnsLimits, DnsRateLimit
from gtm.config.listen import Listen
from gtm.config.names import Label, Zone
from gtm.config.problems import Problem, problems_error
from gtm.config.provider_checks import provider_problems
from gtm.config.providers import ProviderConfig, ReconcileConfig
from gtm.config.readiness import Readiness, ReleaseConfig
from gtm.config.secrets import SecretRef
from gtm.config.section import Section
from gtm.config.stores import MemoryStoreConfig, SqliteStoreConfig, StoreConfig
from gtm.config.transfer import TransferConfig, TransferTsig

__all__ = [
    "ApiConfig",
    "ApiLimits",
    "BurstConfig",
    "CheckConfig",
    "Config",
    "DampingConfig",
    "Defaults",
    "DnsCheck",
    "DnsConfig",
    "DnsLimits",
    "DnsRateLimit",
    "Duration",
    "HttpCheck",
    "Listen",
    "LoadConfig",
    "LocatorConfig",
    "MemoryStoreConfig",
    "ReleaseConfig",
    "SecretRef",
    "ServiceConfig",
    "SiteConfig",
    "SqliteStoreConfig",
    "StoreConfig",
    "TcpCheck",
    "TlsCheck",
    "TokenConfig",
    "TransferConfig",
    "TransferTsig",
    "format_duration",
    "parse_duration",
]

# A locator names its site, but the sites are declared two levels up. Config publishes
# the declared names here while its fields validate, so an unknown site is reported at
# the locator, together with every other problem, rather than after all else is valid.
_known_sites: ContextVar[frozenset[str] | None] = ContextVar("_known_sites", default=None)


class SiteConfig(Section):
    """A place where replicas run: a data centre, a cloud region."""

    provider: str = "onprem"
    """Who runs the site: aws, gcp, azure, onprem, ..."""
    region: str | None = None
    """The provider's region name, for people and dashboards."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Free-form labels, for people and for selecting sites in intents."""


class LocatorConfig(Section):
    """One replica endpoint of a service, in one site."""

    site: Label
    """The site the replica runs in; a key of ``sites``."""
    address: str
    """IPv4 or IPv6 address the replica answers on (no host names: DNS must not be
    needed to reach the thing DNS points to)."""
    port: int = Field(ge=1, le=65535)
    """Port the replica answers on."""
    weight: int = Field(default=100, ge=0, le=100)
    """Share of traffic among the locators that take traffic together (0..100)."""
    name: Label | None = None
    """Short name in the locator id; default: ``address:port``."""

    @field_validator("site")
    @classmethod
    def _check_site_known(cls, site: str) -> str:
        known = _known_sites.get()
        if known is None or site in known:
            return site
        raise PydanticCustomError(
            "unknown_site",
            "{value} is not a site; known sites: {known}",
            {"value": repr(site), "known": ", ".join(sorted(known)) or "(none)"},
        )

    @field_validator("address")
    @classmethod
    def _check_address(cls, address: str) -> str:
        try:
            return str(ipaddress.ip_address(address))
        except ValueError:
            raise PydanticCustomError(
                "address",
                "{value} is not an IP address; expected an IPv4 or IPv6 literal",
                {"value": repr(address)},
            ) from None

    @property
    def endpoint(self) -> str:
        """``address:port``, with IPv6 addresses in brackets."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"

    def id_in(self, service: str) -> str:
        """The locator's stable id in ``service``: ``<service>@<site>/<name or address:port>``."""
        return f"{service}@{self.site}/{self.name or self.endpoint}"


def _check_min_healthy(value: object) -> int | float:
    # An integer counts locators, a float is a fraction of them: 1 means "one", 1.0 "all".
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if isinstance(value, float) and 0 < value <= 1:
        return value
    raise PydanticCustomError(
        "min_healthy",
        "{value} is not a count or a fraction; expected an integer >= 1 or a number in (0, 1]",
        {"value": repr(value)},
    )


MinHealthy = Annotated[
    int | float,
    PlainValidator(_check_min_healthy),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            ]
        }
    ),
]
"""How many locators of a site must be up for the site to be healthy: a count, or a
fraction of the site's locators."""


class ServiceConfig(Section):
    """A service: its name is the ID applications ask for, its locators the replicas."""

    policy: Literal["whack-a-mole", "priority", "weighted", "burst"] = "whack-a-mole"
    """How the active site is chosen. ``whack-a-mole``: keep the active site while it is
    healthy, move to the next healthy site in preference order when it fails, never move
    back on recovery. ``priority``: always the first healthy site, returning to it after
    ``dwell``. ``weighted``: every healthy site at once, by weight. ``burst``:
    whack-a-mole, plus the next site taking a share while the active one is overloaded
    (see ``burst``)."""
    ttl: int = Field(default=5, ge=1, le=86400)
    """Seconds DNS resolvers and clients may cache an answer."""
    all_down: Literal["stay", "open", "closed"] = "stay"
    """When no site is healthy: ``stay`` on the last active site, ``open`` (send traffic to
    every locator) or ``closed`` (answer NXDOMAIN)."""
    failback: Literal["manual", "auto"] = "manual"
    """Under whack-a-mole, whether traffic returns to a preferred site by itself (``auto``,
    after it has been healthy for ``dwell``) or only when an operator says so."""
    dwell: Duration = 300.0
    """How long a recovered site must stay healthy before traffic may return to it."""
    min_healthy: MinHealthy = 1
    """Locators of a site that must be up for the site to be healthy: a count (2) or a
    fraction of the site's locators (0.5)."""
    check: CheckConfig = HttpCheck()
    """How locators are probed; default: ``defaults.check``, else HTTP GET /health."""
    damping: Damping = DampingConfig()
    """Flap damping of the locators; default: ``defaults.damping`` (a section given here
    replaces it as a whole); ``off`` to switch it off."""
    readiness: Readiness = "off"
    """How a move to a site running another release than the active site is treated (the
    release is read by ``check.release``): ``off``; ``warn`` journals and shows it;
    ``strict`` refuses a planned failover or pin there unless forced, and makes an
    automatic move prefer the healthy sites running the active site's release."""
    burst: BurstConfig | None = None
    """When ``policy: burst`` overspills and how fast; default: the section's defaults."""
    locators: list[LocatorConfig] = Field(min_length=1)
    """The replicas. The order in which sites first appear is the preference order."""

    @model_validator(mode="before")
    @classmethod
    def _default_check_kind(cls, data: Any) -> Any:
        return with_default_kind(data)

    @field_validator("locators")
    @classmethod
    def _check_unique(cls, locators: list[LocatorConfig]) -> list[LocatorConfig]:
        problems: list[Problem] = []
        endpoints: dict[tuple[str, str], int] = {}
        names: dict[tuple[str, str], int] = {}
        for index, loc in enumerate(locators):
            first = endpoints.setdefault((loc.site, loc.endpoint), index)
            if first != index:
                message = f"duplicate locator {loc.site} {loc.endpoint} (same as locators[{first}])"
                problems.append(Problem((index,), message))
            elif loc.name and (first := names.setdefault((loc.site, loc.name), index)) != index:
                message = (
                    f"duplicate locator name {loc.site}/{loc.name} (same as locators[{first}])"
                )
                problems.append(Problem((index,), message))
        if problems:
            raise problems_error(problems)
        return locators

    @model_validator(mode="after")
    def _check_min_healthy_reachable(self) -> Self:
        if isinstance(self.min_healthy, float):
            return self
        counts = Counter(loc.site for loc in self.locators)
        short = [f"{site} ({count})" for site, count in counts.items() if count < self.min_healthy]
        if short:
            message = (
                f"{self.min_healthy} is more than the locators of site {', '.join(short)}; "
                "expected at most the smallest number of locators in a site, or a fraction"
            )
            raise problems_error([Problem(("min_healthy",), message)])
        return self

    @model_validator(mode="after")
    def _check_release_read(self) -> Self:
        if self.readiness == "off" or getattr(self.check, "release", None) is not None:
            return self
        message = (
            f"is {self.readiness}, but check does not read a release; add check.release "
            "(release: {header: X-Release}, {json: version} or {regex: ...}) to an http check"
        )
        raise problems_error([Problem(("readiness",), message)])

    @model_validator(mode="after")
    def _check_burst(self) -> Self:
        if self.burst is not None and self.policy != "burst":
            message = f"is set but policy is {self.policy}; set policy: burst or remove burst"
            raise problems_error([Problem(("burst",), message)])
        metric = self.burst.metric if self.burst is not None else "latency"
        if (
            self.policy == "burst"
            and metric == "load"
            and getattr(self.check, "load", None) is None
        ):
            message = (
                "is load, but the check reads no load figure; add check: {load: {field: NAME}} "
                "or check: {load: {header: NAME}}, or use metric: latency"
            )
            raise problems_error([Problem(("burst", "metric"), message)])
        return self

    @property
    def burst_settings(self) -> BurstConfig:
        """The burst section, or its defaults when the service gives none."""
        return self.burst if self.burst is not None else BurstConfig()

    @property
    def sites(self) -> tuple[str, ...]:
        """Site names in preference order: the order in which locators first name them."""
        return tuple(dict.fromkeys(loc.site for loc in self.locators))


class DnsConfig(Section):
    """The built-in authoritative DNS responder for the service zone."""

    listen: Listen = Listen("127.0.0.1", 15353)
    """Address and port to answer on (UDP and TCP); port 0 picks a free port."""
    ns: list[str] = Field(default=["ns1"], min_length=1)
    """Name servers of the zone, for its NS records: relative to the zone unless they end
    with a dot."""
    negative_ttl: int = Field(default=5, ge=0, le=86400)
    """Seconds resolvers may cache a negative answer (the SOA minimum)."""
    limits: DnsLimits = DnsLimits()
    """How many TCP connections are served at once, in all and per client."""
    rate_limit: DnsRateLimit = DnsRateLimit()
    """Response-rate limiting over UDP per client network; off by default."""
    transfer: TransferConfig = TransferConfig()
    """Secondaries that copy the zone by AXFR and IXFR and are sent NOTIFY on every change."""


class TokenConfig(Section):
    """A bearer token of the API: where its secret lives and what it may do."""

    secret: SecretRef
    """The token itself, as a reference: ``env:NAME`` or ``file:PATH`` (relative to the
    config file). Each token needs a secret of its own."""
    scope: Literal["read", "operate", "admin"]
    """What the token may do, each scope including the ones before it: ``read`` (identify
    the caller, no changes), ``operate`` (create and withdraw intents, start runs),
    ``admin`` (also force a pin to a site that is down)."""


DEFAULT_TOKEN = "default"
"""The name under which the single ``api.token`` is known, in the audit trail and in answers."""


class ApiConfig(Section):
    """The sidecar HTTP API: resolve, watch, intents, events, planned runs."""

    listen: Listen = Listen("127.0.0.1", 18080)
    """Address and port to answer on; port 0 picks a free port."""
    token: SecretRef | None = None
    """One admin token named ``default``, as a reference: ``env:NAME`` or ``file:PATH``
    (relative to the config file). The short form of ``tokens``; set one or the other."""
    tokens: dict[Label, TokenConfig] = Field(default_factory=dict)
    """Bearer tokens by name (``alice``, ``ci-deployer``); the name is recorded as the author
    of every change made with the token. Reads need no token; with no token at all the API
    is read-only."""
    limits: ApiLimits = ApiLimits()
    """How many connections are served at once, in all and per client, and for how long."""
    metrics: bool = True
    """Serve ``GET /metrics`` (Prometheus text format, no token needed); false leaves it out."""

    @model_validator(mode="after")
    def _check_tokens(self) -> Self:
        if self.token is not None and self.tokens:
            message = (
                "cannot be set together with api.tokens; keep one (api.token is short for "
                f"api.tokens: {{{DEFAULT_TOKEN}: {{secret: ..., scope: admin}}}})"
            )
            raise problems_error([Problem(("token",), message)])
        first: dict[str, str] = {}
        problems = [
            Problem(
                ("tokens", name, "secret"),
                f"same secret as api.tokens.{first[config.secret]}; "
                "each token needs a secret of its own, or the name could not tell who asked",
            )
            for name, config in self.tokens.items()
            if first.setdefault(config.secret, name) != name
        ]
        if problems:
            raise problems_error(problems)
        return self

    @property
    def bearer_tokens(self) -> dict[str, TokenConfig]:
        """Every token by name, ``api.token`` counting as the admin token ``default``."""
        if self.token is not None:
            return {DEFAULT_TOKEN: TokenConfig(secret=self.token, scope="admin")}
        return dict(self.tokens)


class Defaults(Section):
    """Settings a service takes when it does not give its own."""

    check: CheckConfig = HttpCheck()
    """Health check of services without a ``check``."""
    damping: Damping = DampingConfig()
    """Flap damping of services without a ``damping``."""

    @model_validator(mode="before")
    @classmethod
    def _default_check_kind(cls, data: Any) -> Any:
        return with_default_kind(data)


class Config(Section):
    """A whole gtm configuration file."""

    zone: Zone
    """DNS zone the services are answered in (``billing`` is ``billing.<zone>``);
    lowercased, and a final dot is added when missing."""
    instance: str = Field(default_factory=socket.gethostname, min_length=1)
    """Name of this gtm instance in mappings and events; default: the host name."""
    dns: DnsConfig = DnsConfig()
    """The built-in DNS responder."""
    api: ApiConfig = ApiConfig()
    """The sidecar HTTP API."""
    store: StoreConfig = SqliteStoreConfig()
    """Where the registry is kept."""
    sites: dict[Label, SiteConfig] = Field(min_length=1)
    """The sites, by name (lowercase letters, digits and hyphens)."""
    defaults: Defaults = Defaults()
    """Settings services take when they do not give their own."""
    services: dict[Label, ServiceConfig] = Field(min_length=1)
    """The services, by name (lowercase letters, digits and hyphens); the name is the ID
    applications ask for."""
    providers: dict[Label, ProviderConfig] = Field(default_factory=dict)
    """External systems that follow the mappings (DNS servers, load balancers), by name."""
    reconcile: ReconcileConfig = ReconcileConfig()
    """How often providers are checked and repaired."""
    cluster: ClusterConfig | None = None
    """Run as one of several instances sharing a Consul store; omit for a lone instance."""

    @model_validator(mode="after")
    def _check_cluster_store(self) -> Self:
        if self.cluster is not None and self.store.type != "consul":
            message = (
                f"needs a shared store, and store.type is {self.store.type!r}; set"
                " store: {type: consul, address: HOST:PORT} on every instance, or remove"
                " the cluster section"
            )
            raise problems_error([Problem(("cluster",), message)])
        return self

    @model_validator(mode="before")
    @classmethod
    def _apply_default_check(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("defaults") is None:
            return data
        services = data.get("services")
        if not isinstance(services, dict):
            return data
        try:
            defaults = Defaults.model_validate(data["defaults"])
        except ValidationError:
            # Reported once, at defaults, when the field itself is validated.
            return data
        with_defaults = {name: _with_defaults(svc, defaults) for name, svc in services.items()}
        return {**data, "services": with_defaults}

    @field_validator("providers")
    @classmethod
    def _check_providers(
        cls, providers: dict[str, ProviderConfig], info: ValidationInfo
    ) -> dict[str, ProviderConfig]:
        # A field validator, not a model one, so these come with every other problem of
        # the file instead of after all of them are fixed. The services are known here
        # when they are valid (fields validate in order); if not, they are reported first.
        problems = [
            Problem((name, *problem.path), problem.message)
            for name, provider in providers.items()
            for problem in provider_problems(provider)
        ]
        services = info.data.get("services")
        if services is not None:
            problems += [
                Problem(
                    (name, "services", index),
                    f"{service!r} is not a service; known services: {', '.join(sorted(services))}",
                )
                for name, provider in providers.items()
                for index, service in enumerate(provider.services)
                if service not in services
            ]
        if problems:
            raise problems_error(problems)
        return providers

    @model_validator(mode="after")
    def _check_burst_providers(self) -> Self:
        problems = _burst_provider_problems(self.services, self.providers)
        if problems:
            raise problems_error(problems)
        return self

    @model_validator(mode="wrap")
    @classmethod
    def _publish_sites(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        sites = data.get("sites") if isinstance(data, dict) else getattr(data, "sites", None)
        known = frozenset(str(name) for name in sites) if isinstance(sites, dict) else None
        token = _known_sites.set(known)
        try:
            return handler(data)
        finally:
            _known_sites.reset(token)


def _burst_provider_problems(
    services: dict[str, ServiceConfig], providers: dict[str, ProviderConfig]
) -> list[Problem]:
    """Problems of the providers that ``burst`` sections name: each must be an haproxy
    provider serving the service."""
    problems: list[Problem] = []
    for name, service in services.items():
        wanted = service.burst.provider if service.burst is not None else None
        if wanted is None:
            continue
        found = providers.get(wanted)
        where: tuple[str | int, ...] = ("services", name, "burst", "provider")
        if found is None or found.type != "haproxy":
            known = sorted(p for p, spec in providers.items() if spec.type == "haproxy")
            message = (
                f"{wanted!r} is not an haproxy provider; haproxy providers: "
                f"{', '.join(known) or '(none)'}"
            )
            problems.append(Problem(where, message))
        elif found.services and name not in found.services:
            message = f"{wanted!r} does not serve {name}; add {name} to its services"
            problems.append(Problem(where, message))
    return problems


def _with_defaults(service: Any, defaults: Defaults) -> Any:
    """``service`` (raw or built) with the check and damping of ``defaults`` where it gives
    none of its own."""
    inherited = {"check": defaults.check, "damping": defaults.damping}
    if isinstance(service, dict):
        return {**service, **{k: v for k, v in inherited.items() if service.get(k) is None}}
    if isinstance(service, ServiceConfig):
        unset = {k: v for k, v in inherited.items() if k not in service.model_fields_set}
        return service.model_copy(update=unset)
    return service
