"""A moto server per test module: the AWS the Route 53 and ELBv2 providers talk to."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aws_samples import NO_WAIT, MakeRoute53

from gtm.config.providers import AwsCredentials, Route53Provider
from gtm.providers.route53 import Route53
from testbed.moto import MotoServer, create_hosted_zone


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


@pytest.fixture
def zone(moto: MotoServer) -> tuple[str, str]:
    """A fresh hosted zone: its name and id."""
    name = f"z{uuid.uuid4().hex[:8]}.example."
    return name, create_hosted_zone(moto.endpoint_url, name)


@pytest.fixture
async def make_route53(
    moto: MotoServer, zone: tuple[str, str], aws_keys: dict[str, str]
) -> AsyncIterator[MakeRoute53]:
    """Build Route 53 providers on the zone; every one is closed at the end."""
    made: list[Route53] = []

    def make(name: str = "r53", **settings: Any) -> Route53:
        fields: dict[str, Any] = {
            "type": "route53",
            "hosted_zone_id": zone[1],
            "endpoint_url": moto.endpoint_url,
            "credentials": AwsCredentials(**aws_keys),
            **settings,
        }
        provider = Route53(name, Route53Provider(**fields), zone[0], retry=NO_WAIT)
        made.append(provider)
        return provider

    try:
        yield make
    finally:
        for provider in made:
            await provider.close()
