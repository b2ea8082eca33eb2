"""A real HAProxy in the foreground, laid out for gtm, for tests, benchmarks and examples.

It serves one frontend per backend on 127.0.0.1 and starts every server at weight 1 with
no health checks: gtm owns health, so what reaches each site is decided by the weights and
states gtm sets through the runtime API, and by nothing else.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Literal

from gtm.demo.ports import free_port
from gtm.demo.sites import die_with_parent

SEARCH = ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy")
"""Where HAProxy is installed when ``sbin`` is not on ``PATH`` (Debian: /usr/sbin)."""

SUN_PATH_MAX = 107
"""Longest unix socket path Linux accepts (108 bytes with the terminating NUL)."""

LOG_TAIL = 20
"""Lines of HAProxy's output quoted when it fails to start."""


def find_haproxy() -> str | None:
    """The haproxy executable on ``PATH`` or in an ``sbin``; None when not installed."""
    found = shutil.which("haproxy")
    if found:
        return found
    return next((path for path in SEARCH if os.access(path, os.X_OK)), None)


class HaproxyServer:
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
        self.workdir = workdir
        self.backends = {name: list(servers) for name, servers in backends.items()}
        given = frontends or {}
        self.frontends = {name: given.get(name) or free_port() for name in self.backends}
        self.executable = executable or find_haproxy()
        self._unix = workdir / "admin.sock" if stats_socket == "unix" else None
        self._tcp_port = free_port() if stats_socket == "tcp" else 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def socket(self) -> str:
        """The runtime API as the provider's config names it: ``unix:/path`` or ``host:port``."""
        if self._unix is not None:
            return f"unix:{self._unix}"
        return f"127.0.0.1:{self._tcp_port}"

    @property
    def pid(self) -> int | None:
        """The process id while running (after ``start``, before ``stop``)."""
        return self._process.pid if self._process is not None else None

    @property
    def alive(self) -> bool:
        """Whether the process is running."""
        return self._process is not None and self._process.poll() is None

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

    def start(self, timeout: float = 30.0) -> None:
        """Write the config, run ``haproxy -db`` and wait until the runtime API answers.

        Raises:
            RuntimeError: HAProxy is missing, exited, or did not answer within
                ``timeout``; the message quotes the end of its output.
        """
        if self.alive:
            return
        if self.executable is None:
            raise RuntimeError("haproxy: not installed (Debian package haproxy)")
        if self._unix is not None and len(os.fsencode(self._unix)) > SUN_PATH_MAX:
            raise RuntimeError(
                f"haproxy: stats socket path {self._unix} is longer than {SUN_PATH_MAX} "
                "bytes; use a shorter workdir or stats_socket='tcp'"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config())
        self._log = self.log_path.open("wb")
        try:
            self._process = subprocess.Popen(
                [self.executable, "-f", str(self.config_path), "-db"],
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        """Ask the runtime API for ``show info`` until this HAProxy answers, by its pid.

        Any failure on the way (the socket not there yet, refused, reset, a partial
        answer) means "not ready yet", until ``timeout``.
        """
        assert self._process is not None
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if not self.alive:
                code = self._process.wait()
                raise RuntimeError(f"haproxy: exited with status {code}: {self._tail()}")
            try:
                answer = self.command("show info", timeout=1.0)
            except OSError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                # The pid tells this HAProxy from any other answering on the same address.
                if answer.startswith("Name: HAProxy") and f"\nPid: {self.pid}\n" in answer:
                    return
                last = f"answer {answer[:80]!r}"
            time.sleep(0.05)
        raise RuntimeError(
            f"haproxy: runtime API {self.socket} did not answer within {timeout:g} s "
            f"(last: {last}): {self._tail()}"
        )

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

    def kill(self) -> None:
        """SIGKILL the process, as a crashed load balancer would vanish."""
        if self._process is not None and self.alive:
            os.kill(self._process.pid, signal.SIGKILL)
            self._process.wait()

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 5 s); safe to call twice."""
        if self._process is not None:
            if self.alive:
                os.kill(self._process.pid, signal.SIGTERM)
                try:
                    self._process.wait(5)
                except subprocess.TimeoutExpired:
                    self.kill()
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def _tail(self) -> str:
        with contextlib.suppress(OSError):
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
            return " | ".join(lines[-LOG_TAIL:]) or "(no output)"
        return "(no output)"

    def __enter__(self) -> HaproxyServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
