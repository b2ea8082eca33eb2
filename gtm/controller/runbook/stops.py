"""Why a run stops before it is done: a step failed, or an operator asked it to stop.

Either way the run rolls back; the exception's message becomes the run's outcome.
"""

from __future__ import annotations

from gtm.core.runbook import Run
from gtm.errors import GtmError


class StepFailed(GtmError):
    """A step could not complete; the run rolls back."""


class Aborted(GtmError):
    """An operator asked the run to stop; the run rolls back."""


def check_abort(run: Run) -> None:
    """Raise :class:`Aborted` when an abort of ``run`` was asked for.

    Raises:
        Aborted: ``run.abort_requested`` is set; the message names the running step.
    """
    if run.abort_requested:
        step = run.current.step.value if run.current else "the run"
        raise Aborted(f"aborted during {step}")
