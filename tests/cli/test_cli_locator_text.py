"""How ``gtm status`` writes a locator: state, priority, weight, and a flap-damping hold."""

from __future__ import annotations

import pytest

from gtm.cli.render import locator_text
from gtm.core.model import Locator, State

LOC = Locator("billing@aws-use1/web-1", "aws-use1", "127.0.1.1", 8080, 1, 100, State.DOWN)


@pytest.mark.parametrize(
    ("named", "damped", "text"),
    [
        (False, None, "aws-use1:down/p1/w100"),
        (True, None, "aws-use1/web-1:down/p1/w100"),
        (False, 3.42, "aws-use1:down/p1/w100(damped 3.4)"),
        (True, 1.55, "aws-use1/web-1:down/p1/w100(damped 1.6)"),
    ],
)
def test_locator_text(named: bool, damped: float | None, text: str) -> None:
    assert locator_text(LOC, named, damped) == text
