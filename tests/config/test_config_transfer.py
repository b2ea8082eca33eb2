"""The dns.transfer section: networks, notify targets and the key, checked when loaded."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from gtm.config import check_config
from gtm.config.loader import load_config

BASE = """
zone: gtm.example.test
sites: {a: {}}
services:
  billing:
    locators: [{site: a, address: 127.0.0.1, port: 8080}]
"""


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (
            "dns: {transfer: {allow: [10.0.0.1/8]}}",
            "dns.transfer.allow[0]: '10.0.0.1/8' is not a network (10.0.0.1/8 has host bits "
            "set); expected an address or address/prefix",
        ),
        ("dns: {transfer: {allow: [ns1.example]}}", "dns.transfer.allow[0]: 'ns1.example' is"),
        ("dns: {transfer: {allow: [5]}}", "dns.transfer.allow[0]: 5 is not a network"),
        (
            "dns: {transfer: {notify: ['192.0.2.53:53']}}",
            "dns.transfer.notify: secondaries are notified but none may transfer the zone: "
            "add their addresses to dns.transfer.allow",
        ),
        ("dns: {transfer: {allow: ['::1'], notify: [ns1:53]}}", "dns.transfer.notify[0]"),
        ("dns: {transfer: {allow: ['::1'], versions: 0}}", "dns.transfer.versions"),
        (
            "dns: {transfer: {allow: ['::1'], tsig: {name: k., secret: s3cr3t}}}",
            "dns.transfer.tsig.secret: not a secret reference (value not shown)",
        ),
        (
            "dns: {transfer: {allow: ['::1'], tsig: {name: k., secret: env:K, algorithm: md5}}}",
            "dns.transfer.tsig.algorithm",
        ),
    ],
)
def test_bad_transfer_settings_are_one_line_naming_the_field(
    tmp_path: Path, section: str, expected: str
) -> None:
    path = tmp_path / "gtm.yaml"
    path.write_text(BASE + section + "\n")
    problems = check_config(path)
    assert len(problems) == 1, problems
    assert expected in problems[0], problems[0]


def test_a_transfer_section_as_documented_loads(tmp_path: Path) -> None:
    path = tmp_path / "gtm.yaml"
    path.write_text(
        BASE
        + "dns:\n"
        + "  transfer:\n"
        + "    allow: [192.0.2.53, 10.1.0.0/16, '2001:db8::/32']\n"
        + "    tsig: {name: gtm-xfr., secret: env:GTM_XFR_SECRET}\n"
        + "    notify: [192.0.2.53:53, '[2001:db8::53]:53']\n"
    )
    transfer = load_config(path).dns.transfer
    assert transfer.allow == [
        ipaddress.ip_network("192.0.2.53/32"),
        ipaddress.ip_network("10.1.0.0/16"),
        ipaddress.ip_network("2001:db8::/32"),
    ]
    assert [str(target) for target in transfer.notify] == ["192.0.2.53:53", "[2001:db8::53]:53"]
    assert transfer.tsig is not None and transfer.tsig.algorithm == "hmac-sha256"
    assert transfer.versions == 4096


def test_a_transfer_key_that_is_not_base64_is_reported_before_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GTM_XFR_SECRET", "not base64!")
    path = tmp_path / "gtm.yaml"
    path.write_text(
        BASE + "dns: {transfer: {allow: ['::1'], tsig: {name: k., secret: env:GTM_XFR_SECRET}}}\n"
    )
    problems = check_config(path, secrets=True)
    assert len(problems) == 1, problems
    assert "dns.transfer.tsig.secret: env:GTM_XFR_SECRET is not base64" in problems[0]
