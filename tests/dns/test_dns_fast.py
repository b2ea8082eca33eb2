"""The byte-level path for a service's A and AAAA gives the very bytes the full path does.

Each query is answered both ways and compared byte for byte; queries the byte-level path
must leave to the full path are shown to be left.
"""

from __future__ import annotations

import dataclasses

import dns.edns
import dns.flags
import dns.message
import dns.rdatatype
import pytest
from dns_samples import ZONE, FakeSource, billing_mapping

from gtm.core.model import Action, Locator, Mapping, State
from gtm.dns import ZoneAnswers
from gtm.dns.fast import read_simple


def mappings() -> list[Mapping]:
    billing = billing_mapping()
    twice = dataclasses.replace(
        billing,
        service="twice",
        locators=(
            Locator("twice@a/1", "a", "192.0.2.1", 80, 1, 100, State.UP),
            Locator("twice@a/2", "a", "192.0.2.1", 81, 1, 100, State.UP),
            Locator("twice@a/3", "a", "192.0.2.2", 80, 1, 100, State.UP),
            Locator("twice@a/4", "a", "lb.example.net", 80, 1, 100, State.UP),
        ),
    )
    many = dataclasses.replace(
        billing,
        service="many",
        locators=tuple(
            Locator(f"many@a/{n}", "a", f"2001:db8::{n:x}", 80, 1, 100, State.UP)
            for n in range(1, 31)
        ),
    )
    hidden = dataclasses.replace(
        billing,
        service="hidden",
        locators=tuple(dataclasses.replace(loc, state=State.DOWN) for loc in billing.locators),
        action=Action.NXDOMAIN,
    )
    return [billing, twice, many, hidden]


@pytest.fixture
def zone() -> ZoneAnswers:
    source = FakeSource(*mappings())
    return ZoneAnswers(ZONE, source, clock=lambda: 1000.0)


def both(zone: ZoneAnswers, wire: bytes, max_udp: int | None) -> tuple[bytes | None, bytes | None]:
    fast = zone._answer_fast(wire, max_udp)
    full = zone._answer(wire, max_udp)
    return (None if fast is None else fast[0]), full[0]


QUERIES = [
    pytest.param("billing", "A", {}, id="a"),
    pytest.param("billing", "AAAA", {}, id="aaaa"),
    pytest.param("BiLLing.GTM.example.TEST", "A", {}, id="mixed-case"),
    pytest.param("billing", "A", {"use_edns": 0}, id="edns"),
    pytest.param("billing", "A", {"use_edns": 0, "payload": 4096}, id="edns-large"),
    pytest.param("billing", "A", {"use_edns": 0, "ednsflags": dns.flags.DO}, id="edns-do"),
    pytest.param("billing", "A", {"flags": 0}, id="no-rd"),
    pytest.param("billing", "A", {"flags": dns.flags.RD | dns.flags.AD}, id="ad"),
    pytest.param("billing", "A", {"flags": dns.flags.RD | dns.flags.CD}, id="cd"),
    pytest.param("twice", "A", {}, id="an-address-twice-and-a-host-name"),
    pytest.param("many", "AAAA", {"use_edns": 0, "payload": 4096}, id="many-fit"),
]


@pytest.mark.parametrize(("name", "rdtype", "options"), QUERIES)
@pytest.mark.parametrize("max_udp", [1232, None], ids=["udp", "tcp"])
def test_the_byte_level_answer_is_the_full_paths(
    zone: ZoneAnswers, name: str, rdtype: str, options: dict[str, object], max_udp: int | None
) -> None:
    qname = name if name.lower().endswith(ZONE.rstrip(".").lower()) else f"{name}.{ZONE}"
    query = dns.message.make_query(qname, rdtype, **options)  # type: ignore[arg-type]
    query.id = 4242
    fast, full = both(zone, query.to_wire(), max_udp)
    assert fast is not None
    assert fast == full


LEFT = [
    pytest.param("billing", "TXT", {}, id="another-type"),
    pytest.param("gcp-euw1.billing", "A", {}, id="a-site-name"),
    pytest.param("nosuch", "A", {}, id="no-such-service"),
    pytest.param("hidden", "A", {}, id="hidden-service"),
    pytest.param("twice", "AAAA", {}, id="no-data"),
    pytest.param("billing.other.test.", "A", {}, id="outside-the-zone"),
    pytest.param("many", "AAAA", {}, id="does-not-fit-512"),
    pytest.param(
        "billing",
        "A",
        {"use_edns": 0, "options": [dns.edns.GenericOption(dns.edns.OptionType.COOKIE, b"c" * 8)]},
        id="edns-option",
    ),
    pytest.param("billing", "A", {"use_edns": 1}, id="edns-version-1"),
]


@pytest.mark.parametrize(("name", "rdtype", "options"), LEFT)
def test_other_questions_are_left_to_the_full_path(
    zone: ZoneAnswers, name: str, rdtype: str, options: dict[str, object]
) -> None:
    qname = name if name.endswith(".") else f"{name}.{ZONE}"
    query = dns.message.make_query(qname, rdtype, **options)  # type: ignore[arg-type]
    fast, full = both(zone, query.to_wire(), 1232)
    assert fast is None
    assert full is not None


@pytest.mark.parametrize(
    "wire",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\x00\x01\x01\x00\x00\x01" + bytes(6) + b"\x07billing", id="cut-short"),
        pytest.param(
            b"\x00\x01\x01\x00\x00\x01" + bytes(6) + b"\xc0\x0c\x00\x01\x00\x01", id="pointer"
        ),
        pytest.param(
            b"\x00\x01\x01\x00\x00\x01" + bytes(6) + b"\x00\x00\x01\x00\x01junk", id="trailing"
        ),
        pytest.param(
            b"\x00\x01\x01\x00\x00\x01" + bytes(6) + b"\x00\x00\x01\x00\x03", id="class-chaos"
        ),
        pytest.param(
            b"\x00\x01\x81\x00\x00\x01" + bytes(6) + b"\x00\x00\x01\x00\x01", id="a-response"
        ),
        pytest.param(
            b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01" + b"\x00\x00\x01\x00\x01",
            id="additional-missing",
        ),
    ],
)
def test_malformed_or_unusual_messages_are_not_simple(wire: bytes) -> None:
    assert read_simple(wire) is None


def test_a_changed_service_is_answered_from_its_new_mapping(zone: ZoneAnswers) -> None:
    query = dns.message.make_query(f"billing.{ZONE}", dns.rdatatype.A)
    before = zone.respond(query.to_wire(), max_udp=1232)
    source = zone._source
    assert isinstance(source, FakeSource)
    billing = source.get("billing")
    assert billing is not None
    moved = dataclasses.replace(
        billing,
        version=8,
        active_site="gcp-euw1",
        locators=tuple(
            dataclasses.replace(loc, state=State.DOWN) if loc.site == "aws-use1" else loc
            for loc in billing.locators
        ),
    )
    source.publish(moved)
    after = zone.respond(query.to_wire(), max_udp=1232)
    assert before is not None and after is not None
    answer = dns.message.from_wire(after)
    assert {rdata.address for rdata in answer.answer[0]} == {"198.51.100.20"}
    assert after == zone._answer(query.to_wire(), 1232)[0]
