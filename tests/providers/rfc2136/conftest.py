"""A real BIND for the RFC 2136 provider tests, stopped by pid whatever the outcome."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from rfc2136_samples import ZONE

from testbed.bind import BindServer


def _named_or_skip() -> None:
    if shutil.which("named") is None and not Path("/usr/sbin/named").exists():
        pytest.skip("named is not installed (Debian package bind9)")


@pytest.fixture(scope="module")
def bind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BindServer]:
    """One server per test module; tests use their own service names in its zone."""
    _named_or_skip()
    server = BindServer(tmp_path_factory.mktemp("bind"), ZONE)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def own_bind(tmp_path: Path) -> Iterator[BindServer]:
    """A server for one test, for tests that stop it."""
    _named_or_skip()
    server = BindServer(tmp_path / "bind", ZONE)
    try:
        server.start()
        yield server
    finally:
        server.stop()
