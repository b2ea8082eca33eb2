"""TlsProbe against TLS servers on loopback with freshly issued certificates."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from healthchecks.tls import TlsProbe

if TYPE_CHECKING:
    from tests.healthchecks.conftest import Certificate, TlsServerFactory

LOOPBACK = "127.0.0.1"


async def test_valid_certificate_passes_with_verification(
    tls_server: TlsServerFactory, server_cert: Certificate
) -> None:
    port = await tls_server(server_cert)
    probe = TlsProbe(LOOPBACK, port, ca_file=str(server_cert.ca_file))

    result = await probe.probe(timeout=2)

    assert result.ok, result.reason
    assert result.reason == "certificate valid for 90.0 more days"


async def test_server_name_is_checked_against_the_certificate(
    tls_server: TlsServerFactory, server_cert: Certificate
) -> None:
    port = await tls_server(server_cert)
    ca_file = str(server_cert.ca_file)

    matching = await TlsProbe(LOOPBACK, port, server_name="svc.test", ca_file=ca_file).probe(2)
    other = await TlsProbe(LOOPBACK, port, server_name="other.test", ca_file=ca_file).probe(2)

    assert matching.ok, matching.reason
    assert not other.ok
    assert other.reason.startswith("TLS error: certificate verify failed: Hostname mismatch")


async def test_certificate_near_expiry_fails(
    tls_server: TlsServerFactory, certificate_factory: Callable[[float], Certificate]
) -> None:
    cert = certificate_factory(3.2)
    port = await tls_server(cert)
    probe = TlsProbe(LOOPBACK, port, ca_file=str(cert.ca_file))

    result = await probe.probe(timeout=2)

    assert not result.ok
    assert result.reason == "certificate expires in 3.2 days, below 14"


async def test_threshold_is_configurable(
    tls_server: TlsServerFactory, certificate_factory: Callable[[float], Certificate]
) -> None:
    cert = certificate_factory(3.2)
    port = await tls_server(cert)
    probe = TlsProbe(LOOPBACK, port, min_days_valid=2.5, ca_file=str(cert.ca_file))

    assert (await probe.probe(timeout=2)).ok


async def test_untrusted_certificate_fails_verification(
    tls_server: TlsServerFactory, server_cert: Certificate
) -> None:
    port = await tls_server(server_cert)

    result = await TlsProbe(LOOPBACK, port).probe(timeout=2)

    assert not result.ok
    assert result.reason.startswith("TLS error: certificate verify failed")


async def test_expiry_is_judged_without_verification(
    tls_server: TlsServerFactory, certificate_factory: Callable[[float], Certificate]
) -> None:
    # Without verification the handshake accepts an expired certificate; reading the
    # certificate ourselves is what catches it.
    cert = certificate_factory(-2)
    port = await tls_server(cert)

    result = await TlsProbe(LOOPBACK, port, verify=False).probe(timeout=2)

    assert not result.ok
    assert result.reason == "certificate expired 2.0 days ago"


async def test_server_without_tls_is_a_tls_error(plain_server: int) -> None:
    result = await TlsProbe(LOOPBACK, plain_server, verify=False).probe(timeout=2)

    assert not result.ok
    assert result.reason.startswith("TLS error: ")
    assert "_" not in result.reason


async def test_closed_port_is_refused(closed_port: int) -> None:
    result = await TlsProbe(LOOPBACK, closed_port).probe(timeout=2)

    assert result.reason == "connect refused"


async def test_missing_authority_file_fails_without_raising(
    tls_server: TlsServerFactory, server_cert: Certificate
) -> None:
    port = await tls_server(server_cert)

    result = await TlsProbe(LOOPBACK, port, ca_file="/nonexistent/ca.pem").probe(timeout=2)

    assert not result.ok
    assert result.reason.startswith("TLS error: cannot load /nonexistent/ca.pem")


@pytest.mark.parametrize("days_left", [20.0, 14.0])
def test_threshold_boundary_passes(days_left: float) -> None:
    ok, _ = TlsProbe(LOOPBACK, 443)._judge(days_left)

    assert ok
