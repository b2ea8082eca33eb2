"""The ``dns.transfer`` section: secondaries that copy the zone from gtm by AXFR and IXFR.

With it gtm is a hidden primary: BIND, Knot or NSD serve the zone to the world and
follow every change within a NOTIFY and an incremental transfer.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Self

from pydantic import Field, PlainValidator, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from gtm.config.listen import Listen
from gtm.config.problems import Problem, problems_error
from gtm.config.providers import TsigConfig
from gtm.config.section import Section

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _network(value: object) -> Network:
    if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError(
            "network",
            "{value} is not a network; expected an address or address/prefix "
            "such as 192.0.2.53 or 10.0.0.0/8",
            {"value": repr(value)},
        )
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise PydanticCustomError(
            "network",
            "{value} is not a network ({why}); expected an address or address/prefix "
            "such as 192.0.2.53 or 10.0.0.0/8",
            {"value": repr(value), "why": str(exc)},
        ) from None


AllowedNetwork = Annotated[
    Network,
    PlainValidator(_network),
    WithJsonSchema({"type": "string", "description": "an IP address or network (10.0.0.0/8)"}),
]
"""An IP network in CIDR notation; a bare address is a network of one."""


class TransferTsig(TsigConfig):
    """The TSIG key secondaries sign their transfer requests (and SOA queries) with."""


class TransferConfig(Section):
    """Zone transfers to secondaries (gtm as a hidden primary); off until ``allow`` is set."""

    allow: list[AllowedNetwork] = Field(default_factory=list)
    """Addresses or networks that may transfer the zone by AXFR or IXFR over TCP
    (``[192.0.2.53, 10.1.0.0/16]``); empty: transfers are refused to everyone."""
    tsig: TransferTsig | None = None
    """A key every transfer must be signed with, besides coming from ``allow``; signed SOA
    queries are answered signed, and NOTIFY messages are signed with it. None: the address
    alone decides."""
    notify: list[Listen] = Field(default_factory=list)
    """Secondaries told of every new zone version by NOTIFY (``192.0.2.53:53``); each is
    sent the latest serial, retried until it answers."""
    versions: int = Field(default=4096, ge=1, le=1_000_000)
    """Zone versions whose differences are kept for IXFR; a secondary further behind gets
    the whole zone. A site of N services lost is N versions."""

    @model_validator(mode="after")
    def _check_notify(self) -> Self:
        if self.notify and not self.allow:
            raise problems_error(
                [
                    Problem(
                        ("notify",),
                        "secondaries are notified but none may transfer the zone: "
                        "add their addresses to dns.transfer.allow",
                    )
                ]
            )
        return self
