"""Builds the prober a check section describes, through the check map of the config.

The kinds are the entries of :data:`gtm.config.checks.CHECKS`; each names one of the
builders here, which translate a section into the settings of a ``healthchecks`` prober
(the probers know nothing of the config).
"""

from __future__ import annotations

from typing import Protocol, cast

from gtm.config.checks import CHECKS, BaseCheck, DnsCheck, HttpCheck, TcpCheck, TlsCheck
from healthchecks import DnsProbe, HttpClient, HttpProbe, Prober, TcpProbe, TlsProbe
from healthchecks.load import LoadReader


class ProberFactory(Protocol):
    """What a check kind's factory is: its section and the target in, a prober out."""

    def __call__(self, check: BaseCheck, address: str, port: int, http: HttpClient) -> Prober:
        """The prober of ``check`` for the replica at ``address``:``port``."""
        ...


def build_prober(check: BaseCheck, address: str, port: int, http: HttpClient) -> Prober:
    """The prober that ``check`` describes, aimed at ``address``:``port``.

    Args:
        check: A check section; its ``type`` chooses the kind.
        address: The replica's address.
        port: The port to probe (the check's own ``port`` or the locator's).
        http: The shared HTTP client for HTTP(S) probes.
    """
    factory = cast(ProberFactory, CHECKS.factory(check.type))
    return factory(check, address, port, http)


def http_prober(check: HttpCheck, address: str, port: int, http: HttpClient) -> Prober:
    """An HTTP or HTTPS request, as ``check.type`` says."""
    return HttpProbe(
        address,
        port,
        path=check.path,
        scheme=check.type,
        method=check.method,
        expect_status=frozenset(check.expect_status),
        body_contains=check.body_contains,
        headers=dict(check.headers),
        host_header=check.host_header,
        tls_verify=check.tls_verify,
        release=None if check.release is None else check.release.rule(),
        load=None if check.load is None else LoadReader(check.load.header, check.load.field),
        client=http,
    )


def tcp_prober(check: TcpCheck, address: str, port: int, http: HttpClient) -> Prober:
    """A TCP connection."""
    del check
    return TcpProbe(address, port, source=http.source)


def dns_prober(check: DnsCheck, address: str, port: int, http: HttpClient) -> Prober:
    """A DNS query to a replica that is a DNS server."""
    return DnsProbe(
        address,
        check.qname,
        port=port,
        rdtype=check.rdtype,
        expect_rcode=check.expect_rcode,
        source=http.source,
    )


def tls_prober(check: TlsCheck, address: str, port: int, http: HttpClient) -> Prober:
    """A TLS handshake and a look at the certificate."""
    return TlsProbe(
        address,
        port,
        server_name=check.server_name,
        min_days_valid=check.min_days_valid,
        source=http.source,
    )
