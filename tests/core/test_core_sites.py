"""Site health: counts, fractions, unknown locators and when the answer last changed."""

from __future__ import annotations

import pytest

from gtm.core.health import Verdict
from gtm.core.sites import SiteHealth, site_health
from gtm.errors import ConfigError

U, D, X = Verdict.UP, Verdict.DOWN, Verdict.UNKNOWN


# fmt: off
HEALTHY_CASES = [
    pytest.param([U, U, D], 1, True, 1, "a healthy: 2/3 locators up (min 1)", id="count"),
    pytest.param([U, D, D], 2, False, 2, "a unhealthy: 1/3 locators up (min 2)",
                 id="count-short"),
    pytest.param([U], 2, False, 2, "a unhealthy: 1/1 locators up (min 2)",
                 id="count-above-total"),
    pytest.param([X, X], 1, False, 1, "a unhealthy: 0/2 locators up, 2 unknown (min 1)",
                 id="unknown-not-up"),
    pytest.param([U, X, D], 0.5, False, 2, "a unhealthy: 1/3 locators up, 1 unknown (min 2)",
                 id="fraction-ceil"),
    pytest.param([U, U, D], 0.5, True, 2, "a healthy: 2/3 locators up (min 2)",
                 id="fraction-met"),
    pytest.param([U] * 7 + [D] * 3, 0.7, True, 7, "a healthy: 7/10 locators up (min 7)",
                 id="fraction-rounding"),
    pytest.param([U, U], 1.0, True, 2, "a healthy: 2/2 locators up (min 2)",
                 id="fraction-all"),
    pytest.param([U, D], 1.0, False, 2, "a unhealthy: 1/2 locators up (min 2)",
                 id="fraction-all-short"),
    pytest.param([], 1, False, 1, "a unhealthy: 0/0 locators up (min 1)", id="no-locators"),
    pytest.param([], 0.5, False, 1, "a unhealthy: 0/0 locators up (min 1)",
                 id="no-locators-fraction"),
]
# fmt: on


@pytest.mark.parametrize(("verdicts", "min_healthy", "healthy", "needed", "reason"), HEALTHY_CASES)
def test_healthy(
    verdicts: list[Verdict], min_healthy: float, healthy: bool, needed: int, reason: str
) -> None:
    health = site_health("a", verdicts, min_healthy, None, 10.0)
    assert (health.healthy, health.needed, health.reason) == (healthy, needed, reason)
    assert (health.up, health.total) == (verdicts.count(U), len(verdicts))


def previous(healthy: bool) -> SiteHealth:
    return SiteHealth("a", healthy, 1 if healthy else 0, 1, 3.0, "earlier")


@pytest.mark.parametrize(
    ("before", "verdicts", "since"),
    [
        pytest.param(None, [U], 10.0, id="first-now"),
        pytest.param(previous(True), [U], 3.0, id="still-healthy-carried"),
        pytest.param(previous(False), [D], 3.0, id="still-unhealthy-carried"),
        pytest.param(previous(False), [U], 10.0, id="recovered-now"),
        pytest.param(previous(True), [D], 10.0, id="failed-now"),
    ],
)
def test_since(before: SiteHealth | None, verdicts: list[Verdict], since: float) -> None:
    assert site_health("a", verdicts, 1, before, 10.0).since == since


@pytest.mark.parametrize("min_healthy", [0, -1, 0.0, -0.5, 1.5])
def test_bad_min_healthy(min_healthy: float) -> None:
    with pytest.raises(ConfigError, match=r"min_healthy must be .* got"):
        site_health("a", [U], min_healthy, None, 0.0)
