"""How gtm shares its file descriptors: what the API and DNS over TCP may hold, what is kept back.

Probes, the store and the DNS responder's UDP socket need descriptors too, and a probe that
cannot open a socket would judge a healthy site down. So clients of the API and of DNS over
TCP get at most what is left after a reserve, whatever they send, and each client at most a
share of that, so one client cannot crowd out the others.
"""

from __future__ import annotations

from dataclasses import dataclass

RESERVE_MIN = 256
"""Descriptors always kept for probes, the store, logs and listening sockets."""
RESERVE_SHARE = 4
"""Beyond the minimum, a quarter of the budget is kept back."""
API_MAX = 4096
"""Most API connections by default, however many descriptors there are."""
DNS_TCP_MAX = 256
"""Most DNS-over-TCP connections by default, however many descriptors there are."""
API_PER_CLIENT_SHARE = 4
"""By default one client address may hold a quarter of the API's connections (the config
applies it to the cap, derived or set)."""
DNS_PER_CLIENT_SHARE = 16
"""By default one client address may hold a sixteenth of the DNS-over-TCP connections."""


@dataclass(frozen=True, slots=True)
class Budget:
    """Connection caps that together leave the reserve free.

    Attributes:
        descriptors: The descriptor limit they were derived from.
        reserve: Descriptors kept back for everything but client connections.
        api: API connections at once.
        dns_tcp: DNS-over-TCP connections at once.
    """

    descriptors: int
    reserve: int
    api: int
    dns_tcp: int

    @property
    def serving(self) -> int:
        """Descriptors client connections may take between them without touching the reserve."""
        return self.descriptors - self.reserve


def split(descriptors: int) -> Budget:
    """The default caps for a process allowed ``descriptors`` open files.

    The reserve is the larger of :data:`RESERVE_MIN` and a quarter of the budget (all of a
    tiny budget); two thirds of the rest go to the API and one third to DNS over TCP, each
    capped at its maximum and at least 1.
    """
    reserve = min(descriptors, max(RESERVE_MIN, descriptors // RESERVE_SHARE))
    serving = descriptors - reserve
    api = max(1, min(API_MAX, serving * 2 // 3))
    dns_tcp = max(1, min(DNS_TCP_MAX, serving // 3))
    return Budget(
        descriptors=descriptors,
        reserve=reserve,
        api=api,
        dns_tcp=dns_tcp,
    )
