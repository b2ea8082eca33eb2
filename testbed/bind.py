"""A real BIND ``named`` on loopback, so the RFC 2136 provider is exercised against the server
users run rather than a fake: tests, benchmarks and the examples start one of these.

The server is primary for one zone, takes TSIG-signed updates to any name in it
(``update-policy { grant <key> zonesub ANY; }``) and zone transfers signed with the same
key, and keeps everything (configuration, zone file, journal, pid file, log) in one
directory. Given a ``primary``, it is a secondary instead: it copies the zone from there by
AXFR and IXFR (signed with its key unless told otherwise) and follows NOTIFY from it, as
BIND does behind gtm as a hidden primary.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import time
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig

from testbed.ports import free_port
from testbed.process import ManagedProcess

ADDRESS = "127.0.0.1"
"""Where the server listens: loopback only."""

_KEY_BYTES = {
    "hmac-sha1": 20,
    "hmac-sha224": 28,
    "hmac-sha256": 32,
    "hmac-sha384": 48,
    "hmac-sha512": 64,
}
"""Key length per algorithm: as long as the hash, as tsig-keygen makes them."""


class BindServer(ManagedProcess):
    """One ``named`` process serving ``zone`` on ``127.0.0.1:<port>``, TCP and UDP.

    ``named`` runs in the foreground (``-g``: no daemon, log to stderr, which goes to
    ``named.log`` in the work directory) as the user that starts it: no ``-u``, so as root
    it stays root and needs no ``bind`` user able to read the work directory. The control
    channel is disabled (``controls { };``): the process is stopped by its pid.

    Example:
        >>> with BindServer(tmp_path, "gtm.example.test.") as server:
        ...     print(server.port, server.key_name)
    """

    def __init__(
        self,
        workdir: Path,
        zone: str,
        *,
        port: int = 0,
        key_name: str = "gtm-key.",
        algorithm: str = "hmac-sha256",
        primary: tuple[str, int] | None = None,
        sign_transfers: bool = True,
    ) -> None:
        """Prepare a server; nothing is written or started until :meth:`start`.

        Args:
            workdir: Directory for the configuration, zone, journal, pid file and log.
            zone: The zone the server is primary for (``gtm.example.test.``).
            port: TCP and UDP port on 127.0.0.1; 0 picks one that is free for both.
            key_name: Name of the TSIG key that may update the zone and transfer it.
            algorithm: TSIG algorithm of the key.
            primary: Address and port of the zone's primary: the server is a secondary
                for the zone, which it transfers from there. None: it is the primary.
            sign_transfers: As a secondary, whether its SOA queries and transfer requests
                to the primary are signed with the key.
        """
        super().__init__()
        if algorithm not in _KEY_BYTES:
            raise ValueError(
                f"bind: TSIG algorithm {algorithm!r} is not one of {', '.join(_KEY_BYTES)}"
            )
        self.workdir = workdir.resolve()
        self.zone = zone if zone.endswith(".") else zone + "."
        self.port = port
        self.key_name = key_name if key_name.endswith(".") else key_name + "."
        self.algorithm = algorithm
        self.key_secret = base64.b64encode(secrets.token_bytes(_KEY_BYTES[algorithm])).decode()
        self.address = ADDRESS
        self.primary = primary
        self.sign_transfers = sign_transfers

    @property
    def conf_path(self) -> Path:
        """The ``named.conf`` the server reads."""
        return self.workdir / "named.conf"

    @property
    def log_path(self) -> Path:
        """Where the server's log (its stderr) goes."""
        return self.workdir / "named.log"

    @property
    def key_path(self) -> Path:
        """A file holding only the ``key`` statement, as ``nsupdate -k`` and ``dig -k`` read it."""
        return self.workdir / "tsig.key"

    def describe(self) -> str:
        """``bind: named on 127.0.0.1:PORT``, as error messages start."""
        return f"bind: named on {ADDRESS}:{self.port}"

    def _prepare(self) -> list[str]:
        """Write the configuration and zone; ``named`` in the foreground on them."""
        named = shutil.which("named") or "/usr/sbin/named"
        if not os.access(named, os.X_OK):
            raise RuntimeError("bind: named is not installed (Debian package bind9)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.port == 0:
            self.port = free_port(ADDRESS, udp=True)
        self._write_files()
        return [named, "-g", "-c", str(self.conf_path)]

    def key_statement(self) -> str:
        """The ``key`` statement of the TSIG key, as named.conf and ``nsupdate -k`` read it."""
        return (
            f'key "{self.key_name}" {{\n'
            f"    algorithm {self.algorithm};\n"
            f'    secret "{self.key_secret}";\n'
            "};\n"
        )

    def _zone_statement(self) -> str:
        work = self.workdir
        if self.primary is not None:
            host, port = self.primary
            key = f' key "{self.key_name}"' if self.sign_transfers else ""
            # The refresh limits keep a failed transfer from waiting the SOA's retry
            # time (ten minutes) before the next attempt.
            return (
                f'zone "{self.zone}" {{\n'
                "    type secondary;\n"
                f"    primaries {{ {host} port {port}{key}; }};\n"
                f'    file "{work}/secondary.db";\n'
                f'    journal "{work}/secondary.db.jnl";\n'
                "    min-retry-time 1;\n"
                "    max-retry-time 2;\n"
                "};\n"
            )
        return (
            f'zone "{self.zone}" {{\n'
            "    type primary;\n"
            f'    file "{work}/zone.db";\n'
            f'    journal "{work}/zone.db.jnl";\n'
            f'    update-policy {{ grant "{self.key_name}" zonesub ANY; }};\n'
            f'    allow-transfer {{ key "{self.key_name}"; }};\n'
            "};\n"
        )

    def _write_files(self) -> None:
        work = self.workdir
        self.key_path.write_text(self.key_statement())
        # The SOA minimum (negative TTL) is short so that a name removed in a test is not
        # remembered as missing for long by anything that caches.
        (work / "zone.db").write_text(
            "$TTL 300\n"
            f"@ IN SOA ns1.{self.zone} hostmaster.{self.zone} 1 3600 600 86400 5\n"
            f"@ IN NS ns1.{self.zone}\n"
            "ns1 IN A 127.0.0.1\n"
        )
        # Every file named writes (pid, session key, managed keys, journal) is placed in the
        # work directory, so nothing needs root and two servers never share a file.
        self.conf_path.write_text(
            f'include "{self.key_path}";\n'
            "options {\n"
            f'    directory "{work}";\n'
            f'    pid-file "{work}/named.pid";\n'
            f'    session-keyfile "{work}/session.key";\n'
            f'    managed-keys-directory "{work}";\n'
            f"    listen-on port {self.port} {{ {ADDRESS}; }};\n"
            "    listen-on-v6 { none; };\n"
            "    recursion no;\n"
            "    dnssec-validation no;\n"
            "    notify no;\n"
            "};\n"
            "controls { };\n" + self._zone_statement()
        )

    def _probe(self) -> str | None:
        """Ask for the zone's SOA; None once this server gives a signed, authoritative answer
        (as a secondary, any signed answer: its zone may not be transferred yet, see
        :meth:`wait_serial`).

        While named starts, a query may time out, be refused, get an answer that does not
        match the question, or meet another process on the port: each means "not ready
        yet". The query is signed with the server's own key, so an answer that verifies can
        only come from this server; a new query (and id) each time, so a late answer to an
        earlier one is ignored.
        """
        query = dns.message.make_query(self.zone, dns.rdatatype.SOA)
        query.use_tsig(dns.tsig.Key(self.key_name, self.key_secret, self.algorithm))
        try:
            response = dns.query.udp(query, ADDRESS, timeout=0.5, port=self.port)
        except (dns.exception.DNSException, OSError, EOFError) as exc:
            return f"{type(exc).__name__}: {exc}"
        if self.primary is not None and response.had_tsig:
            return None
        if response.rcode() == dns.rcode.NOERROR and response.flags & dns.flags.AA:
            return None
        return (
            f"answer {dns.rcode.to_text(response.rcode())}, "
            f"flags {dns.flags.to_text(response.flags)}"
        )

    def serial(self) -> int | None:
        """The zone's SOA serial this server answers now; None while it has no zone."""
        query = dns.message.make_query(self.zone, dns.rdatatype.SOA)
        response = dns.query.udp(query, ADDRESS, timeout=2.0, port=self.port)
        for rrset in response.answer:
            if rrset.rdtype == dns.rdatatype.SOA:
                return int(rrset[0].serial)
        return None

    def wait_serial(self, serial: int, timeout: float = 60.0) -> None:
        """Wait until the server answers ``serial`` (or a newer one) as the zone's SOA serial.

        Raises:
            TimeoutError: It did not within ``timeout`` seconds; the message holds the
                serial it answers and the end of its log.
        """
        deadline = time.monotonic() + timeout
        seen: int | None = None
        while time.monotonic() < deadline:
            try:
                seen = self.serial()
            except (dns.exception.DNSException, OSError):
                seen = None
            if seen is not None and (seen - serial) % 2**32 < 2**31:
                return
            time.sleep(0.05)
        tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])
        raise TimeoutError(
            f"{self.describe()}: serial {seen}, not {serial}, after {timeout:g} s\n{tail}"
        )
