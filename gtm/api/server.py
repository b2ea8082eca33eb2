"""Serving the API on a socket, with a handle to learn the bound port and to stop it.

Connections are admitted by :mod:`gtm.api.admission` before aiohttp sees them, within caps
derived from the descriptor budget unless ``api.limits`` sets them. Access logging is off:
one log line per resolve would cost more than the resolve itself, and the API's own errors
are logged where they happen.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from aiohttp import web

from gtm.api.admission import Admission, QuietRequestHandler
from gtm.config.limits import ApiLimits, descriptor_budget
from gtm.errors import ConfigError
from gtm.logs import guard_loggers

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT = 5.0
"""Seconds in-flight requests get to finish on close; long polls are answered at once."""


class ApiServer:
    """A running API server.

    Args:
        runner: The runner serving the application.
        port: The port it listens on.
        admission: Who is let in, and how many are in.
    """

    def __init__(self, runner: web.AppRunner, port: int, admission: Admission) -> None:
        self._runner = runner
        self._closed = False
        self.port = port
        self.admission = admission

    async def close(self) -> None:
        """Stop listening, answer pending long polls, and release the application.

        Closing again does nothing, so a caller and a finaliser may both close.
        """
        if self._closed:
            return
        self._closed = True
        await self._runner.cleanup()


class _AdmittingSite(web.TCPSite):
    """A TCP site whose connections pass :class:`Admission` before aiohttp handles them."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, admission: Admission) -> None:
        super().__init__(runner, host, port)
        self.admission = admission

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self.admission.gate, self._host, self._port, backlog=self._backlog
        )


async def start_api(
    app: web.Application,
    host: str,
    port: int,
    *,
    shutdown_timeout: float = SHUTDOWN_TIMEOUT,
    limits: ApiLimits | None = None,
) -> ApiServer:
    """Serve ``app`` on ``host``:``port`` (port 0 picks a free one).

    Args:
        app: The application from :func:`gtm.api.app.make_app`.
        host: Address to listen on.
        port: Port to listen on; 0 lets the system choose, see :attr:`ApiServer.port`.
        shutdown_timeout: Seconds in-flight requests get to finish on close.
        limits: Connection caps and timeouts (``api.limits``); unset caps are derived
            from the open-file limit as it is now.

    Raises:
        ConfigError: The address cannot be listened on (in use, not local, not allowed).
    """
    guard_loggers()
    limits = limits or ApiLimits()
    budget = descriptor_budget()
    total, per_client = limits.caps(budget)
    if total > budget.serving:
        log.warning(
            "api: api.limits.max_connections is %d, more than the %d descriptors left after "
            "the %d kept for probes and the store (open-file limit %d); clients could starve "
            "the probes",
            total,
            budget.serving,
            budget.reserve,
            budget.descriptors,
        )
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    assert runner.server is not None
    handler = partial(
        QuietRequestHandler,
        runner.server,
        loop=asyncio.get_running_loop(),
        access_log=None,  # type: ignore[arg-type]  # None turns it off, as in AppRunner
        keepalive_timeout=limits.idle_timeout,
    )
    admission = Admission(total, per_client, limits.header_timeout, handler)
    try:
        await _AdmittingSite(runner, host, port, admission).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"api: cannot listen on {host}:{port}: {exc.strerror}") from exc
    except BaseException:
        await runner.cleanup()
        raise
    return ApiServer(runner, runner.addresses[0][1], admission)
