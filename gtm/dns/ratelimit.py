"""Response-rate limiting over UDP: a budget per client network, with slip to TCP.

A UDP query's source address can be forged, so a responder whose answers are larger than
the questions (an SRV answer can be twenty times the query) is a tool for flooding
whoever the forged address belongs to. Each client network (a /24 for IPv4, a /56 for
IPv6, unless configured) gets a budget of answers per second; over it, answers are
dropped, except every ``slip``-th, which goes out empty with the truncation bit set so a
real client behind the flood retries over TCP, where a forged source cannot follow.
Whether an answer fits is decided by :func:`gtm.core.ratelimit.limit`; this module keys
the buckets by network and builds the truncated answer.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from gtm.config.limits import DnsRateLimit
from gtm.core.ratelimit import Bucket, RateLimit, Verdict, is_full, limit

_V4_MAPPED = bytes(10) + b"\xff\xff"
"""How an IPv4 address looks inside an IPv6 one (``::ffff:192.0.2.1``)."""
_QUERY_OPCODE = 0
_HEADER = 12


class ResponseLimiter:
    """Buckets of answers per client network, and the verdict on each new answer.

    Args:
        config: The ``dns.rate_limit`` section (prefix lengths, table size).
        budget: Each network's budget (``config.budget()``).
        clock: Monotonic seconds.
    """

    def __init__(self, config: DnsRateLimit, budget: RateLimit, clock: Callable[[], float]) -> None:
        self._budget = budget
        self._clock = clock
        self._v4_shift = 32 - config.ipv4_prefix
        self._v6_shift = 128 - config.ipv6_prefix
        self._max = config.max_clients
        self._buckets: dict[tuple[int, int], Bucket] = {}
        self.dropped = 0
        """Answers not sent since start."""
        self.truncated = 0
        """Answers sent empty with TC=1 since start."""

    def verdict(self, host: str) -> Verdict:
        """What to do with one answer to ``host``, counting it against its network."""
        key = self.network(host)
        now = self._clock()
        verdict, bucket = limit(self._buckets.get(key), self._budget, now)
        self._buckets[key] = bucket
        if verdict is Verdict.DROP:
            self.dropped += 1
        elif verdict is Verdict.TRUNCATE:
            self.truncated += 1
        if len(self._buckets) > self._max:
            self._forget(now)
        return verdict

    def network(self, host: str) -> tuple[int, int]:
        """The network ``host`` counts in: its address family and leading bits."""
        if ":" not in host:
            return 4, int.from_bytes(socket.inet_aton(host), "big") >> self._v4_shift
        packed = socket.inet_pton(socket.AF_INET6, host.partition("%")[0])
        if packed.startswith(_V4_MAPPED):
            return 4, int.from_bytes(packed[12:], "big") >> self._v4_shift
        return 6, int.from_bytes(packed, "big") >> self._v6_shift

    @property
    def networks(self) -> int:
        """Networks tracked now."""
        return len(self._buckets)

    def _forget(self, now: float) -> None:
        """Make room: networks whose budget refilled go first, then the earliest seen."""
        for key in [k for k, bucket in self._buckets.items() if is_full(bucket, self._budget, now)]:
            del self._buckets[key]
        excess = len(self._buckets) - self._max * 9 // 10
        for key in list(self._buckets)[: max(0, excess)]:
            del self._buckets[key]


def truncated_answer(query: bytes) -> bytes | None:
    """An empty answer to ``query`` with the truncation bit set; None when it is no query.

    Only the header and the question are sent back: enough for the client to see it must
    ask again over TCP, and never larger than what it sent.
    """
    if len(query) < _HEADER or query[2] & 0x80 or (query[2] >> 3) & 0xF != _QUERY_OPCODE:
        return None
    if query[4:6] != b"\x00\x01":
        return None
    end = _HEADER
    while end < len(query):
        length = query[end]
        if length == 0:
            break
        if length & 0xC0:
            return None  # a compressed name has no place in a question
        end += 1 + length
    else:
        return None
    end += 5  # the root label, then type and class
    if end > len(query):
        return None
    # QR, AA and TC set, the opcode and RD kept; RA, AD, CD and the code cleared.
    flags = bytes([0x80 | 0x04 | 0x02 | (query[2] & 0x79), 0])
    return query[:2] + flags + b"\x00\x01" + bytes(6) + query[_HEADER:end]
