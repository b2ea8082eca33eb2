"""Serving the API on a socket, with a handle to learn the bound port and to stop it.

Access logging is off: one log line per resolve would cost more than the resolve itself,
and the API's own errors are logged where they happen.
"""

from __future__ import annotations

from aiohttp import web

from gtm.errors import ConfigError

SHUTDOWN_TIMEOUT = 5.0
"""Seconds in-flight requests get to finish on close; long polls are answered at once."""


class ApiServer:
    """A running API server.

    Args:
        runner: The runner serving the application.
        port: The port it listens on.
    """

    def __init__(self, runner: web.AppRunner, port: int) -> None:
        self._runner = runner
        self._closed = False
        self.port = port

    async def close(self) -> None:
        """Stop listening, answer pending long polls, and release the application.

        Closing again does nothing, so a caller and a finaliser may both close.
        """
        if self._closed:
            return
        self._closed = True
        await self._runner.cleanup()


async def start_api(
    app: web.Application, host: str, port: int, *, shutdown_timeout: float = SHUTDOWN_TIMEOUT
) -> ApiServer:
    """Serve ``app`` on ``host``:``port`` (port 0 picks a free one).

    Args:
        app: The application from :func:`gtm.api.app.make_app`.
        host: Address to listen on.
        port: Port to listen on; 0 lets the system choose, see :attr:`ApiServer.port`.
        shutdown_timeout: Seconds in-flight requests get to finish on close.

    Raises:
        ConfigError: The address cannot be listened on (in use, not local, not allowed).
    """
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"api: cannot listen on {host}:{port}: {exc.strerror}") from exc
    except BaseException:
        await runner.cleanup()
        raise
    return ApiServer(runner, runner.addresses[0][1])
