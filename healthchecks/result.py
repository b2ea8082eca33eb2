"""What one probe reports, and the contract every prober keeps.

A failed target is data, not an exception: the scheduler and the health logic above it
only ever see ``Result`` values, each with one sentence saying what happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Protocol

from healthchecks.clock import LoopClock
from healthchecks.reasons import describe_local_fault, describe_socket_error

_CLOCK = LoopClock()


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of one probe of one target.

    Attributes:
        ok: Whether the target passed every condition of the probe.
        latency: Seconds the probe took, from a monotonic clock.
        reason: One sentence on what happened, e.g. ``"status 503 not in {200}"``.
        started_at: Monotonic time (the event loop's clock, see :mod:`healthchecks.clock`)
            the probe started; the scheduler stamps it with its own clock.
        finished_at: Monotonic time the probe finished.
        late: Seconds the probe started after its slot; the scheduler stamps it.
        fault: Non-empty when the probe failed for want of a local resource (the
            prober's process ran out of descriptors or buffers): the result then says
            nothing about the target.
        release: The release the target said it runs, when the probe reads one
            (see :mod:`healthchecks.release`).
        load: The load figure the target reported, when the probe reads one.
    """

    ok: bool
    latency: float
    reason: str
    started_at: float
    finished_at: float
    late: float = 0.0
    fault: str = ""
    release: str | None = None
    load: float | None = None


class Prober(Protocol):
    """Something that can check one target once.

    Implementations must turn every failure of the target (refused, reset, timed out,
    wrong answer, bad certificate) into a ``Result`` with ``ok=False`` and a reason, and
    must return within ``timeout`` seconds. They must not raise for a failed target;
    an exception means a bug in the prober, and the scheduler reports it as such. They
    must let ``asyncio.CancelledError`` through so that a check can be stopped.
    """

    async def probe(self, timeout: float) -> Result:
        """Check the target once and say how it went."""
        ...


@dataclass(slots=True)
class Stopwatch:
    """Times one probe on the event loop's clock: when it happened, and for how long."""

    started_at: float = field(default_factory=_CLOCK.monotonic)

    def socket_error(self, exc: OSError) -> Result:
        """Stop timing and build the failed result of a socket error.

        Args:
            exc: The error the socket layer raised.

        Returns:
            A failed result saying what happened, with ``fault`` set when the error
            was the prober's own shortage rather than the target's doing.
        """
        return replace(
            self.result(False, describe_socket_error(exc)), fault=describe_local_fault(exc)
        )

    def result(
        self, ok: bool, reason: str, *, release: str | None = None, load: float | None = None
    ) -> Result:
        """Stop timing and build the probe's result.

        Args:
            ok: Whether the probe passed.
            reason: One sentence on what happened.
            release: The release the target said it runs, when the probe read one.
            load: The load figure the target reported, when the probe read one.

        Returns:
            The result, with latency measured since the stopwatch was created.
        """
        finished_at = _CLOCK.monotonic()
        return Result(
            ok=ok,
            latency=finished_at - self.started_at,
            reason=reason,
            started_at=self.started_at,
            finished_at=finished_at,
            release=release,
            load=load,
        )
