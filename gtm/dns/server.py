"""The DNS responder's sockets: UDP and TCP on one port, feeding bytes to ZoneAnswers.

Everything a query means is decided in :mod:`gtm.dns.answers`; this module only moves
bytes, frames TCP messages and bounds what a client can hold open: TCP connections in all
and per client address, within the descriptor budget unless ``dns.limits`` sets them,
and, when ``dns.rate_limit`` is on, answers per second over UDP per client network
(:mod:`gtm.dns.ratelimit`). Every answer sent is counted by query type and response code
(:class:`gtm.metrics.DnsCounts`), from its bytes.

UDP does not go through asyncio's datagram transport: it handles one datagram per turn of
the event loop, which measured about five times the CPU per query of reading a batch of
datagrams on each wake-up (45 µs against 9 µs on the benchmark machine,
``benchmarks/dnsload.py``), leaving it below the 30,000 queries/s goal.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time
from collections.abc import Callable

import dns.rdata

from gtm.config.limits import DnsLimits, DnsRateLimit, descriptor_budget
from gtm.core.ratelimit import Verdict
from gtm.dns.answers import EDNS_PAYLOAD, ZoneAnswers
from gtm.dns.ratelimit import ResponseLimiter, truncated_answer
from gtm.dns.transfer import ZoneTransfers, transfer_type
from gtm.logs import guard_loggers, throttle
from gtm.metrics import DnsCounts

log = logging.getLogger(__name__)
throttle(log)

BIND_ATTEMPTS = 20
"""Tries at finding a free port for both protocols when asked for port 0."""

UDP_BATCH = 64
"""Datagrams answered per wake-up before other callbacks of the loop get their turn."""
UDP_BATCH_SECONDS = 0.01
"""And the time a wake-up may take: answers built afresh (every name just moved) cost a
millisecond or more each, and 64 of them would hold the loop past its lag bound."""
UDP_RECEIVE_BUFFER = 4 << 20
"""Bytes of queries the kernel may hold for the UDP socket (capped by
``net.core.rmem_max``): a burst of questions, all resolvers asking for the names a lost
site moved, waits here instead of being dropped, and with it a secondary's SOA query,
whose loss makes the secondary wait seconds before it asks again."""


class _UdpEndpoint:
    """A non-blocking UDP socket answered from the event loop, a batch per wake-up.

    An answer the socket cannot take at once is dropped rather than queued: that is what
    a full network would do to it too, and the client asks again.
    """

    def __init__(
        self,
        sock: socket.socket,
        answers: ZoneAnswers,
        payload: int,
        limiter: ResponseLimiter | None,
        counts: DnsCounts,
    ) -> None:
        self._sock = sock
        self._respond = answers.respond
        self._payload = payload
        self._limiter = limiter
        self._count = counts.count

    def readable(self) -> None:
        """Answer the datagrams waiting, up to a batch."""
        recvfrom = self._sock.recvfrom
        sendto = self._sock.sendto
        respond = self._respond
        payload = self._payload
        limiter = self._limiter
        count = self._count
        deadline = time.monotonic() + UDP_BATCH_SECONDS
        for _ in range(UDP_BATCH):
            if time.monotonic() > deadline:
                return  # the rest wait for the next turn: the socket is still readable
            try:
                data, addr = recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # an error queued on the socket by an earlier datagram
            if limiter is None:
                answer = respond(data, max_udp=payload)
            else:
                verdict = limiter.verdict(addr[0])
                if verdict is Verdict.ANSWER:
                    answer = respond(data, max_udp=payload)
                elif verdict is Verdict.TRUNCATE:
                    answer = truncated_answer(data)
                else:
                    continue
            if answer is not None:
                count(answer)
                # Not contextlib.suppress: this runs for every query.
                try:  # noqa: SIM105
                    sendto(answer, addr)
                except OSError:
                    pass  # a full buffer or an unreachable client: the answer is lost


class DnsServer:
    """Serves a zone's answers over UDP and TCP on one address and port.

    TCP connections carry several length-prefixed queries each, answered in order; a
    connection idle for ``limits.tcp_idle_timeout`` is closed, and connections beyond
    ``limits.max_tcp_connections``, or beyond ``limits.max_tcp_connections_per_client``
    from one address, are closed as soon as they are accepted. The server does not own
    ``answers``: whoever created it closes it.
    """

    def __init__(
        self,
        answers: ZoneAnswers,
        *,
        udp_payload: int = EDNS_PAYLOAD,
        limits: DnsLimits | None = None,
        rate_limit: DnsRateLimit | None = None,
        clock: Callable[[], float] = time.monotonic,
        counts: DnsCounts | None = None,
        transfers: ZoneTransfers | None = None,
    ) -> None:
        """Prepare a server; nothing listens until :meth:`start`.

        Args:
            answers: What to answer.
            udp_payload: Largest UDP answer we send, whatever the client advertises.
            limits: TCP connection caps and idle timeout (``dns.limits``); unset caps
                are derived from the open-file limit when the server starts.
            rate_limit: Response-rate limiting over UDP (``dns.rate_limit``); off unless
                it sets a rate.
            clock: Monotonic seconds, for the rate limit's buckets.
            counts: Where answers are counted by type and rcode; its own unless given.
            transfers: Who answers AXFR and IXFR over TCP; None: they are refused.
        """
        self.counts = counts if counts is not None else DnsCounts()
        self._answers = answers
        self._transfers = transfers
        self._udp_payload = udp_payload
        self._limits = limits or DnsLimits()
        self._idle = self._limits.tcp_idle_timeout
        self._max_tcp = 0
        self._max_per_client = 0
        self._per_client: dict[str, int] = {}
        self.limiter: ResponseLimiter | None = None
        """The UDP response-rate limiter; None when rate limiting is off."""
        if rate_limit is not None and (budget := rate_limit.budget()) is not None:
            self.limiter = ResponseLimiter(rate_limit, budget, clock)
        self._udp: socket.socket | None = None
        self._tcp: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The port both protocols listen on (the one chosen when started with 0)."""
        if self._port is None:
            raise RuntimeError("dns: server not started")
        return self._port

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host``:``port`` over TCP and UDP.

        With port 0 the system picks a free TCP port and UDP takes the same number; when
        UDP finds that number taken the pair is given up and another one tried.

        Args:
            host: An IP address to listen on.
            port: A port number, or 0 for any free one.

        Raises:
            OSError: A socket could not be bound (after every attempt, for port 0).
        """
        guard_loggers()
        # dnspython imports the code of a record type the first time it meets one; an
        # import needs descriptors, which a flood may have taken. Load them all now.
        dns.rdata.load_all_types()  # type: ignore[no-untyped-call]
        self._cap_connections()
        loop = asyncio.get_running_loop()
        for attempt in range(1, BIND_ATTEMPTS + 1):
            tcp = await asyncio.start_server(self._serve_tcp, host, port)
            bound = tcp.sockets[0].getsockname()[1]
            try:
                udp = _bind_udp(host, bound)
            except OSError as exc:
                tcp.close()
                await tcp.wait_closed()
                if port != 0 or exc.errno != errno.EADDRINUSE or attempt == BIND_ATTEMPTS:
                    raise
                continue
            endpoint = _UdpEndpoint(
                udp, self._answers, self._udp_payload, self.limiter, self.counts
            )
            loop.add_reader(udp, endpoint.readable)
            self._tcp, self._udp, self._port = tcp, udp, bound
            log.info("dns: serving %s on %s port %d (udp, tcp)", self._answers.origin, host, bound)
            return

    def _cap_connections(self) -> None:
        budget = descriptor_budget()
        self._max_tcp, self._max_per_client = self._limits.caps(budget)
        if self._max_tcp > budget.serving:
            log.warning(
                "dns: dns.limits.max_tcp_connections is %d, more than the %d descriptors left "
                "after the %d kept for probes and the store (open-file limit %d)",
                self._max_tcp,
                budget.serving,
                budget.reserve,
                budget.descriptors,
            )

    async def close(self) -> None:
        """Stop listening and drop open TCP connections."""
        if self._udp is not None:
            asyncio.get_running_loop().remove_reader(self._udp)
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            # Closing each connection ends its task as a client leaving would. Cancelling
            # the tasks instead makes asyncio (3.11) log a traceback for each of them.
            for writer in self._connections.values():
                writer.close()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._tcp.wait_closed()
            self._tcp = None

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        peer = writer.get_extra_info("peername")
        client = str(peer[0]) if peer else ""
        held = self._per_client.get(client, 0)
        if len(self._connections) >= self._max_tcp or held >= self._max_per_client:
            log.warning(
                "dns: TCP connection from %s refused: %d open in all, %d from it "
                "(dns.limits: max_tcp_connections %d, max_tcp_connections_per_client %d)",
                client,
                len(self._connections),
                held,
                self._max_tcp,
                self._max_per_client,
            )
            writer.close()
            return
        self._connections[task] = writer
        self._per_client[client] = held + 1
        try:
            await self._exchange(reader, writer, client)
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            pass  # the client left, broke framing or went quiet: the connection ends
        finally:
            del self._connections[task]
            left = self._per_client.pop(client) - 1
            if left:
                self._per_client[client] = left
            writer.close()

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client: str
    ) -> None:
        """Answer queries on one connection until it ends or sends something unanswerable."""
        while True:
            async with asyncio.timeout(self._idle):
                prefix = await reader.readexactly(2)
                wire = await reader.readexactly(int.from_bytes(prefix, "big"))
            if self._transfers is not None and transfer_type(wire) is not None:
                messages = await self._transfers.respond(wire, client)
                self.counts.count(messages[0])
                writer.writelines(len(m).to_bytes(2, "big") + m for m in messages)
                async with asyncio.timeout(self._idle):
                    await writer.drain()
                continue
            answer = self._answers.respond(wire, max_udp=None)
            if answer is None:
                return
            self.counts.count(answer)
            writer.write(len(answer).to_bytes(2, "big") + answer)
            async with asyncio.timeout(self._idle):
                await writer.drain()


def _bind_udp(host: str, port: int) -> socket.socket:
    """A non-blocking UDP socket bound to ``host``:``port``."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock
