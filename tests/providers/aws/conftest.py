"""A moto server per test module: the AWS the Route 53 and ELBv2 providers talk to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testbed.moto import MotoServer


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    """moto in server mode on a loopback port, stopped by PID whatever the tests do."""
    server = MotoServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def aws_keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Credentials as the config gives them: secret references to set variables."""
    monkeypatch.setenv("GTM_TEST_AWS_KEY_ID", "testing")
    monkeypatch.setenv("GTM_TEST_AWS_SECRET", "testing")
    return {
        "access_key_id": "env:GTM_TEST_AWS_KEY_ID",
        "secret_access_key": "env:GTM_TEST_AWS_SECRET",
    }
