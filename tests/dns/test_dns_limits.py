"""What one client can take from the responder: TCP connections per client, UDP answers per network.

Clients come from different loopback addresses (127.0.0.2, 127.0.1.2, ...), so a test can
tell a greedy or forged client from the others.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable

import dns.flags
import dns.message
import pytest

from gtm.config.limits import DnsLimits, DnsRateLimit
from gtm.core.ratelimit import Verdict
from gtm.dns import DnsServer, ZoneAnswers
from gtm.dns.ratelimit import ResponseLimiter, truncated_answer

ZONE = "gtm.example.test."
TIMEOUT = 5.0
NAME = "billing." + ZONE


@pytest.fixture
async def server(
    request: pytest.FixtureRequest, make_answers: Callable[..., ZoneAnswers]
) -> AsyncIterator[DnsServer]:
    limits, rate_limit = request.param
    # A clock that stands still: buckets never refill, so every verdict is known.
    started = DnsServer(make_answers(), limits=limits, rate_limit=rate_limit, clock=lambda: 0.0)
    await started.start("127.0.0.1", 0)
    try:
        yield started
    finally:
        await started.close()


async def ask_tcp(port: int, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


async def query(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> dns.message.Message:
    writer.write(dns.message.make_query(NAME, "A").to_wire(prepend_length=True))
    await writer.drain()
    length = int.from_bytes(await reader.readexactly(2), "big")
    return dns.message.from_wire(await reader.readexactly(length))


@pytest.mark.parametrize(
    "server",
    [(DnsLimits(max_tcp_connections=10, max_tcp_connections_per_client=2), None)],
    indirect=True,
)
async def test_one_client_holding_its_share_leaves_tcp_to_the_others(server: DnsServer) -> None:
    greedy = [await ask_tcp(server.port, "127.0.0.2") for _ in range(2)]
    try:
        for connection in greedy:
            assert (await query(*connection)).answer  # both held and served
        third = await ask_tcp(server.port, "127.0.0.2")
        assert await asyncio.wait_for(third[0].read(), TIMEOUT) == b""  # turned away
        third[1].close()
        other = await ask_tcp(server.port, "127.0.0.3")
        assert (await query(*other)).answer
        other[1].close()
    finally:
        for _, writer in greedy:
            writer.close()


def udp_burst(port: int, source: str, count: int) -> list[dns.message.Message]:
    """Send ``count`` queries from ``source`` at once; the answers that came back."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        for n in range(count):
            ask = dns.message.make_query(NAME, "A", id=n + 1)
            sock.sendto(ask.to_wire(), ("127.0.0.1", port))
        sock.settimeout(0.5)
        answers = []
        try:
            while True:
                answers.append(dns.message.from_wire(sock.recv(65535)))
        except TimeoutError:
            return answers


@pytest.mark.parametrize(
    "server",
    [(None, DnsRateLimit(responses_per_second=1, burst=2, slip=2))],
    indirect=True,
)
async def test_udp_over_the_rate_is_dropped_but_every_second_one_slips_truncated(
    server: DnsServer,
) -> None:
    flood = await asyncio.to_thread(udp_burst, server.port, "127.0.0.2", 8)
    # Another address in the same /24 shares the budget: already spent.
    neighbour = await asyncio.to_thread(udp_burst, server.port, "127.0.0.9", 2)
    # Another network has a budget of its own.
    other = await asyncio.to_thread(udp_burst, server.port, "127.0.1.2", 2)

    full = [m for m in flood if not m.flags & dns.flags.TC]
    slipped = [m for m in flood if m.flags & dns.flags.TC]
    assert [m.id for m in full] == [1, 2]
    assert [m.id for m in slipped] == [4, 6, 8]
    assert all(not m.answer and m.question for m in slipped)
    assert [bool(m.flags & dns.flags.TC) for m in neighbour] == [True]
    assert [bool(m.flags & dns.flags.TC) for m in other] == [False, False]
    assert server.limiter is not None
    assert (server.limiter.dropped, server.limiter.truncated) == (4, 4)


