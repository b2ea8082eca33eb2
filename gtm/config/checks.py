"""How each locator is health-probed: one model per probe kind, chosen by ``type``.

The probers in ``healthchecks`` stand alone and know nothing of this file; each kind's
entry in :data:`CHECKS` names the function that translates its section into a prober.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, model_validator

from gtm.config.burst import LoadConfig
from gtm.config.durations import Duration, format_duration
from gtm.config.plugins import Family, Plugin
from gtm.config.problems import Problem, problems_error
from gtm.config.readiness import ReleaseConfig
from gtm.config.section import Section


class BaseCheck(Section):
    """Settings every probe kind shares: timing, hysteresis and the port to probe."""

    interval: Duration = Field(default=1.0, gt=0)
    """Time between two probes of the same locator."""
    timeout: Duration = Field(default=0.5, gt=0)
    """How long one probe may take before it counts as failed; must be below interval."""
    recheck_interval: Duration = Field(default=0.05, gt=0)
    """After a first failure, probe again this soon instead of waiting a full interval,
    so a hard failure is confirmed quickly while a single lost probe changes nothing."""
    rise: int = Field(default=2, ge=1)
    """Consecutive successes that turn a down locator up."""
    fall: int = Field(default=3, ge=1)
    """Consecutive failures that turn an up locator down."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """Port to probe instead of the locator's own port (a separate health port)."""
    type: str
    """The probe's kind."""

    @model_validator(mode="after")
    def _check_timing(self) -> BaseCheck:
        if self.timeout >= self.interval:
            timeout, interval = format_duration(self.timeout), format_duration(self.interval)
            message = f"{timeout} is not less than interval {interval}; expected timeout < interval"
            raise problems_error([Problem(("timeout",), message)])
        return self


class HttpCheck(BaseCheck):
    """An HTTP(S) request whose status (and optionally body) tells whether the replica is up."""

    type: Literal["http", "https"] = "http"
    """``http``, or ``https`` for TLS."""
    path: str = Field(default="/health", pattern=r"^/")
    """Request path, starting with a slash."""
    method: Literal["GET", "HEAD", "POST"] = "GET"
    """Request method."""
    expect_status: list[Annotated[int, Field(ge=100, le=599)]] = Field(default=[200], min_length=1)
    """Status codes that mean up."""
    body_contains: str | None = None
    """Text the response body must contain to mean up."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra request headers."""
    host_header: str | None = None
    """Host header (and TLS server name for https) to send; default: the locator address."""
    tls_verify: bool = True
    """Whether an https probe verifies the replica's certificate."""
    release: ReleaseConfig | None = None
    """Where to read the release each replica runs from its answer (a header, a JSON
    field or a regular expression over the body), for ``readiness``; default: none."""
    load: LoadConfig | None = None
    """Where the answer carries the replica's load figure, for ``burst: {metric: load}``."""


class TcpCheck(BaseCheck):
    """A TCP connection that succeeds means up."""

    type: Literal["tcp"]
    """``tcp``."""


class DnsCheck(BaseCheck):
    """A DNS query to a replica that is itself a DNS server."""

    type: Literal["dns"]
    """``dns``."""
    qname: str
    """Name to ask for."""
    rdtype: Literal["A", "AAAA", "CNAME", "MX", "NS", "SOA", "SRV", "TXT"] = "A"
    """Record type to ask for."""
    expect_rcode: Literal["NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED"] = "NOERROR"
    """Response code that means up."""


class TlsCheck(BaseCheck):
    """A TLS handshake whose certificate must stay valid long enough."""

    type: Literal["tls"]
    """``tls``."""
    server_name: str | None = None
    """Server name to send (SNI) and verify; default: the locator address."""
    min_days_valid: int = Field(default=14, ge=0)
    """Days the certificate must still be valid for the replica to count as up."""


CHECKS = Family(
    "check",
    {
        "http": Plugin(HttpCheck, "gtm.controller.probing:http_prober"),
        "https": Plugin(HttpCheck, "gtm.controller.probing:http_prober"),
        "tcp": Plugin(TcpCheck, "gtm.controller.probing:tcp_prober"),
        "dns": Plugin(DnsCheck, "gtm.controller.probing:dns_prober"),
        "tls": Plugin(TlsCheck, "gtm.controller.probing:tls_prober"),
    },
)
"""Check kinds. A factory takes the section, the replica's address and port to probe and
the shared HTTP client, and returns a :class:`healthchecks.Prober`."""

if TYPE_CHECKING:
    CheckConfig = BaseCheck
else:
    CheckConfig = CHECKS.union()
"""A health check, its kind chosen by ``type``: http (when omitted), https, tcp, dns or tls."""


def with_default_kind(section: Any) -> Any:
    """A raw section whose ``check`` has no ``type`` gets ``type: http``, the usual probe."""
    if isinstance(section, dict):
        check = section.get("check")
        if isinstance(check, dict) and "type" not in check:
            return {**section, "check": {"type": "http", **check}}
    return section
