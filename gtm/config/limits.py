"""How much the API and the DNS responder serve at once, as configured or derived.

Connection caps left unset are derived from the process's open-file limit
(:func:`gtm.core.budget.split`), which gtm raises to its hard limit at start, so clients
can never take the descriptors probes and the store need.
"""

from __future__ import annotations

import resource
from typing import Self

from pydantic import Field, model_validator

from gtm.config.durations import Duration
from gtm.config.problems import Problem, problems_error
from gtm.config.section import Section
from gtm.core.budget import API_PER_CLIENT_SHARE, DNS_PER_CLIENT_SHARE, Budget, split
from gtm.core.ratelimit import RateLimit

UNLIMITED_DESCRIPTORS = 1 << 20
"""The budget assumed when the open-file limit is unlimited."""


def descriptor_budget() -> Budget:
    """The default caps for this process, from its soft open-file limit now."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft > UNLIMITED_DESCRIPTORS:
        soft = UNLIMITED_DESCRIPTORS
    return split(soft)


def _check_per_client(total: int | None, per_client: int | None, name: str) -> None:
    if total is not None and per_client is not None and per_client > total:
        raise problems_error(
            [Problem((name,), f"is {per_client}, more than the {total} connections allowed in all")]
        )


class ApiLimits(Section):
    """How many connections the API serves at once, and how long it waits for them."""

    max_connections: int | None = Field(default=None, ge=1, le=1_000_000)
    """API connections open at once; a connection beyond it is answered 503 and closed.
    Unset: two thirds of the open-file limit left after a reserve for probes and the store,
    at most 4096."""
    max_connections_per_client: int | None = Field(default=None, ge=1, le=1_000_000)
    """Connections one client address may hold; beyond it, 503 and closed. Unset: a quarter
    of ``max_connections``. On a loopback-only sidecar every local application is one
    client."""
    header_timeout: Duration = Field(default=10.0, gt=0, le=300)
    """Longest a new connection may take to send its request line and headers; it is then
    answered 408 and closed."""
    idle_timeout: Duration = Field(default=75.0, gt=0, le=3600)
    """Longest a kept-alive connection may wait for its next request."""

    @model_validator(mode="after")
    def _check(self) -> Self:
        _check_per_client(
            self.max_connections, self.max_connections_per_client, "max_connections_per_client"
        )
        return self

    def caps(self, budget: Budget) -> tuple[int, int]:
        """Connections in all and per client: as set, or derived from ``budget``."""
        total = self.max_connections or budget.api
        per_client = self.max_connections_per_client or max(1, total // API_PER_CLIENT_SHARE)
        return total, min(total, per_client)


class DnsLimits(Section):
    """How many TCP connections the DNS responder serves at once, and for how long."""

    max_tcp_connections: int | None = Field(default=None, ge=1, le=1_000_000)
    """TCP connections open at once; beyond it new ones are closed at once. Unset: a third
    of the open-file limit left after a reserve for probes and the store, at most 256."""
    max_tcp_connections_per_client: int | None = Field(default=None, ge=1, le=1_000_000)
    """TCP connections one client address may hold. Unset: a sixteenth of
    ``max_tcp_connections``."""
    tcp_idle_timeout: Duration = Field(default=10.0, gt=0, le=300)
    """Longest a TCP connection may wait for its next query."""

    @model_validator(mode="after")
    def _check(self) -> Self:
        _check_per_client(
            self.max_tcp_connections,
            self.max_tcp_connections_per_client,
            "max_tcp_connections_per_client",
        )
        return self

    def caps(self, budget: Budget) -> tuple[int, int]:
        """TCP connections in all and per client: as set, or derived from ``budget``."""
        total = self.max_tcp_connections or budget.dns_tcp
        per_client = self.max_tcp_connections_per_client or max(1, total // DNS_PER_CLIENT_SHARE)
        return total, min(total, per_client)


class DnsRateLimit(Section):
    """Response-rate limiting over UDP, per client network (off unless a rate is set)."""

    responses_per_second: float = Field(default=0.0, ge=0, le=1_000_000, allow_inf_nan=False)
    """Answers per second to one client network over UDP; 0 turns limiting off."""
    burst: int | None = Field(default=None, ge=1, le=1_000_000)
    """Answers one network may get back to back after a quiet spell. Unset: one second's
    worth of ``responses_per_second``."""
    slip: int = Field(default=2, ge=0, le=10)
    """Every ``slip``-th answer over the rate goes out empty with the truncation bit set, so
    a real client retries over TCP; the others are dropped. 1 truncates them all, 0 drops
    them all."""
    ipv4_prefix: int = Field(default=24, ge=8, le=32)
    """IPv4 addresses sharing this many leading bits count as one client."""
    ipv6_prefix: int = Field(default=56, ge=16, le=128)
    """IPv6 addresses sharing this many leading bits count as one client."""
    max_clients: int = Field(default=100_000, ge=1, le=10_000_000)
    """Client networks tracked at once; beyond it, networks whose budget has refilled are
    forgotten first, then the earliest seen."""

    def budget(self) -> RateLimit | None:
        """Each client network's budget; None when limiting is off."""
        if self.responses_per_second == 0:
            return None
        burst = self.burst or max(1, round(self.responses_per_second))
        return RateLimit(rate=self.responses_per_second, burst=float(burst), slip=self.slip)
