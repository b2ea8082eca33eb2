"""Site health: whether a site has enough locators up to take a service's traffic.

Policies move traffic between sites, not locators, so the verdicts of a site's locators
are summed up here once, with the time the answer last changed (which fail-back dwell
times are measured from).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from gtm.core.health import Verdict
from gtm.errors import ConfigError

_ROUNDING = 1e-9
"""Slack for fractions such as 0.7 * 10, which floating point makes 7.000000000000001."""


@dataclass(frozen=True, slots=True)
class SiteHealth:
    """Whether one site of a service can take traffic, since when, and why."""

    site: str
    healthy: bool
    up: int
    """Locators of the site whose verdict is up."""
    total: int
    """Locators of the site."""
    since: float | None
    """When ``healthy`` last took its current value."""
    reason: str
    """One sentence, e.g. "aws-use1 healthy: 2/3 locators up (min 1)"."""
    needed: int = 1
    """Locators that must be up for the site to be healthy."""
    release: str | None = None
    """The release the site runs, as its probes last read it (see
    :mod:`gtm.core.readiness`); None when none was read."""


def site_health(
    site: str,
    verdicts: Sequence[Verdict],
    min_healthy: int | float,
    previous: SiteHealth | None,
    now: float,
) -> SiteHealth:
    """Sum up the verdicts of one site's locators.

    Args:
        site: the site's name.
        verdicts: the verdict of each of the site's locators for one service.
        min_healthy: locators that must be up: an int is a count, a float in (0, 1] a
            fraction of the site's locators, rounded up. Unknown verdicts count as not up,
            and a site without locators is never healthy.
        previous: the site's health at the last call, to carry ``since`` over.
        now: the current time.

    Returns:
        The site's health.

    Raises:
        ConfigError: when ``min_healthy`` is neither a count of at least 1 nor a fraction
            in (0, 1].
    """
    needed = _needed(min_healthy, len(verdicts))
    up = sum(1 for verdict in verdicts if verdict is Verdict.UP)
    unknown = sum(1 for verdict in verdicts if verdict is Verdict.UNKNOWN)
    healthy = up >= needed
    since = previous.since if previous is not None and previous.healthy == healthy else now
    unknown_part = f", {unknown} unknown" if unknown else ""
    return SiteHealth(
        site=site,
        healthy=healthy,
        up=up,
        total=len(verdicts),
        since=since,
        reason=f"{site} {'healthy' if healthy else 'unhealthy'}: "
        f"{up}/{len(verdicts)} locators up{unknown_part} (min {needed})",
        needed=needed,
    )


def _needed(min_healthy: int | float, total: int) -> int:
    if isinstance(min_healthy, int) and min_healthy >= 1:
        return min_healthy
    if isinstance(min_healthy, float) and 0 < min_healthy <= 1:
        # At least one: a fraction of a site without locators must not make it healthy.
        return max(1, math.ceil(min_healthy * total - _ROUNDING))
    raise ConfigError(
        "sites: min_healthy must be a count of at least 1 or a fraction in (0, 1], "
        f"got {min_healthy!r}"
    )
