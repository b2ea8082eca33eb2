"""NOTIFY (RFC 1996) to the zone's secondaries, so they fetch each new version at once.

Without it a secondary only looks for a new serial at the SOA's refresh interval (an
hour); with it, a move reaches every secondary within one round trip and an IXFR.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.tsig
from dns.rdatatype import RdataType

from gtm.core.model import Mapping
from gtm.dns.answers import MappingSource, ZoneAnswers
from gtm.logs import throttle

log = logging.getLogger(__name__)
throttle(log)

FIRST_TIMEOUT = 1.0
"""Seconds to wait for the first answer to a NOTIFY; each retry waits twice as long."""
ATTEMPTS = 5
"""NOTIFY messages sent for one round before the secondary is given up on until the next
change (it still finds the serial at its SOA refresh)."""


class Notifier:
    """Sends NOTIFY for the zone of ``answers`` to every target after each change.

    Each target has its own sender, so a secondary that does not answer delays no other.
    Changes that come while a NOTIFY is on its way are folded into one more NOTIFY, sent
    once the first is answered or given up: a secondary that fetches after a NOTIFY gets
    every version up to then, so one message per burst of changes is enough. A NOTIFY is
    also sent when the notifier starts, so secondaries learn the serial of a restarted gtm.
    """

    def __init__(
        self,
        answers: ZoneAnswers,
        source: MappingSource,
        targets: Sequence[tuple[str, int]],
        *,
        key: dns.tsig.Key | None = None,
        first_timeout: float = FIRST_TIMEOUT,
        attempts: int = ATTEMPTS,
    ) -> None:
        """Prepare; nothing is sent until :meth:`start`.

        Args:
            answers: The zone: its origin, serial and SOA.
            source: The mappings whose changes make new zone versions.
            targets: Secondaries' addresses and ports.
            key: TSIG key to sign NOTIFY messages with; None: unsigned.
            first_timeout: Seconds to wait for the first answer; doubled on each retry.
            attempts: NOTIFY messages sent per round before giving up on a target.
        """
        self._answers = answers
        self._source = source
        self._targets = tuple(targets)
        self._key = key
        self._first_timeout = first_timeout
        self._attempts = attempts
        self._wanted = [asyncio.Event() for _ in self._targets]
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: Callable[[], None] | None = None
        self.sent = 0
        """NOTIFY messages answered by a secondary, for tests and status."""

    async def start(self) -> None:
        """Follow the source's changes and notify every target once now."""
        self._unsubscribe = self._source.subscribe(self._changed)
        for index, (host, port) in enumerate(self._targets):
            self._wanted[index].set()
            self._tasks.append(
                asyncio.create_task(self._send(index), name=f"dns-notify-{host}:{port}")
            )

    async def close(self) -> None:
        """Stop following changes and sending."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def _changed(self, mapping: Mapping) -> None:
        for wanted in self._wanted:
            wanted.set()

    async def _send(self, index: int) -> None:
        host, port = self._targets[index]
        wanted = self._wanted[index]
        while True:
            await wanted.wait()
            wanted.clear()
            serial = self._answers.serial
            failure = await self._notify(host, port)
            if failure is None:
                self.sent += 1
                log.debug("dns: NOTIFY of serial %d answered by %s:%d", serial, host, port)
            else:
                log.warning(
                    "dns: NOTIFY of %s serial %d to %s:%d given up after %d attempt(s): %s; "
                    "it will still find the serial at its SOA refresh",
                    self._answers.origin,
                    serial,
                    host,
                    port,
                    self._attempts,
                    failure,
                )

    async def _notify(self, host: str, port: int) -> str | None:
        """Send NOTIFY until ``host`` answers it; None once it did, else the last failure."""
        timeout = self._first_timeout
        failure = "no attempt"
        for _ in range(self._attempts):
            message = self._message()
            try:
                answer = await dns.asyncquery.udp(message, host, timeout=timeout, port=port)
            except (dns.exception.DNSException, OSError, EOFError) as exc:
                failure = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if answer.rcode() == dns.rcode.NOERROR:
                    return None
                # A secondary that refuses will refuse again: no point in retrying.
                return f"answered {dns.rcode.to_text(answer.rcode())}"
            timeout *= 2
        return failure

    def _message(self) -> dns.message.Message:
        """A NOTIFY for the zone with the SOA as it is now (RFC 1996 section 3.7)."""
        message = dns.message.make_query(self._answers.origin, RdataType.SOA, flags=dns.flags.AA)
        message.set_opcode(dns.opcode.NOTIFY)
        message.answer.append(self._answers.apex[RdataType.SOA])
        if self._key is not None:
            message.use_tsig(self._key)
        return message
