"""The damping section: in defaults and per service, ``off``, one-line problems, its health."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gtm.config import check_config, load_config
from gtm.controller.plans import plan_services
from gtm.core.health import HealthParams

BASE = """
zone: gtm.example.test
sites: {a: {}}
"""
LOCATORS = "locators: [{site: a, address: 127.0.0.1, port: 8080}]"


def service(damping: str = "") -> str:
    """A ``services`` section with one service ``billing``, its damping given or not."""
    own = f"damping: {damping}, " if damping else ""
    return f"services: {{billing: {{{own}{LOCATORS}}}}}\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "defaults: {damping: {suppress: 2, reuse: 2}}\n" + service(),
            "defaults.damping.reuse: is 2, not below suppress (2); set reuse lower than suppress",
            id="reuse-at-suppress",
        ),
        pytest.param(
            service("{reuse: 4}"),
            "services.billing.damping.reuse: is 4, not below suppress (3)",
            id="reuse-above-default-suppress",
        ),
        pytest.param(
            service("{half_life: 0s}"),
            "services.billing.damping.half_life: 0.0 is out of range; expected > 0",
            id="half-life",
        ),
        pytest.param(
            service("{penalty: 0}"),
            "services.billing.damping.penalty: 0 is out of range; expected > 0 and <= 100",
            id="penalty",
        ),
        pytest.param(
            service("{suppress: 5000}"),
            "services.billing.damping.suppress: 5000 is out of range; expected > 0 and <= 1000",
            id="suppress",
        ),
        pytest.param(
            service("on"),
            "services.billing.damping: True is not a mapping or off",
            id="on",
        ),
        pytest.param(
            service("{max: 9}"),
            "services.billing.damping.max: unknown key",
            id="unknown-key",
        ),
    ],
)
def test_bad_damping_is_one_line_naming_the_field(
    write_config: Callable[[str], Path], text: str, expected: str
) -> None:
    problems = check_config(write_config(BASE + text))
    assert len(problems) == 1, problems
    assert expected in problems[0]
    assert "\n" not in problems[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(service(), HealthParams(), id="built-in"),
        pytest.param(service("off"), HealthParams(damping=False), id="off"),
        pytest.param(service('"off"'), HealthParams(damping=False), id="off-quoted"),
        pytest.param(
            "defaults: {damping: {half_life: 15s, penalty: 2}}\n" + service(),
            HealthParams(damping_half_life=15.0, damping_penalty=2.0),
            id="from-defaults",
        ),
        pytest.param(
            "defaults: {damping: off}\n" + service("{suppress: 5, reuse: 2.5}"),
            HealthParams(damping_suppress=5.0, damping_reuse=2.5),
            id="own-wins-over-defaults",
        ),
        pytest.param(
            "defaults: {damping: {half_life: 2m}}\n" + service("off"),
            HealthParams(damping=False),
            id="own-off-wins",
        ),
    ],
)
def test_damping_reaches_the_health_params(
    write_config: Callable[[str], Path], text: str, expected: HealthParams
) -> None:
    plans = plan_services(load_config(write_config(BASE + text)))
    assert plans["billing"].health == expected
