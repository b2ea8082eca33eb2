"""A real HAProxy in the foreground, laid out for gtm, for tests, benchmarks and examples.

It serves one frontend per backend on 127.0.0.1 and starts every server at weight 1 with
no health checks: gtm owns health, so what reaches each site is decided by the weights and
states gtm sets through the runtime API, and by nothing else.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import Literal

from testbed.ports import free_port
from testbed.process import ManagedProcess

SEARCH = ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy")
"""Where HAProxy is installed when ``sbin`` is not on ``PATH`` (Debian: /usr/sbin)."""

SUN_PATH_MAX = 107
"""Longest unix socket path Linux accepts (108 bytes with the terminating NUL)."""


def find_haproxy() -> str | None:
    """The haproxy executable on ``PATH`` or in an ``sbin``; None when not installed."""
    found = shutil.which("haproxy")
    if found:
        return found
    return next((path for path in SEARCH if os.access(path, os.X_OK)), None)


class HaproxyServer(ManagedProcess):
    """One HAProxy process with a frontend, a backend and servers per backend.

    Args:
        workdir: Where ``haproxy.cfg``, its output (``haproxy.log``) and the unix stats
            socket go.
        backends: Backend name -> its servers as ``(name, address, port)``.
        frontends: Backend name -> the port its frontend listens on at 127.0.0.1;
            backends left out get a free port.
        stats_socket: ``unix`` for ``workdir/admin.sock``, ``tcp`` for a free port on
            127.0.0.1; either at level admin.
        executable: The haproxy binary; default: :func:`find_haproxy`.
    """

    def __init__(
        self,
        workdir: Path,
        backends: dict[str, list[tuple[str, str, int]]],
        *,
        frontends: dict[str, int] | None = None,
        stats_socket: Literal["unix", "tcp"] = "unix",
        executable: str | None = None,
    ) -> None:
        super().__init__()
        self.workdir = workdir
        self.backends = {name: list(servers) for name, servers in backends.items()}
        given = frontends or {}
        # HAProxy binds with SO_REUSEPORT, so two of its own listeners on one port both
        # start and share the connections: every port it is given must be distinct.
        taken = set(given.values())
        self.frontends = {name: given.get(name) or _distinct(taken) for name in self.backends}
        self.executable = executable or find_haproxy()
        self._unix = workdir / "admin.sock" if stats_socket == "unix" else None
        self._tcp_port = _distinct(taken) if stats_socket == "tcp" else 0

    @property
    def socket(self) -> str:
        """The runtime API as the provider's config names it: ``unix:/path`` or ``host:port``."""
        if self._unix is not None:
            return f"unix:{self._unix}"
        return f"127.0.0.1:{self._tcp_port}"

    @property
    def config_path(self) -> Path:
        """Where ``start`` writes ``haproxy.cfg``."""
        return self.workdir / "haproxy.cfg"

    @property
    def log_path(self) -> Path:
        """Where HAProxy's own output (warnings, alerts) goes."""
        return self.workdir / "haproxy.log"

    def frontend_port(self, backend: str) -> int:
        """The port on 127.0.0.1 where ``backend``'s frontend listens."""
        return self.frontends[backend]

    def config(self) -> str:
        """The ``haproxy.cfg`` text ``start`` writes."""
        if self._unix is not None:
            stats = f"stats socket {self._unix} mode 600 level admin"
        else:
            stats = f"stats socket ipv4@127.0.0.1:{self._tcp_port} level admin"
        lines = [
            "global",
            f"    {stats}",
            "    stats timeout 30s",
            "",
            "defaults",
            "    mode http",
            # A request caught on a server that just died is retried once on another
            # server instead of waiting out the connect timeout.
            "    retries 1",
            "    option redispatch",
            "    timeout connect 2s",
            "    timeout client 30s",
            "    timeout server 30s",
        ]
        for backend, servers in self.backends.items():
            lines += [
                "",
                f"frontend fe-{backend}",
                f"    bind 127.0.0.1:{self.frontends[backend]}",
                f"    default_backend {backend}",
                "",
                f"backend {backend}",
                "    balance roundrobin",
            ]
            # No "check": gtm probes the sites and tells HAProxy by weight and state.
            lines += [f"    server {name} {host}:{port} weight 1" for name, host, port in servers]
        return "\n".join(lines) + "\n"

    def describe(self) -> str:
        """``haproxy``, as error messages start."""
        return "haproxy"

    def _prepare(self) -> list[str]:
        """Write ``haproxy.cfg``; HAProxy in the foreground (``-db``) on it."""
        if self.executable is None:
            raise RuntimeError("haproxy: not installed (Debian package haproxy)")
        if self._unix is not None and len(os.fsencode(self._unix)) > SUN_PATH_MAX:
            raise RuntimeError(
                f"haproxy: stats socket path {self._unix} is longer than {SUN_PATH_MAX} "
                "bytes; use a shorter workdir or stats_socket='tcp'"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config())
        return [self.executable, "-f", str(self.config_path), "-db"]

    def _probe(self) -> str | None:
        """Ask the runtime API for ``show info``; None once this HAProxy answers, by its pid.

        Any failure on the way (the socket not there yet, refused, reset, a partial
        answer) means "not ready yet".
        """
        try:
            answer = self.command("show info", timeout=1.0)
        except OSError as exc:
            return f"{type(exc).__name__}: {exc}"
        # The pid tells this HAProxy from any other answering on the same address.
        if answer.startswith("Name: HAProxy") and f"\nPid: {self.pid}\n" in answer:
            return None
        return f"answer {answer[:80]!r}"

    def command(self, line: str, timeout: float = 5.0) -> str:
        """Send one command line (``a;b`` for several) and return HAProxy's whole answer.

        Raises:
            OSError: The runtime API is unreachable.
        """
        target: str | tuple[str, int]
        if self._unix is not None:
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target = str(self._unix)
        else:
            conn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            target = ("127.0.0.1", self._tcp_port)
        with conn:
            conn.settimeout(timeout)
            conn.connect(target)
            conn.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")


def _distinct(taken: set[int]) -> int:
    """A free port not in ``taken``, which it joins."""
    port = free_port()
    while port in taken:
        port = free_port()
    taken.add(port)
    return port
