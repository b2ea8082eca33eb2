"""DNS probe: does a name server answer a query, with the right code and address?"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass

import dns.asyncquery
import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype

from healthchecks.reasons import describe_timeout
from healthchecks.result import Result, Stopwatch

_ADDRESS_TYPES = (dns.rdatatype.A, dns.rdatatype.AAAA)


@dataclass(frozen=True, slots=True)
class DnsProbe:
    """Send one query over UDP and judge the response.

    Attributes:
        server: IP address of the name server (a name would need a resolver, which is
            what may be down).
        qname: Name to ask for.
        port: UDP port of the name server.
        rdtype: Record type to ask for, e.g. ``"A"`` or ``"SOA"``.
        expect_rcode: Response code that counts as healthy, e.g. ``"NOERROR"``.
        expect_address: An address that must be among the A/AAAA records of the answer.
        source: Local address to ask from; None: the system's choice.
    """

    server: str
    qname: str
    port: int = 53
    rdtype: str = "A"
    expect_rcode: str = "NOERROR"
    expect_address: str | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        """Refuse a probe whose server, type, code or address cannot be understood."""
        try:
            ipaddress.ip_address(self.server)
            dns.rdatatype.from_text(self.rdtype)
            dns.rcode.from_text(self.expect_rcode)
            if self.expect_address is not None:
                ipaddress.ip_address(self.expect_address)
        except (ValueError, dns.exception.DNSException) as exc:
            raise ValueError(f"dns probe: {exc}") from exc

    async def probe(self, timeout: float) -> Result:
        """Query the server within ``timeout`` seconds and check the answer.

        Args:
            timeout: Seconds allowed for the answer to arrive.

        Returns:
            The result; a failure names the response code, the missing address or
            the error.
        """
        watch = Stopwatch()
        query = dns.message.make_query(self.qname, self.rdtype)
        try:
            async with asyncio.timeout(timeout):
                response = await dns.asyncquery.udp(
                    query, self.server, port=self.port, source=self.source
                )
        except TimeoutError:
            return watch.result(False, describe_timeout(timeout))
        except OSError as exc:
            return watch.socket_error(exc)
        except dns.exception.DNSException as exc:
            return watch.result(False, f"bad response: {exc}")
        ok, reason = self._judge(response)
        return watch.result(ok, reason)

    def _judge(self, response: dns.message.Message) -> tuple[bool, str]:
        rcode = dns.rcode.to_text(response.rcode())
        if response.rcode() != dns.rcode.from_text(self.expect_rcode):
            return False, f"rcode {rcode}, expected {self.expect_rcode}"
        if self.expect_address is None:
            return True, f"rcode {rcode}"
        wanted = ipaddress.ip_address(self.expect_address)
        found = [
            ipaddress.ip_address(rdata.address)
            for rrset in response.answer
            if rrset.rdtype in _ADDRESS_TYPES
            for rdata in rrset
        ]
        if wanted not in found:
            got = ", ".join(str(address) for address in found) or "no address"
            return False, f"answer lacks {wanted} (got {got})"
        return True, f"rcode {rcode} with {wanted}"
