"""The BIND fixture itself: it answers, stops by pid, and says why when it cannot start."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.query
import pytest
from rfc2136_samples import ZONE

from testbed.bind import BindServer


def soa(server: BindServer, port: int) -> dns.message.Message:
    query = dns.message.make_query(ZONE, "SOA")
    return dns.query.udp(query, server.address, timeout=0.5, port=port)


def test_started_server_answers_for_its_zone_and_stops_by_pid(own_bind: BindServer) -> None:
    pid, port = own_bind.pid, own_bind.port
    assert pid is not None and port > 0

    assert soa(own_bind, port).flags & dns.flags.AA
    own_bind.stop()
    own_bind.stop()

    assert own_bind.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(dns.exception.Timeout):
        soa(own_bind, port)


def test_killed_server_is_gone_at_once(own_bind: BindServer) -> None:
    pid, port = own_bind.pid, own_bind.port
    assert pid is not None

    own_bind.kill()

    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(dns.exception.Timeout):
        soa(own_bind, port)


def test_a_server_that_cannot_start_says_why(tmp_path: Path) -> None:
    if shutil.which("named") is None and not Path("/usr/sbin/named").exists():
        pytest.skip("named is not installed (Debian package bind9)")
    # A quote in the zone name breaks named.conf: named reports it and exits.
    server = BindServer(tmp_path, 'bad"zone.test.')

    with pytest.raises(
        RuntimeError, match=r"bind: named on 127\.0\.0\.1:\d+: exited with status \d+; log:\n"
    ):
        server.start()

    assert server.pid is None
