"""gtm as a hidden primary for a real BIND secondary: AXFR at start, NOTIFY and IXFR after a
move, refusals for a secondary without the key or from an address not allowed."""

from __future__ import annotations

import ipaddress
import logging
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import pytest
from dns_samples import ZONE
from transfer_fixtures import Primary, bind_key, fresh_log_throttle, moved, services

from gtm.core.transfer import Network
from testbed.bind import ADDRESS, BindServer
from testbed.ports import free_port

__all__ = ["fresh_log_throttle"]  # autouse, from transfer_fixtures
DEADLINE = 60.0
"""Longest wait for BIND to follow: a hang guard on a loaded machine, not a measure."""

LOOPBACK: list[Network] = [ipaddress.ip_network("127.0.0.0/8")]


def _named_or_skip() -> None:
    if shutil.which("named") is None and not Path("/usr/sbin/named").exists():
        pytest.skip("named is not installed (Debian package bind9)")


@pytest.fixture
def pair(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[tuple[Primary, BindServer]]:
    """gtm, allowing loopback with the key, and a BIND secondary signing with that key."""
    _named_or_skip()
    caplog.set_level(logging.INFO, logger="gtm.dns")
    bind_port = free_port(ADDRESS, udp=True)
    bind = BindServer(tmp_path / "secondary", ZONE, port=bind_port, primary=(ADDRESS, 0))
    notify = [(ADDRESS, bind_port)]
    primary = Primary(services(20), allow=LOOPBACK, key=bind_key(bind), notify=notify)
    try:
        primary.start()
        bind.primary = (ADDRESS, primary.port)
        bind.start()
        yield primary, bind
    finally:
        bind.stop()
        primary.stop()


def address_of(bind: BindServer, name: str) -> set[str]:
    query = dns.message.make_query(f"{name}.{ZONE}", dns.rdatatype.A)
    response = dns.query.udp(query, ADDRESS, port=bind.port, timeout=5)
    return {rr.address for rrset in response.answer for rr in rrset}


def journal_text(bind: BindServer) -> str:
    """The secondary's journal as ``named-journalprint`` prints it ('' when there is none)."""
    path = bind.workdir / "secondary.db.jnl"
    if not path.exists():
        return ""
    tool = shutil.which("named-journalprint") or "/usr/bin/named-journalprint"
    return subprocess.run([tool, str(path)], capture_output=True, text=True, check=True).stdout


def wait_until(condition: object, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE:g} s: {what}")
        time.sleep(0.05)


def test_secondary_loads_the_zone_by_axfr_then_follows_moves_by_ixfr(
    pair: tuple[Primary, BindServer], caplog: pytest.LogCaptureFixture
) -> None:
    primary, bind = pair
    bind.wait_serial(primary.answers.serial, DEADLINE)
    assert address_of(bind, "billing") == {"192.0.2.10"}
    assert address_of(bind, "svc-007") == {"192.0.2.8"}
    log = bind.log_path.read_text()
    assert "Transfer status: success" in log
    setup = caplog.get_records("setup")
    assert any(r.getMessage().startswith("dns: AXFR of") for r in setup)

    # A site lost: every service moves in one burst, as a batch of decisions would.
    before = primary.answers.serial
    burst = [moved(m) for m in primary.source.mappings.values()]
    primary.publish(*burst)
    serial = primary.answers.serial
    bind.wait_serial(serial, DEADLINE)
    assert address_of(bind, "billing") == {"198.51.100.20"}
    assert address_of(bind, "svc-007") == {"198.51.100.8"}
    # BIND applied the move as a difference: an AXFR replaces the zone and writes no
    # journal; an IXFR is written to the journal, SOA before and after.
    journal = journal_text(bind)
    assert f"del {ZONE}\t300\tIN\tSOA" in journal and f" {before} " in journal, journal[:2000]
    assert f"add {ZONE}\t300\tIN\tSOA" in journal and f" {serial} " in journal, journal[:2000]
    ixfrs = [r.getMessage() for r in caplog.records if r.getMessage().startswith("dns: IXFR of")]
    assert any(f"to {serial}:" in m and "version(s)" in m for m in ixfrs), ixfrs
    assert primary.notifier.sent >= 2  # at start, and after the burst


def test_secondary_without_the_key_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _named_or_skip()
    caplog.set_level(logging.WARNING, logger="gtm.dns")
    bind = BindServer(tmp_path / "secondary", ZONE, primary=(ADDRESS, 0), sign_transfers=False)
    primary = Primary(services(2), allow=LOOPBACK, key=bind_key(bind), notify=[])
    try:
        primary.start()
        bind.primary = (ADDRESS, primary.port)
        bind.start()
        wait_until(lambda: "REFUSED" in bind.log_path.read_text(), "BIND logs a refusal")
        assert bind.serial() is None
    finally:
        bind.stop()
        primary.stop()
    refusals = [r.getMessage() for r in caplog.records if "refused with REFUSED" in r.getMessage()]
    assert refusals and "not signed" in refusals[0]


def test_secondary_at_an_address_not_allowed_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _named_or_skip()
    caplog.set_level(logging.WARNING, logger="gtm.dns")
    bind = BindServer(tmp_path / "secondary", ZONE, primary=(ADDRESS, 0))
    only = [ipaddress.ip_network("127.0.0.2/32")]
    primary = Primary(services(2), allow=only, key=bind_key(bind), notify=[])
    try:
        primary.start()
        bind.primary = (ADDRESS, primary.port)
        bind.start()
        wait_until(lambda: "REFUSED" in bind.log_path.read_text(), "BIND logs a refusal")
        assert bind.serial() is None
    finally:
        bind.stop()
        primary.stop()
    refusals = [r.getMessage() for r in caplog.records if "refused with REFUSED" in r.getMessage()]
    assert refusals and "dns.transfer.allow" in refusals[0]
