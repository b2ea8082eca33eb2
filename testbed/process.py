"""A server in a child process, started, waited for and stopped by its PID: what the BIND,
HAProxy and moto launchers (and the benchmarks' gtm) share, so none outlives a test.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

from gtm.demo.sites import die_with_parent

STOP_TIMEOUT = 5.0
"""Longest wait after SIGTERM before the process is killed."""

POLL_S = 0.05
"""Pause between two readiness probes."""

LOG_TAIL = 20
"""Lines of the process's output quoted when it fails to start."""


class ProcessExited(RuntimeError):
    """The process exited before it was ready (a port taken, a bad config)."""


class ManagedProcess:
    """One child process that serves something, with its output in :attr:`log_path`.

    A subclass says what to run (:meth:`_prepare`) and when it is ready (:meth:`_probe`);
    :meth:`start` runs it with :func:`~gtm.demo.sites.die_with_parent`, waits until it is
    ready and, on any failure, stops it and raises with the end of its log. Use it as a
    context manager, or call :meth:`start` and :meth:`stop` (idempotent).
    """

    start_timeout: ClassVar[float] = 30.0
    """Default longest wait for a started process to be ready (a loaded machine is slow)."""

    start_attempts: ClassVar[int] = 1
    """Starts tried when the process exits at once; more than one only when
    :meth:`_prepare` picks fresh ports each time."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The process id while started (after :meth:`start`, before :meth:`stop`)."""
        return self._process.pid if self._process is not None else None

    @property
    def alive(self) -> bool:
        """Whether the process is running."""
        return self._process is not None and self._process.poll() is None

    @property
    def log_path(self) -> Path:
        """Where the process's output (stdout and stderr) goes."""
        raise NotImplementedError

    def describe(self) -> str:
        """What the process is, as error messages start: ``bind: named on 127.0.0.1:5353``."""
        raise NotImplementedError

    def _prepare(self) -> list[str]:
        """Write what the process reads and pick its ports; the command line to run."""
        raise NotImplementedError

    def _probe(self) -> str | None:
        """None once the process is ready; otherwise why not yet (any failure means not yet)."""
        raise NotImplementedError

    def start(self, timeout: float | None = None) -> None:
        """Start the process and wait until it is ready; nothing when already running.

        Args:
            timeout: Longest wait, in seconds; default :attr:`start_timeout`.

        Raises:
            RuntimeError: It could not start, exited (after :attr:`start_attempts` tries) or
                was not ready within ``timeout``; the message ends with its log.
        """
        if self.alive:
            return
        limit = self.start_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        attempt = 0
        while True:
            attempt += 1
            try:
                self._spawn(self._prepare())
                self._wait_ready(deadline, limit)
                return
            except ProcessExited:
                self.stop()
                if attempt >= self.start_attempts or time.monotonic() > deadline:
                    raise
            except BaseException:
                self.stop()
                raise

    def stop(self) -> None:
        """SIGTERM the process, SIGKILL it after :data:`STOP_TIMEOUT`; safe to repeat."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def kill(self) -> None:
        """SIGKILL the process at once, as a crash would."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def log_tail(self, lines: int = LOG_TAIL) -> str:
        """The last ``lines`` lines the process wrote."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no output)"
        return "\n".join(text.strip().splitlines()[-lines:]) or "(no output)"

    def _spawn(self, command: list[str]) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # The child keeps its own descriptor of the log; this one closes at once.
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )

    def _wait_ready(self, deadline: float, limit: float) -> None:
        assert self._process is not None
        while True:
            code = self._process.poll()
            if code is not None:
                raise ProcessExited(
                    f"{self.describe()}: exited with status {code}; log:\n{self.log_tail()}"
                )
            last = self._probe()
            if last is None:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.describe()}: not ready within {limit:g} s (last: {last}); "
                    f"log:\n{self.log_tail()}"
                )
            time.sleep(POLL_S)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
