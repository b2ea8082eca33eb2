"""DnsServer over real UDP and TCP sockets on 127.0.0.1, queried as resolvers would."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import socket
import struct
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.update
import pytest
from dns.rdatatype import RdataType

from gtm.config.limits import DnsLimits
from gtm.core.model import NEVER, Action, Locator, Mapping, State
from gtm.dns import DnsServer, ZoneAnswers
from testbed.ports import free_port

if TYPE_CHECKING:
    from conftest import RunningServer

ZONE = "gtm.example.test."
TIMEOUT = 5.0
"""How long a client waits before calling the server dead; a hang guard, not a measure."""

Query = Callable[..., dns.message.Message]


@pytest.fixture(params=["udp", "tcp"])
def query(request: pytest.FixtureRequest, dns_server: RunningServer) -> Query:
    """Ask the live server one question over each transport in turn."""
    send = dns.query.udp if request.param == "udp" else dns.query.tcp

    def ask(name: str, rdtype: str = "A", **options: object) -> dns.message.Message:
        message = dns.message.make_query(name, rdtype, **options)  # type: ignore[arg-type]
        return send(message, dns_server.host, port=dns_server.port, timeout=TIMEOUT)

    return ask


def texts(response: dns.message.Message) -> set[str]:
    return {rd.to_text() for rrset in response.answer for rd in rrset}


def down(mapping: Mapping, action: Action) -> Mapping:
    return dataclasses.replace(
        mapping,
        action=action,
        locators=tuple(
            dataclasses.replace(loc, state=State.DOWN) if loc.priority < NEVER else loc
            for loc in mapping.locators
        ),
    )


class TestRecords:
    def test_a(self, query: Query) -> None:
        response = query("billing." + ZONE)
        assert response.flags & dns.flags.AA
        assert texts(response) == {"192.0.2.10"}

    def test_aaaa(self, query: Query) -> None:
        assert texts(query("billing." + ZONE, "AAAA")) == {"2001:db8::10"}

    def test_srv_and_its_targets(self, query: Query) -> None:
        assert texts(query("billing." + ZONE, "SRV")) == {
            "1 100 443 aws-use1.billing.gtm.example.test.",
            "2 50 8443 gcp-euw1.billing.gtm.example.test.",
        }
        assert texts(query("gcp-euw1.billing." + ZONE)) == {"198.51.100.20"}

    def test_txt(self, query: Query) -> None:
        assert texts(query("billing." + ZONE, "TXT")) == {'"version=7" "epoch=3" "active=aws-use1"'}

    def test_soa_and_ns(self, query: Query) -> None:
        (soa,) = query(ZONE, "SOA").answer
        assert next(iter(soa)).mname.to_text() == "ns1." + ZONE
        assert texts(query(ZONE, "NS")) == {"ns1." + ZONE, "ns2." + ZONE}

    def test_case_does_not_matter(self, query: Query) -> None:
        assert texts(query("BILLING.Gtm.Example.Test.")) == {"192.0.2.10"}

    def test_nxdomain_carries_the_soa(self, query: Query) -> None:
        response = query("payroll." + ZONE)
        assert response.rcode() == dns.rcode.NXDOMAIN
        assert [rrset.rdtype for rrset in response.authority] == [RdataType.SOA]

    def test_outside_the_zone_is_refused(self, query: Query) -> None:
        assert query("www.example.com.").rcode() == dns.rcode.REFUSED


class TestAllDown:
    def test_stay_keeps_the_active_site(
        self, query: Query, dns_server: RunningServer, billing: Mapping
    ) -> None:
        dns_server.publish(down(billing, Action.STAY))
        assert texts(query("billing." + ZONE)) == {"192.0.2.10"}

    def test_open_gives_every_locator(
        self, query: Query, dns_server: RunningServer, billing: Mapping
    ) -> None:
        dns_server.publish(down(billing, Action.OPEN))
        assert texts(query("billing." + ZONE)) == {"192.0.2.10", "198.51.100.20", "203.0.113.30"}

    def test_nxdomain(self, query: Query, dns_server: RunningServer, billing: Mapping) -> None:
        dns_server.publish(down(billing, Action.NXDOMAIN))
        assert query("billing." + ZONE).rcode() == dns.rcode.NXDOMAIN


def test_a_change_reaches_the_next_answer(dns_server: RunningServer, billing: Mapping) -> None:
    ask = dns.message.make_query("billing." + ZONE, "A")
    before = dns.query.udp(ask, dns_server.host, port=dns_server.port, timeout=TIMEOUT)
    assert texts(before) == {"192.0.2.10"}
    moved = dataclasses.replace(
        billing,
        version=8,
        epoch=4,
        active_site="gcp-euw1",
        locators=tuple(
            dataclasses.replace(loc, priority=3) if loc.site == "aws-use1" else loc
            for loc in billing.locators
        ),
    )
    dns_server.publish(moved)
    after = dns.query.udp(ask, dns_server.host, port=dns_server.port, timeout=TIMEOUT)
    assert texts(after) == {"198.51.100.20"}


def test_a_big_answer_is_truncated_over_udp_and_whole_over_tcp(
    dns_server: RunningServer,
) -> None:
    dns_server.publish(
        Mapping(
            service="big",
            version=1,
            epoch=1,
            ttl=30,
            active_site="aws-use1",
            locators=tuple(
                Locator(f"big@aws-use1/{i}", "aws-use1", f"10.0.0.{i + 1}", 443, 1, 1, State.UP)
                for i in range(200)
            ),
        )
    )
    ask = dns.message.make_query("big." + ZONE, "A", use_edns=0, payload=4096)
    truncated = dns.query.udp(ask, dns_server.host, port=dns_server.port, timeout=TIMEOUT)
    assert truncated.flags & dns.flags.TC
    assert len(texts(truncated)) < 200
    whole = dns.query.tcp(ask, dns_server.host, port=dns_server.port, timeout=TIMEOUT)
    assert not whole.flags & dns.flags.TC
    assert len(texts(whole)) == 200


def test_garbage_gets_formerr_and_the_server_keeps_answering(dns_server: RunningServer) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(TIMEOUT)
        sock.sendto(
            b"\x4a\x11\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xff\xfe",
            (
                dns_server.host,
                dns_server.port,
            ),
        )
        reply = dns.message.from_wire(sock.recv(65535))
    assert reply.id == 0x4A11
    assert reply.rcode() == dns.rcode.FORMERR
    ask = dns.message.make_query("billing." + ZONE, "A")
    response = dns.query.udp(ask, dns_server.host, port=dns_server.port, timeout=TIMEOUT)
    assert texts(response) == {"192.0.2.10"}


def test_update_is_not_implemented(dns_server: RunningServer) -> None:
    update = dns.update.UpdateMessage(ZONE)
    update.replace("billing", 30, "A", "192.0.2.99")
    response = dns.query.udp(update, dns_server.host, port=dns_server.port, timeout=TIMEOUT)
    assert response.rcode() == dns.rcode.NOTIMP
    after = dns.query.udp(
        dns.message.make_query("billing." + ZONE, "A"),
        dns_server.host,
        port=dns_server.port,
        timeout=TIMEOUT,
    )
    assert texts(after) == {"192.0.2.10"}


def test_one_tcp_connection_carries_several_queries(dns_server: RunningServer) -> None:
    queries = [
        dns.message.make_query(name, rdtype)
        for name, rdtype in [("billing." + ZONE, "A"), ("billing." + ZONE, "AAAA"), (ZONE, "NS")]
    ]
    with socket.create_connection((dns_server.host, dns_server.port), timeout=TIMEOUT) as sock:
        # Sent back to back before reading, as a pipelining resolver does.
        sock.sendall(b"".join(q.to_wire(prepend_length=True) for q in queries))
        stream = sock.makefile("rb")
        for q in queries:
            (length,) = struct.unpack("!H", stream.read(2))
            response = dns.message.from_wire(stream.read(length))
            assert q.is_response(response)
            assert response.answer


@pytest.mark.skipif(shutil.which("dig") is None, reason="dig is not installed (bind9-dnsutils)")
def test_dig_gets_the_answer(dns_server: RunningServer) -> None:
    dig = shutil.which("dig")
    assert dig is not None
    for transport in ("+notcp", "+tcp"):
        out = subprocess.run(
            [
                dig,
                "@" + dns_server.host,
                "-p",
                str(dns_server.port),
                transport,
                "+short",
                "+tries=1",
                "+time=5",
                "billing." + ZONE,
                "A",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        assert out.split() == ["192.0.2.10"]


# The tests below drive DnsServer from the test's own event loop.


@pytest.fixture
def zone(make_answers: Callable[..., ZoneAnswers]) -> ZoneAnswers:
    return make_answers()


@pytest.fixture
async def started(request: pytest.FixtureRequest, zone: ZoneAnswers) -> AsyncIterator[DnsServer]:
    limits: DnsLimits | None = getattr(request, "param", None)
    server = DnsServer(zone, limits=limits)
    await server.start("127.0.0.1", 0)
    try:
        yield server
    finally:
        await server.close()


async def tcp_ask(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, name: str
) -> dns.message.Message:
    writer.write(dns.message.make_query(name, "A").to_wire(prepend_length=True))
    await writer.drain()
    length = int.from_bytes(await reader.readexactly(2), "big")
    return dns.message.from_wire(await reader.readexactly(length))


@pytest.mark.parametrize("started", [DnsLimits(tcp_idle_timeout=0.05)], indirect=True)
async def test_an_idle_tcp_connection_is_closed(started: DnsServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", started.port)
    try:
        assert texts(await tcp_ask(reader, writer, "billing." + ZONE)) == {"192.0.2.10"}
        assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
    finally:
        writer.close()


@pytest.mark.parametrize("started", [DnsLimits(max_tcp_connections=1)], indirect=True)
async def test_connections_beyond_the_limit_are_turned_away(started: DnsServer) -> None:
    first = await asyncio.open_connection("127.0.0.1", started.port)
    second = await asyncio.open_connection("127.0.0.1", started.port)
    try:
        assert texts(await tcp_ask(*first, "billing." + ZONE)) == {"192.0.2.10"}
        assert await asyncio.wait_for(second[0].read(), TIMEOUT) == b""
    finally:
        first[1].close()
        second[1].close()


async def test_close_ends_open_tcp_connections(zone: ZoneAnswers) -> None:
    server = DnsServer(zone)
    await server.start("127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        assert texts(await tcp_ask(reader, writer, "billing." + ZONE)) == {"192.0.2.10"}
    finally:
        await server.close()
    try:
        assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
    finally:
        writer.close()


async def test_a_taken_udp_port_fails_start_and_frees_the_tcp_port(zone: ZoneAnswers) -> None:
    # A port free for TCP too: a kernel-picked UDP port may be some TCP client's local port.
    port = free_port(udp=True)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", port))
        server = DnsServer(zone)
        with pytest.raises(OSError):
            await server.start("127.0.0.1", port)
        await server.close()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", port))


def test_port_is_unknown_before_start(zone: ZoneAnswers) -> None:
    with pytest.raises(RuntimeError, match="not started"):
        _ = DnsServer(zone).port


@pytest.fixture
def ipv6_loopback() -> Iterator[None]:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    yield


@pytest.mark.usefixtures("ipv6_loopback")
async def test_serves_on_ipv6_loopback(zone: ZoneAnswers) -> None:
    server = DnsServer(zone)
    await server.start("::1", 0)
    try:
        ask = dns.message.make_query("billing." + ZONE, "AAAA")
        udp = await asyncio.to_thread(dns.query.udp, ask, "::1", TIMEOUT, server.port)
        tcp = await asyncio.to_thread(dns.query.tcp, ask, "::1", TIMEOUT, server.port)
        assert texts(udp) == texts(tcp) == {"2001:db8::10"}
    finally:
        await server.close()


def test_the_udp_socket_holds_a_burst_of_queries() -> None:
    from gtm.dns.server import UDP_RECEIVE_BUFFER, _bind_udp

    with open("/proc/sys/net/core/rmem_max") as limit:
        cap = int(limit.read())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as plain:
        default = plain.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    sock = _bind_udp("127.0.0.1", 0)
    try:
        held = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    finally:
        sock.close()
    # Linux doubles what it is asked for (for its bookkeeping), up to rmem_max.
    assert held == 2 * min(UDP_RECEIVE_BUFFER, cap)
    assert held >= default
