"""Free loopback ports, chosen by the kernel, for everything the tests, benchmarks and examples
start: nothing they run may depend on a fixed port being free on the machine.

A port found free is released before the caller's server binds it, so another process can
in principle take it in between; asking the kernel for an ephemeral port keeps that rare,
and every launcher reports a port it could not bind with the server's own message.
"""

from __future__ import annotations

import copy
import socket
from typing import Any

ATTEMPTS = 200
"""Kernel picks tried before giving up (a pick fails when the port is taken elsewhere)."""


def free_port(*addresses: str, udp: bool = False) -> int:
    """A TCP port free right now on every one of ``addresses`` (default ``127.0.0.1``).

    The kernel picks a port on the first address; it is kept only if it can be bound on
    the others too, and, with ``udp``, for UDP on every address as well (a DNS server
    needs both).

    Raises:
        RuntimeError: No port was free on all the addresses after :data:`ATTEMPTS` picks.
    """
    where = addresses or ("127.0.0.1",)
    for _ in range(ATTEMPTS):
        # The pick stays bound while the other addresses are tried, so the kernel cannot
        # hand the same port to someone else meanwhile.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as pick:
            pick.bind((where[0], 0))
            port = int(pick.getsockname()[1])
            tcp = all(_bindable(address, port, socket.SOCK_STREAM) for address in where[1:])
            if tcp and (not udp or all(_bindable(a, port, socket.SOCK_DGRAM) for a in where)):
                return port
    raise RuntimeError(f"ports: no port is free on all of {', '.join(where)} (udp={udp})")


def free_ports(count: int, *addresses: str, udp: bool = False) -> list[int]:
    """``count`` distinct ports, each free as :func:`free_port` says."""
    chosen: list[int] = []
    while len(chosen) < count:
        port = free_port(*addresses, udp=udp)
        if port not in chosen:
            chosen.append(port)
    return chosen


def _bindable(address: str, port: int, kind: socket.SocketKind) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind((address, port))
        except OSError:
            return False
        return True


def with_free_ports(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of a config document that depends on no fixed port being free.

    gtm's DNS responder and API listen on port 0 (the kernel picks when they bind; the
    runtime reports the ports), and each service gets one free port for all its
    locators, free on every one of their addresses and distinct from the other services'.
    """
    result = copy.deepcopy(doc)
    for section in ("dns", "api"):
        part = result.setdefault(section, {})
        host = str(part.get("listen", "127.0.0.1:0")).rpartition(":")[0] or "127.0.0.1"
        part["listen"] = f"{host}:0"
    taken: set[int] = set()
    for spec in result["services"].values():
        addresses = sorted({str(locator["address"]) for locator in spec["locators"]})
        port = free_port(*addresses)
        while port in taken:
            port = free_port(*addresses)
        taken.add(port)
        for locator in spec["locators"]:
            locator["port"] = port
    return result
