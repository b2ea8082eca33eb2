"""Mappings, helpers and AWS fault responses shared by the Route 53 and ELBv2 provider tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from collections.abc import Mapping as Lookup
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSResponse

from gtm.core.model import Action, Locator, Mapping, State
from gtm.providers.aws import Retry
from gtm.providers.route53 import Route53
from testbed.moto import MotoServer, client

MakeRoute53 = Callable[..., Route53]
"""Builds a Route 53 provider on the test's hosted zone: ``make(name="r53", **settings)``."""

NO_WAIT = Retry(tries=3, first_delay=0.0, max_delay=0.0)
"""Retries without waiting, so throttling tests take no time."""

SITES = ("aws-use1", "aws-usw2", "gcp-euw1")
"""Sites in preference order."""

ADDRESSES = {
    "aws-use1": ("192.0.2.1", "192.0.2.2"),
    "aws-usw2": ("198.51.100.1", "198.51.100.2"),
    "gcp-euw1": ("203.0.113.1",),
}
"""The addresses of each site's locators (documentation ranges)."""


def whack(
    service: str,
    active: str | None,
    *,
    version: int = 1,
    epoch: int = 1,
    ttl: int = 30,
    down: tuple[str, ...] = (),
    action: Action = Action.NONE,
    addresses: Lookup[str, tuple[str, ...]] | None = None,
) -> Mapping:
    """A whack-a-mole mapping: the active site at priority 1, the others 2, 3, … in order."""
    chosen = addresses or ADDRESSES
    order = [active] if active else []
    order += [site for site in SITES if site != active and site in chosen]
    locators = tuple(
        Locator(
            id=f"{service}@{site}/{n}",
            site=site,
            address=address,
            port=443,
            priority=rank,
            weight=100,
            state=State.DOWN if site in down else State.UP,
        )
        for rank, site in enumerate(order, 1)
        for n, address in enumerate(chosen[site])
    )
    return Mapping(service, version, epoch, ttl, active, locators, action=action)


def weighted(service: str, weights: dict[str, int], *, version: int = 1) -> Mapping:
    """An active-active mapping: one locator per site, all at priority 1, with ``weights``."""
    locators = tuple(
        Locator(
            id=f"{service}@{site}/0",
            site=site,
            address=ADDRESSES[site][0],
            port=443,
            priority=1,
            weight=weight,
            state=State.UP,
        )
        for site, weight in weights.items()
    )
    return Mapping(service, version, 1, 30, next(iter(weights)), locators)


def listed(moto: MotoServer, zone_id: str) -> dict[tuple[str, str, str | None], Any]:
    """The zone's record sets as boto3 lists them: (name, type, set id) -> (weight, values)."""
    answer = client(moto.endpoint_url, "route53").list_resource_record_sets(HostedZoneId=zone_id)
    return {
        (r["Name"], r["Type"], r.get("SetIdentifier")): (
            r.get("Weight"),
            sorted(v["Value"] for v in r.get("ResourceRecords", [])),
        )
        for r in answer["ResourceRecordSets"]
        if r["Type"] in ("A", "AAAA", "TXT")
    }


@dataclass(slots=True)
class _Body:
    content: bytes

    def stream(self, **_kwargs: object) -> Iterator[bytes]:
        yield self.content


def throttled(url: str) -> AWSResponse:
    """The answer Route 53 gives past its request rate: HTTP 400, code Throttling."""
    body = (
        b'<?xml version="1.0"?>\n<ErrorResponse xmlns="https://route53.amazonaws.com/doc/'
        b'2013-04-01/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate '
        b"exceeded</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"
    )
    return AWSResponse(url, 400, {"content-type": "text/xml"}, _Body(body))


def pending_change(url: str) -> AWSResponse:
    """A ``GetChange`` answer saying the change has not reached every Route 53 server yet."""
    body = (
        b'<?xml version="1.0"?>\n<GetChangeResponse xmlns="https://route53.amazonaws.com/'
        b'doc/2013-04-01/"><ChangeInfo><Id>/change/C1</Id><Status>PENDING</Status>'
        b"<SubmittedAt>2024-01-01T00:00:00Z</SubmittedAt></ChangeInfo></GetChangeResponse>"
    )
    return AWSResponse(url, 200, {"content-type": "text/xml"}, _Body(body))
