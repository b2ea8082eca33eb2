"""TLS probe: does the handshake succeed, and does the certificate have long enough to live?

An expiring certificate is an outage with a date on it; probing it turns the date into a
failed check while there is still time to act.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from dataclasses import dataclass

from cryptography import x509

from healthchecks.reasons import describe_timeout, describe_tls_error
from healthchecks.result import Result, Stopwatch

_DAY = 86400.0


@dataclass(frozen=True, slots=True)
class TlsProbe:
    """Complete a TLS handshake and check how long the peer certificate stays valid.

    Attributes:
        host: Address or name to connect to.
        port: TCP port.
        server_name: Name sent in SNI and checked against the certificate; ``host``
            when None.
        min_days_valid: The certificate fails the probe when it expires sooner than
            this many days from now.
        verify: Whether the certificate chain and name must verify. When False, only
            the expiry is judged, which suits self-signed endpoints.
        ca_file: PEM file of the authorities to trust instead of the system's store.
        source: Local address to connect from; None: the system's choice.
            It is read once per process, like the system store.
    """

    host: str
    port: int
    server_name: str | None = None
    min_days_valid: float = 14.0
    verify: bool = True
    ca_file: str | None = None
    source: str | None = None

    async def probe(self, timeout: float) -> Result:
        """Handshake within ``timeout`` seconds and judge the peer certificate.

        Args:
            timeout: Seconds allowed for connecting and the handshake.

        Returns:
            The result; a failure names the TLS error or how soon the certificate
            expires.
        """
        watch = Stopwatch()
        try:
            context = _context(self.verify, self.ca_file)
        except OSError as exc:
            return watch.result(False, f"TLS error: cannot load {self.ca_file}: {exc.strerror}")
        try:
            async with asyncio.timeout(timeout):
                _, writer = await asyncio.open_connection(
                    self.host,
                    self.port,
                    ssl=context,
                    server_hostname=self.server_name or self.host,
                    local_addr=None if self.source is None else (self.source, 0),
                )
        except TimeoutError:
            return watch.result(False, describe_timeout(timeout))
        except ssl.SSLError as exc:
            return watch.result(False, describe_tls_error(exc))
        except OSError as exc:
            return watch.socket_error(exc)
        try:
            der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        finally:
            writer.close()
        if der is None:
            return watch.result(False, "TLS error: the peer sent no certificate")
        try:
            not_after = x509.load_der_x509_certificate(der).not_valid_after_utc
        except ValueError as exc:
            return watch.result(False, f"TLS error: unreadable certificate: {exc}")
        ok, reason = self._judge((not_after.timestamp() - time.time()) / _DAY)
        return watch.result(ok, reason)

    def _judge(self, days_left: float) -> tuple[bool, str]:
        if days_left < 0:
            return False, f"certificate expired {-days_left:.1f} days ago"
        if days_left < self.min_days_valid:
            return (
                False,
                f"certificate expires in {days_left:.1f} days, below {self.min_days_valid:g}",
            )
        return True, f"certificate valid for {days_left:.1f} more days"


@functools.cache
def _context(verify: bool, ca_file: str | None) -> ssl.SSLContext:
    """Build a client context once per setting: loading a trust store costs milliseconds,
    too much to repeat for every probe of thousands of checks."""
    if not verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=ca_file)
