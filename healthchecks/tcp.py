"""TCP probe: is anything accepting connections on the port?"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from healthchecks.reasons import describe_timeout
from healthchecks.result import Result, Stopwatch


@dataclass(frozen=True, slots=True)
class TcpProbe:
    """Open a TCP connection and close it again.

    Attributes:
        host: Address or name to connect to.
        port: TCP port.
        source: Local address to connect from; None: the system's choice.
    """

    host: str
    port: int
    source: str | None = None

    async def probe(self, timeout: float) -> Result:
        """Connect within ``timeout`` seconds, then close the connection.

        Args:
            timeout: Seconds allowed for the connection to be accepted.

        Returns:
            The result; a failure says whether the connection was refused, timed out
            or failed otherwise.
        """
        watch = Stopwatch()
        try:
            async with asyncio.timeout(timeout):
                _, writer = await asyncio.open_connection(
                    self.host, self.port, local_addr=_local(self.source)
                )
        except TimeoutError:
            return watch.result(False, describe_timeout(timeout))
        except OSError as exc:
            return watch.socket_error(exc)
        result = watch.result(True, "connected")
        # The verdict is already in; closing is housekeeping and must not turn an accepted
        # connection into a failure, nor wait on a peer that never acknowledges the close.
        writer.close()
        return result


def _local(source: str | None) -> tuple[str, int] | None:
    """The local address a connection from ``source`` binds (any port); None: any."""
    return None if source is None else (source, 0)
