"""DnsProbe against a small UDP responder on loopback."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from healthchecks.dns import DnsProbe

if TYPE_CHECKING:
    from tests.healthchecks.conftest import DnsServer

LOOPBACK = "127.0.0.1"


async def test_answer_with_the_expected_address_passes(dns_server: DnsServer) -> None:
    probe = DnsProbe(LOOPBACK, "svc.test", port=dns_server.port, expect_address="192.0.2.10")

    result = await probe.probe(timeout=2)

    assert result.ok, result.reason
    assert result.reason == "rcode NOERROR with 192.0.2.10"


async def test_any_answer_passes_without_an_expected_address(dns_server: DnsServer) -> None:
    result = await DnsProbe(LOOPBACK, "svc.test", port=dns_server.port).probe(timeout=2)

    assert result.ok
    assert result.reason == "rcode NOERROR"


async def test_wrong_address_fails_and_names_what_came_back(dns_server: DnsServer) -> None:
    probe = DnsProbe(LOOPBACK, "svc.test", port=dns_server.port, expect_address="192.0.2.99")

    result = await probe.probe(timeout=2)

    assert not result.ok
    assert result.reason == "answer lacks 192.0.2.99 (got 192.0.2.10)"


async def test_empty_answer_fails_when_an_address_is_expected(dns_server: DnsServer) -> None:
    probe = DnsProbe(
        LOOPBACK, "svc.test", port=dns_server.port, rdtype="AAAA", expect_address="2001:db8::1"
    )

    result = await probe.probe(timeout=2)

    assert result.reason == "answer lacks 2001:db8::1 (got no address)"


async def test_unexpected_rcode_fails(dns_server: DnsServer) -> None:
    result = await DnsProbe(LOOPBACK, "broken.test", port=dns_server.port).probe(timeout=2)

    assert not result.ok
    assert result.reason == "rcode SERVFAIL, expected NOERROR"


async def test_expected_rcode_is_configurable(dns_server: DnsServer) -> None:
    probe = DnsProbe(LOOPBACK, "nowhere.test", port=dns_server.port, expect_rcode="NXDOMAIN")

    assert (await probe.probe(timeout=2)).ok


async def test_silent_server_times_out(dns_server: DnsServer) -> None:
    result = await DnsProbe(LOOPBACK, "mute.test", port=dns_server.port).probe(timeout=0.2)

    assert not result.ok
    assert result.reason == "timeout after 0.200s"
    assert dns_server.responder.queries == 1


async def test_closed_port_fails_without_raising(closed_udp_port: int) -> None:
    result = await DnsProbe(LOOPBACK, "svc.test", port=closed_udp_port).probe(timeout=0.5)

    # Whether the port-unreachable reply reaches the prober depends on whether the
    # resolver connects its UDP socket; either way it is a failure, not an exception.
    assert not result.ok
    assert result.reason in ("connect refused", "timeout after 0.500s")


@pytest.mark.parametrize(
    "fields",
    [
        {"server": "ns1.example"},
        {"rdtype": "BOGUS"},
        {"expect_rcode": "MAYBE"},
        {"expect_address": "not-an-ip"},
    ],
)
def test_probes_that_cannot_be_understood_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="dns probe"):
        DnsProbe(**{"server": LOOPBACK, "qname": "svc.test", **fields})
