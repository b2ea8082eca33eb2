"""A site whose locator just went down has its other checks probed at once, so a lost site is
confirmed within a few rechecks instead of trickling in over a whole probe interval.

Sweeping only probes sooner: every locator still needs its own streak of failures to go
down, so a sweep cannot make a healthy locator look dead; it costs one probe per check of
the site, at most once per ``SWEEP_EVERY`` per site.
"""

from __future__ import annotations

from gtm.core.health import Verdict

SWEEP_EVERY = 1.0
"""Seconds a site waits after a sweep before another of its verdicts can start one."""


def sweeps(before: Verdict, after: Verdict, last: float | None, now: float) -> bool:
    """Whether a locator's verdict change starts a sweep of the locator's site.

    Args:
        before: The locator's verdict before the change.
        after: Its verdict now.
        last: When its site was last swept, or None when never.
        now: The time of the change, on the same clock as ``last``.
    """
    if after is not Verdict.DOWN or before is Verdict.DOWN:
        return False
    return last is None or now - last >= SWEEP_EVERY
