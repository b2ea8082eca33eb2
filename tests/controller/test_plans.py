"""Config to probers: locators probed the same way share one check."""

from __future__ import annotations

from pathlib import Path

from gtm.config.loader import load_config
from gtm.controller.plans import plan_checks
from healthchecks import HttpClient

CONFIG = """
zone: z.test.
sites: {a: {}, b: {}}
services:
  billing:
    check: {type: tcp}
    locators:
      - {site: a, address: 127.0.1.1, port: 8080}
      - {site: b, address: 127.0.2.1, port: 8080}
  search:
    check: {type: tcp}
    locators:
      - {site: a, address: 127.0.1.1, port: 8080}
      - {site: b, address: 127.0.2.1, port: 9090}
  auth:
    check: {type: tcp, interval: 2s}
    locators:
      - {site: a, address: 127.0.1.1, port: 8080}
"""


def test_identical_probes_share_one_check(tmp_path: Path) -> None:
    path = tmp_path / "gtm.yaml"
    path.write_text(CONFIG)
    checks = plan_checks(load_config(path), HttpClient())
    judged = sorted(sorted(ids) for ids, _ in checks)
    assert judged == [
        ["auth@a/127.0.1.1:8080"],  # same target, other interval: its own check
        ["billing@a/127.0.1.1:8080", "search@a/127.0.1.1:8080"],
        ["billing@b/127.0.2.1:8080"],
        ["search@b/127.0.2.1:9090"],
    ]
