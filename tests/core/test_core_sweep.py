"""Which verdict changes sweep a site: a new down, at most once per SWEEP_EVERY."""

from __future__ import annotations

import pytest

from gtm.core.health import Verdict
from gtm.core.sweep import SWEEP_EVERY, sweeps

UP, DOWN, UNKNOWN = Verdict.UP, Verdict.DOWN, Verdict.UNKNOWN


@pytest.mark.parametrize(
    ("before", "after", "last", "now", "swept"),
    [
        pytest.param(UP, DOWN, None, 10.0, True, id="first-down"),
        pytest.param(UNKNOWN, DOWN, None, 10.0, True, id="down-from-unknown"),
        pytest.param(DOWN, UP, None, 10.0, False, id="coming-up"),
        pytest.param(UP, UNKNOWN, None, 10.0, False, id="unknown"),
        pytest.param(DOWN, DOWN, None, 10.0, False, id="still-down"),
        pytest.param(UP, DOWN, 10.0 - SWEEP_EVERY / 2, 10.0, False, id="swept-just-now"),
        pytest.param(UP, DOWN, 10.0 - SWEEP_EVERY, 10.0, True, id="swept-a-while-ago"),
    ],
)
def test_a_new_down_sweeps_its_site_at_most_once_a_period(
    before: Verdict, after: Verdict, last: float | None, now: float, swept: bool
) -> None:
    assert sweeps(before, after, last, now) is swept
