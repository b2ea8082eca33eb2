"""Fixtures for the prober tests: real servers on loopback and certificates (the
scheduler's virtual-time loop is shared by every test directory: tests/virtual_time.py)."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from healthchecks.http import HttpClient

LOOPBACK = "127.0.0.1"


# --- HTTP -------------------------------------------------------------------------------


@dataclass
class WebTarget:
    """A running aiohttp app on loopback and what it has seen."""

    host: str
    port: int
    hosts_seen: list[str] = field(default_factory=list)
    peers_seen: list[tuple[str, int]] = field(default_factory=list)
    requests: int = 0


def _web_app(target: WebTarget) -> web.Application:
    async def ok(request: web.Request) -> web.Response:
        target.requests += 1
        target.hosts_seen.append(request.host)
        assert request.transport is not None
        target.peers_seen.append(request.transport.get_extra_info("peername"))
        return web.Response(text="all ok")

    async def fail(request: web.Request) -> web.Response:
        target.requests += 1
        return web.Response(status=503, text="down for maintenance")

    async def slow(request: web.Request) -> web.Response:
        target.requests += 1
        await asyncio.sleep(30)
        return web.Response(text="too late")

    async def moved(request: web.Request) -> web.Response:
        target.requests += 1
        raise web.HTTPFound("/ok")

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/fail", fail)
    app.router.add_get("/slow", slow)
    app.router.add_get("/moved", moved)
    return app


async def _serve(
    target: WebTarget, ssl_context: ssl.SSLContext | None
) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(_web_app(target), shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, LOOPBACK, 0, ssl_context=ssl_context)
    await site.start()
    return runner, runner.addresses[0][1]


@pytest.fixture
async def web_target() -> AsyncIterator[WebTarget]:
    """An HTTP app on 127.0.0.1: /ok (200), /fail (503), /slow, /moved (302)."""
    target = WebTarget(LOOPBACK, 0)
    runner, target.port = await _serve(target, None)
    try:
        yield target
    finally:
        await runner.cleanup()


@pytest.fixture
async def tls_web_target(server_cert: Certificate) -> AsyncIterator[WebTarget]:
    """The same app as ``web_target`` over https, with ``server_cert``."""
    target = WebTarget(LOOPBACK, 0)
    runner, target.port = await _serve(target, server_cert.server_context())
    try:
        yield target
    finally:
        await runner.cleanup()


@pytest.fixture
async def http_client() -> AsyncIterator[HttpClient]:
    """A shared HTTP client, closed after the test."""
    client = HttpClient()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound, so no one else takes it, but
    not listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((LOOPBACK, 0))
        yield sock.getsockname()[1]
    finally:
        sock.close()


# --- certificates and TLS ---------------------------------------------------------------


@dataclass(frozen=True)
class Certificate:
    """A certificate and key on disk, and the authority file that verifies it."""

    cert_file: Path
    key_file: Path
    ca_file: Path

    def server_context(self) -> ssl.SSLContext:
        """A server-side context presenting this certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="session")
def certificate_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[float], Certificate]:
    """Issue server certificates for 127.0.0.1 and ``svc.test`` from a test authority.

    The returned function takes the days the certificate stays valid from now (negative
    for one that has already expired).
    """
    directory = tmp_path_factory.mktemp("pki")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gtm test authority")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=365))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))

    def issue(days_valid: float) -> Certificate:
        key = ec.generate_private_key(ec.SECP256R1())
        not_after = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=days_valid)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "svc.test")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_after - datetime.timedelta(days=90))
            .not_valid_after(not_after)
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("svc.test"), x509.IPAddress(ipaddress.ip_address(LOOPBACK))]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
            .sign(ca_key, hashes.SHA256())
        )
        serial = cert.serial_number
        cert_file = directory / f"{serial}.pem"
        key_file = directory / f"{serial}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(_pem_key(key))
        return Certificate(cert_file, key_file, ca_file)

    return issue


@pytest.fixture
def server_cert(certificate_factory: Callable[[float], Certificate]) -> Certificate:
    """A certificate valid for another 90 days."""
    return certificate_factory(90)


TlsServerFactory = Callable[[Certificate], Coroutine[Any, Any, int]]


@pytest.fixture
async def tls_server() -> AsyncIterator[TlsServerFactory]:
    """Start TLS servers on 127.0.0.1 that complete the handshake and hang up.

    The returned coroutine function takes a certificate and returns the port.
    """
    servers: list[asyncio.Server] = []

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def start(cert: Certificate) -> int:
        server = await asyncio.start_server(hang_up, LOOPBACK, 0, ssl=cert.server_context())
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    try:
        yield start
    finally:
        for server in servers:
            server.close()
            await server.wait_closed()


@pytest.fixture
async def plain_server() -> AsyncIterator[int]:
    """A TCP server on 127.0.0.1 that answers anything with plain HTTP, not TLS."""

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.0 400 Bad Request\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(refuse, LOOPBACK, 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


# --- DNS --------------------------------------------------------------------------------


class _Responder(asyncio.DatagramProtocol):
    """Answers A queries from a table; ``SERVFAIL`` for names in ``failing``, silence
    for names in ``silent``, NXDOMAIN for the rest."""

    def __init__(self, records: dict[str, str], failing: set[str], silent: set[str]) -> None:
        self.records = records
        self.failing = failing
        self.silent = silent
        self.queries = 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # CPython's selector datagram transport does not inherit DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.queries += 1
        query = dns.message.from_wire(data)
        question = query.question[0]
        name = question.name.to_text()
        if name in self.silent:
            return
        response = dns.message.make_response(query)
        if name in self.failing:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif name in self.records and question.rdtype == dns.rdatatype.A:
            response.answer.append(dns.rrset.from_text(name, 30, "IN", "A", self.records[name]))
        elif name not in self.records:
            response.set_rcode(dns.rcode.NXDOMAIN)
        assert self.transport is not None
        self.transport.sendto(response.to_wire(), addr)


@dataclass
class DnsServer:
    """A running UDP DNS responder on loopback."""

    port: int
    responder: _Responder


@pytest.fixture
async def dns_server() -> AsyncIterator[DnsServer]:
    """A DNS responder on 127.0.0.1: ``svc.test.`` is 192.0.2.10, ``broken.test.``
    fails, ``mute.test.`` never answers, other names do not exist."""
    responder = _Responder(
        records={"svc.test.": "192.0.2.10"}, failing={"broken.test."}, silent={"mute.test."}
    )
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: responder, local_addr=(LOOPBACK, 0))
    try:
        yield DnsServer(transport.get_extra_info("sockname")[1], responder)
    finally:
        transport.close()


@pytest.fixture
def closed_udp_port() -> int:
    """A loopback UDP port with no one reading it: bound, then closed."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
    return port
