"""A wake-up of the UDP endpoint answers at most a batch, and stops early once its time is
spent: answers built afresh must not hold the loop past its lag bound."""

from __future__ import annotations

import itertools
import socket
from collections.abc import Iterator

import pytest

from gtm.dns import server
from gtm.metrics import DnsCounts


class EchoAnswers:
    """Answers every datagram with its own bytes, and counts them."""

    def __init__(self) -> None:
        self.answered = 0

    def respond(self, data: bytes, max_udp: int) -> bytes:
        self.answered += 1
        return data


@pytest.fixture
def sockets() -> Iterator[tuple[socket.socket, socket.socket]]:
    served = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    served.bind(("127.0.0.1", 0))
    served.setblocking(False)
    client.bind(("127.0.0.1", 0))
    try:
        yield served, client
    finally:
        served.close()
        client.close()


@pytest.mark.parametrize(
    ("step", "first_wake"),
    [
        pytest.param(0.0, 10, id="quick-answers-all-in-one-wake"),
        # The clock moves 4 ms at each look: two answers fit in the 10 ms of a wake-up.
        pytest.param(0.004, 2, id="slow-answers-stop-when-the-time-is-spent"),
    ],
)
def test_a_wake_up_is_bounded_by_time(
    sockets: tuple[socket.socket, socket.socket],
    monkeypatch: pytest.MonkeyPatch,
    step: float,
    first_wake: int,
) -> None:
    served, client = sockets
    ticks = itertools.count()
    monkeypatch.setattr(server.time, "monotonic", lambda: next(ticks) * step)
    answers = EchoAnswers()
    endpoint = server._UdpEndpoint(served, answers, 512, None, DnsCounts())  # type: ignore[arg-type]
    for n in range(10):
        client.sendto(b"query %d" % n, served.getsockname())

    endpoint.readable()
    assert answers.answered == first_wake
    while answers.answered < 10:
        endpoint.readable()
    assert answers.answered == 10
