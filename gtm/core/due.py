"""When a decision can next change with nothing new observed, so a tick wakes only those due."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping as Lookup

from gtm.core.model import Intent
from gtm.core.policy import ServicePolicy
from gtm.core.sites import SiteHealth


def next_due(
    policy: ServicePolicy,
    sites: Lookup[str, SiteHealth],
    intents: Iterable[Intent],
    now: float,
) -> float | None:
    """The earliest time after ``now`` at which :func:`~gtm.core.policy.decide` may answer
    differently for ``policy``'s service on the same verdicts, intents and mapping.

    Time enters a decision in two places only: an intent stops applying at its
    ``expires_at``, and a site healthy since ``since`` ends its fail-back dwell at
    ``since + dwell``. Everything else (a verdict, a damping release, an intent made or
    withdrawn, a burst step) is an observation or has a timer of its own, and wakes the
    service when it happens.

    Args:
        policy: The service's policy (its name and dwell).
        sites: Its sites' health, ``since`` on the same clock as ``now``.
        intents: Every standing intent; those about other services are skipped.
        now: The time the decision was made.

    Returns:
        The earliest such time, or None when none is ahead.
    """
    ahead = [
        intent.expires_at
        for intent in intents
        if intent.expires_at is not None
        and intent.expires_at > now
        and intent.applies_to(policy.service)
    ]
    ahead.extend(
        health.since + policy.dwell
        for health in sites.values()
        if health.healthy and health.since is not None and health.since + policy.dwell > now
    )
    return min(ahead, default=None)


def is_due(due: float | None, now: float) -> bool:
    """Whether a decision due at ``due`` (None: never) should be made at ``now``."""
    return due is not None and due <= now