@pytest.mark.parametrize("server", [(None, DnsRateLimit())], indirect=True)
async def test_rate_limiting_is_off_by_default(server: DnsServer) -> None:
    assert server.limiter is None
    answers = await asyncio.to_thread(udp_burst, server.port, "127.0.0.2", 20)
    assert len(answers) == 20


def limiter(**config: int) -> ResponseLimiter:
    settings = DnsRateLimit(responses_per_second=1, burst=1, **config)
    budget = settings.budget()
    assert budget is not None
    return ResponseLimiter(settings, budget, clock=lambda: 0.0)


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("192.0.2.1", "192.0.2.254", True),
        ("192.0.2.1", "192.0.3.1", False),
        ("2001:db8:0:ff00::1", "2001:db8:0:ffff::2", True),  # one /56
        ("2001:db8:0:ff00::1", "2001:db8:0:fe00::1", False),
        ("::ffff:192.0.2.7", "192.0.2.8", True),  # IPv4 seen on a dual-stack socket
        ("fe80::1%lo", "fe80::2", True),
        ("0.0.0.1", "::1", False),
    ],
)
def test_clients_count_by_network(first: str, second: str, same: bool) -> None:
    rrl = limiter()
    assert (rrl.network(first) == rrl.network(second)) is same


def test_the_table_of_networks_stays_bounded() -> None:
    rrl = limiter(max_clients=100)
    for n in range(1000):
        assert rrl.verdict(f"10.{n // 256}.{n % 256}.1") is Verdict.ANSWER
    assert rrl.networks <= 100


@pytest.mark.parametrize(
    "wire",
    [
        b"",
        b"\x00" * 11,
        dns.message.make_response(dns.message.make_query(NAME, "A")).to_wire(),  # an answer
        bytes.fromhex("1234 2800 0001 0000 0000 0000") + b"\x00\x00\x06\x00\x01",  # UPDATE
        bytes.fromhex("1234 0100 0002 0000 0000 0000") + b"\x00\x00\x01\x00\x01" * 2,
        bytes.fromhex("1234 0100 0001 0000 0000 0000") + b"\xc0\x0c\x00\x01\x00\x01",
        bytes.fromhex("1234 0100 0001 0000 0000 0000") + b"\x03abc",  # name runs off the end
        bytes.fromhex("1234 0100 0001 0000 0000 0000") + b"\x03abc\x00\x00",  # no class
    ],
)
def test_nothing_truncated_is_made_from_what_is_not_a_query(wire: bytes) -> None:
    assert truncated_answer(wire) is None


def test_a_truncated_answer_is_the_question_with_tc_set() -> None:
    ask = dns.message.make_query(NAME, "SRV", use_edns=0, id=4321)
    wire = truncated_answer(ask.to_wire())
    assert wire is not None
    answer = dns.message.from_wire(wire)
    assert answer.id == 4321
    assert answer.flags & dns.flags.QR and answer.flags & dns.flags.TC
    assert answer.flags & dns.flags.RD
    assert answer.question == ask.question
    assert not answer.answer and not answer.additional
    assert len(wire) < len(ask.to_wire())


def test_record_types_are_loaded_before_serving_not_on_first_sight() -> None:
    # In a fresh process: a type nothing has asked about is loaded once the server starts,
    # so meeting it later needs no import (and no descriptor) while under load.
    script = """
import asyncio, sys
from gtm.dns import DnsServer, ZoneAnswers

class Empty:
    def get(self, service): return None
    def subscribe(self, callback): return lambda: None

async def main():
    answers = ZoneAnswers("gtm.example.test.", Empty(), ns=("ns1",), negative_ttl=5)
    server = DnsServer(answers)
    before = "dns.rdtypes.ANY.ZONEMD" in sys.modules
    await server.start("127.0.0.1", 0)
    after = "dns.rdtypes.ANY.ZONEMD" in sys.modules
    await server.close()
    answers.close()
    print(before, after)

asyncio.run(main())
"""
    out = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    assert out.split() == ["False", "True"]
