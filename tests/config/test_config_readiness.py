"""The readiness settings: a check's release section, a service's rule, one-line problems."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gtm.config import check_config, load_config
from gtm.controller.plans import plan_services
from gtm.controller.probing import build_prober
from gtm.core.readiness import Readiness
from healthchecks import HttpClient, HttpProbe
from healthchecks.release import ReleaseRule, ReleaseSource

BASE = """
zone: gtm.example.test
sites: {a: {}}
"""
LOCATORS = "locators: [{site: a, address: 127.0.0.1, port: 8080}]"


def service(own: str = "", check: str = "") -> str:
    """A ``services`` section with one service ``billing``, with ``own`` settings and a check."""
    checked = f"check: {check}, " if check else ""
    return f"services: {{billing: {{{own}{checked}{LOCATORS}}}}}\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            service(check="{release: {regex: 'v(\\d+'}}"),
            "services.billing.check.release.regex: 'v(\\\\d+' is not a regular expression "
            "(missing ), unterminated subpattern at position 1); fix the pattern",
            id="bad-regex",
        ),
        pytest.param(
            service(check="{release: {header: X-Release, json: version}}"),
            "services.billing.check.release: names header, json; expected exactly one of "
            "header, json or regex",
            id="two-sources",
        ),
        pytest.param(
            service(check="{release: {}}"),
            "services.billing.check.release: names none; expected exactly one of",
            id="no-source",
        ),
        pytest.param(
            service(check="{release: {json: ''}}"),
            "services.billing.check.release.json: is empty; expected a name",
            id="empty",
        ),
        pytest.param(
            service(check="{release: {xpath: /v}}"),
            "services.billing.check.release.xpath: unknown key; expected one of: header, json, "
            "regex",
            id="unknown-source",
        ),
        pytest.param(
            service("readiness: strict, "),
            "services.billing.readiness: is strict, but check does not read a release; "
            "add check.release",
            id="strict-without-release",
        ),
        pytest.param(
            service("readiness: warn, ", "{type: tcp}"),
            "services.billing.readiness: is warn, but check does not read a release",
            id="warn-with-tcp",
        ),
        pytest.param(
            service("readiness: always, ", "{release: {header: X-Release}}"),
            "services.billing.readiness: 'always' is not allowed; "
            "expected 'off', 'warn' or 'strict'",
            id="unknown-mode",
        ),
    ],
)
def test_bad_readiness_is_one_line_naming_the_field(
    write_config: Callable[[str], Path], text: str, expected: str
) -> None:
    problems = check_config(write_config(BASE + text))
    assert len(problems) == 1, problems
    assert expected in problems[0]
    assert "\n" not in problems[0]


@pytest.mark.parametrize(
    ("text", "readiness", "rule"),
    [
        pytest.param(service(), Readiness.OFF, None, id="default"),
        pytest.param(
            service("readiness: off, ", "{release: {header: X-Release}}"),
            Readiness.OFF,
            ReleaseRule(ReleaseSource.HEADER, "X-Release"),
            id="off-still-reads",
        ),
        pytest.param(
            service("readiness: warn, ", "{release: {json: build.version}}"),
            Readiness.WARN,
            ReleaseRule(ReleaseSource.JSON, "build.version"),
            id="warn-json",
        ),
        pytest.param(
            "defaults: {check: {release: {regex: 'v(\\d+\\.\\d+)'}}}\n"
            + service("readiness: strict, "),
            Readiness.STRICT,
            ReleaseRule(ReleaseSource.REGEX, r"v(\d+\.\d+)"),
            id="strict-regex-from-defaults",
        ),
    ],
)
def test_readiness_reaches_the_policy_and_the_prober(
    write_config: Callable[[str], Path],
    text: str,
    readiness: Readiness,
    rule: ReleaseRule | None,
) -> None:
    config = load_config(write_config(BASE + text))
    plans = plan_services(config)
    service_config = config.services["billing"]
    prober = build_prober(service_config.check, "127.0.0.1", 8080, HttpClient())

    assert plans["billing"].policy.readiness is readiness
    assert isinstance(prober, HttpProbe)
    assert prober.release == rule
