"""Zone transfers from the responder, asked over real TCP with dnspython as a secondary would:
AXFR, IXFR (incremental, up to date, too old), TSIG across messages, refusals, NOTIFY."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import random
import socket
from collections.abc import Iterable, Iterator

import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.tsig
import dns.xfr
import dns.zone
import pytest
from dns.rdatatype import RdataType
from dns_samples import ZONE, FakeSource, billing_mapping
from transfer_fixtures import Primary, fresh_log_throttle, moved, services

from gtm.core.model import NEVER, Action, Locator, Mapping, State
from gtm.core.transfer import IxfrKind, Network
from gtm.dns import ZoneAnswers
from gtm.dns.notify import Notifier
from gtm.dns.records import is_hidden, service_nodes
from gtm.dns.transfer import client_address, transfer_type
from gtm.dns.versions import (
    SETTLE_AT,
    Difference,
    ZoneVersions,
    record_wire,
    service_records,
)
from testbed.bind import ADDRESS

LOOPBACK: list[Network] = [ipaddress.ip_network("127.0.0.0/8")]
KEY = dns.tsig.Key("xfr-key.", b"k" * 32, "hmac-sha256")
TIMEOUT = 10.0
__all__ = ["fresh_log_throttle"]  # autouse, from transfer_fixtures


@pytest.fixture
def make_primary() -> Iterator[type[Primary]]:
    """Build and start Primary servers; every one is stopped after the test."""
    made: list[Primary] = []

    def make(mappings: list[Mapping], **options: object) -> Primary:
        options.setdefault("allow", LOOPBACK)
        options.setdefault("key", None)
        options.setdefault("notify", [])
        primary = Primary(mappings, **options)  # type: ignore[arg-type]
        made.append(primary)
        primary.start()
        return primary

    yield make  # type: ignore[misc]
    for primary in made:
        primary.stop()


def axfr(primary: Primary, **options: object) -> dns.zone.Zone:
    """The zone as an AXFR from ``primary`` gives it (raises TransferError on a refusal)."""
    zone = dns.zone.Zone(ZONE)
    query, _ = dns.xfr.make_query(zone, serial=None, **options)  # type: ignore[arg-type]
    dns.query.inbound_xfr(ADDRESS, zone, query, port=primary.port, timeout=TIMEOUT)
    return zone


def ixfr(primary: Primary, zone: dns.zone.Zone, **options: object) -> None:
    """Bring ``zone`` up to date by IXFR from the serial it holds."""
    query, _ = dns.xfr.make_query(zone, **options)  # type: ignore[arg-type]
    dns.query.inbound_xfr(ADDRESS, zone, query, port=primary.port, timeout=TIMEOUT)


def serial_of(zone: dns.zone.Zone) -> int:
    return int(zone.find_rdataset("@", "SOA")[0].serial)


def addresses(zone: dns.zone.Zone, name: str) -> set[str]:
    rdataset = zone.get_rdataset(name, "A")
    return {rd.address for rd in rdataset} if rdataset else set()


def first_answer(primary: Primary, query: dns.message.Message, source: str) -> bytes:
    """The first message the server sends back for ``query`` over TCP from ``source``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(TIMEOUT)
        sock.bind((source, 0))
        sock.connect((ADDRESS, primary.port))
        wire = query.to_wire()
        sock.sendall(len(wire).to_bytes(2, "big") + wire)
        head = sock.recv(2, socket.MSG_WAITALL)
        return sock.recv(int.from_bytes(head, "big"), socket.MSG_WAITALL)


@pytest.mark.parametrize(
    ("wire", "found"),
    [
        (dns.message.make_query(ZONE, "AXFR").to_wire(), RdataType.AXFR),
        (dns.message.make_query(ZONE, "IXFR").to_wire(), RdataType.IXFR),
        (dns.message.make_query(ZONE, "SOA").to_wire(), None),
        (dns.message.make_query("billing." + ZONE, "A").to_wire(), None),
        (b"\x00\x01", None),
        # A response, not a query.
        (dns.message.make_response(dns.message.make_query(ZONE, "AXFR")).to_wire(), None),
        # A name that runs past the end of the message.
        (dns.message.make_query(ZONE, "AXFR").to_wire()[:20], None),
        # A compressed question name.
        (b"\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\xfc\x00\x01", None),
    ],
)
def test_transfer_type(wire: bytes, found: RdataType | None) -> None:
    assert transfer_type(wire) == found


def test_axfr_holds_every_name_the_responder_answers(make_primary: type[Primary]) -> None:
    primary = make_primary(services(3))
    zone = axfr(primary)
    assert serial_of(zone) == primary.answers.serial
    assert addresses(zone, "billing") == {"192.0.2.10"}
    assert addresses(zone, "aws-use1.billing") == {"192.0.2.10"}
    assert addresses(zone, "svc-002") == {"192.0.2.3"}
    srv = zone.find_rdataset("billing", "SRV")
    assert {rd.port for rd in srv} == {443, 8443}
    assert zone.find_rdataset("@", "NS")
    txt = zone.find_rdataset("billing", "TXT")
    assert "epoch=3" in txt.to_text()


def test_ixfr_brings_a_secondary_up_to_date_with_the_difference(
    make_primary: type[Primary], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gtm.dns")
    primary = make_primary(services(3))
    zone = axfr(primary)
    first = serial_of(zone)
    for mapping in list(primary.source.mappings.values()):
        primary.publish(moved(mapping))
        assert primary.answers.serial  # read: the next change is a version of its own
    ixfr(primary, zone)
    current = primary.answers.serial
    assert serial_of(zone) == current
    assert addresses(zone, "billing") == {"198.51.100.20"}
    assert addresses(zone, "svc-002") == {"198.51.100.3"}
    assert zone == axfr(primary)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("dns: IXFR")]
    assert len(lines) == 1
    assert lines[0].startswith(
        f"dns: IXFR of {ZONE} to 127.0.0.1 from serial {first} to {current}: 4 version(s), "
    )
    # Up to date: the SOA alone, and the zone stays as it is.
    ixfr(primary, zone)
    assert zone == axfr(primary)
    assert any(f"up to date at serial {current}" in r.getMessage() for r in caplog.records)


def test_a_burst_of_changes_no_serial_was_read_between_is_one_version(
    make_primary: type[Primary],
) -> None:
    primary = make_primary(services(3))
    zone = axfr(primary)
    primary.publish(*(moved(m) for m in primary.source.mappings.values()))
    ixfr(primary, zone)
    assert len(primary.versions.journal) == 1
    assert serial_of(zone) == serial_of(axfr(primary)) == primary.answers.serial
    assert zone == axfr(primary)


def test_ixfr_from_a_serial_the_journal_no_longer_holds_gets_the_whole_zone(
    make_primary: type[Primary], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gtm.dns")
    primary = make_primary(services(3), limit=2)
    zone = axfr(primary)
    for mapping in list(primary.source.mappings.values()):
        primary.publish(moved(mapping))
        assert primary.answers.serial  # read: the next change is a version of its own
    ixfr(primary, zone)
    assert len(primary.versions.journal) == 2
    assert zone == axfr(primary)
    assert any("not in the journal, the whole zone" in r.getMessage() for r in caplog.records)


def test_a_zone_too_big_for_one_message_goes_in_several_signed_ones(
    make_primary: type[Primary],
) -> None:
    primary = make_primary(services(600), key=KEY)
    # dnspython checks each message's signature, chained to the one before (RFC 8945).
    found = list(dns.query.xfr(ADDRESS, ZONE, port=primary.port, keyring=KEY, timeout=TIMEOUT))
    assert len(found) > 1
    assert all(message.had_tsig for message in found)
    zone = axfr(primary, keyring=KEY, keyname=KEY.name)
    assert addresses(zone, "svc-599") == {"192.0.2.100"}


@pytest.mark.parametrize(
    ("allow", "key", "query_key", "source", "rcode"),
    [
        # From an address not allowed, signed or not.
        ([ipaddress.ip_network("127.0.0.2/32")], None, None, "127.0.0.3", dns.rcode.REFUSED),
        ([ipaddress.ip_network("127.0.0.2/32")], KEY, KEY, "127.0.0.3", dns.rcode.REFUSED),
        # No one allowed.
        ([], None, None, "127.0.0.1", dns.rcode.REFUSED),
        # A key required and the request not signed.
        (LOOPBACK, KEY, None, "127.0.0.1", dns.rcode.REFUSED),
        # Signed with a key we do not hold, or one with another secret.
        (LOOPBACK, KEY, dns.tsig.Key("other.", b"k" * 32), "127.0.0.1", dns.rcode.NOTAUTH),
        (LOOPBACK, KEY, dns.tsig.Key("xfr-key.", b"x" * 32), "127.0.0.1", dns.rcode.NOTAUTH),
        (LOOPBACK, None, KEY, "127.0.0.1", dns.rcode.NOTAUTH),
    ],
)
def test_transfers_refused(
    make_primary: type[Primary],
    caplog: pytest.LogCaptureFixture,
    allow: list[Network],
    key: dns.tsig.Key | None,
    query_key: dns.tsig.Key | None,
    source: str,
    rcode: dns.rcode.Rcode,
) -> None:
    caplog.set_level(logging.WARNING, logger="gtm.dns")
    primary = make_primary(services(1), allow=allow, key=key)
    query = dns.message.make_query(ZONE, RdataType.AXFR)
    if query_key is not None:
        query.use_tsig(query_key)
    answer = first_answer(primary, query, source)
    assert answer[:2] == query.to_wire()[:2]
    assert answer[3] & 0x0F == rcode
    assert any(f"refused with {rcode.name}" in r.getMessage() for r in caplog.records)


def test_transfers_are_refused_over_udp(make_primary: type[Primary]) -> None:
    primary = make_primary(services(1))
    for rdtype in (RdataType.AXFR, RdataType.IXFR):
        query = dns.message.make_query(ZONE, rdtype)
        answer = dns.query.udp(query, ADDRESS, port=primary.port, timeout=TIMEOUT)
        assert answer.rcode() == dns.rcode.REFUSED


def test_transfer_of_another_zone_is_refused(make_primary: type[Primary]) -> None:
    primary = make_primary(services(1))
    query = dns.message.make_query("billing." + ZONE, RdataType.AXFR)
    answer = dns.query.tcp(query, ADDRESS, port=primary.port, timeout=TIMEOUT)
    assert answer.rcode() == dns.rcode.REFUSED


def test_signed_queries_are_answered_signed_and_bad_signatures_notauth(
    make_primary: type[Primary],
) -> None:
    primary = make_primary(services(1), key=KEY)
    query = dns.message.make_query(ZONE, "SOA")
    query.use_tsig(KEY)
    answer = dns.query.udp(query, ADDRESS, port=primary.port, timeout=TIMEOUT)
    assert answer.had_tsig and answer.rcode() == dns.rcode.NOERROR
    assert answer.answer[0][0].serial == primary.answers.serial
    forged = dns.message.make_query(ZONE, "SOA")
    forged.use_tsig(dns.tsig.Key("xfr-key.", b"x" * 32, "hmac-sha256"))
    wire = forged.to_wire()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(TIMEOUT)
        sock.sendto(wire, (ADDRESS, primary.port))
        data = sock.recv(4096)
    assert data[:2] == wire[:2] and data[3] & 0x0F == dns.rcode.NOTAUTH


def owners(records: Iterable[bytes]) -> set[str]:
    """The owner names of records in wire format."""
    return {dns.name.from_wire(record, 0)[0].to_text() for record in records}


def test_versions_follow_every_change_and_drop_hidden_names() -> None:
    billing = billing_mapping()
    versions = ZoneVersions(ZONE, [billing], limit=3)
    versions.start_at(100)
    assert asyncio.run(versions.settle()) == 100
    names = owners(versions.records())
    assert names == {f"billing.{ZONE}", f"aws-use1.billing.{ZONE}", f"gcp-euw1.billing.{ZONE}"}
    hidden = dataclasses.replace(
        billing, version=8, active_site=None, locators=(), action=Action.NXDOMAIN
    )
    versions.record(hidden, 100, 101)
    assert owners(versions.records()) == names  # noted, not built yet
    assert asyncio.run(versions.settle()) == 101
    assert list(versions.records()) == []
    [version] = versions.journal
    assert (version.start, version.end, version.added) == (100, 101, frozenset())
    assert owners(version.removed) == names
    versions.record(moved(billing), 101, 102)
    asyncio.run(versions.settle())
    difference = versions.since(100, 102)
    assert isinstance(difference, Difference) and difference.versions == 2
    assert owners(difference.added) <= names and not difference.removed & difference.added
    versions.record(billing, 102, 103)
    versions.record(billing, 103, 104)
    assert asyncio.run(versions.settle()) == 104
    assert [v.start for v in versions.journal] == [101, 102, 103]
    assert versions.since(100, 104) is IxfrKind.FULL


def test_changes_with_the_same_serials_are_one_version_even_across_batches() -> None:
    billing = billing_mapping()
    versions = ZoneVersions(ZONE, [billing], limit=3)
    versions.start_at(100)
    asyncio.run(versions.settle())
    before = set(versions.records())
    hidden = dataclasses.replace(
        billing, version=8, active_site=None, locators=(), action=Action.NXDOMAIN
    )
    versions.record(moved(billing), 100, 101)
    asyncio.run(versions.settle())  # built on its own (a transfer asked, or SETTLE_AT)
    versions.record(hidden, 100, 101)
    versions.record(billing, 100, 101)  # back as it was: nothing to transfer
    versions.record(hidden, 101, 102)
    assert asyncio.run(versions.settle()) == 102
    first, second = versions.journal
    assert (first.start, first.end, first.removed, first.added) == (100, 101, set(), set())
    assert (second.start, second.end, second.added) == (101, 102, frozenset())
    assert second.removed == before


def test_notifier_gives_up_on_a_secondary_that_never_answers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="gtm.dns")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind((ADDRESS, 0))
        port = silent.getsockname()[1]

        async def run() -> int:
            source = FakeSource(billing_mapping())
            answers = ZoneAnswers(ZONE, source)
            notifier = Notifier(answers, source, [(ADDRESS, port)], first_timeout=0.05, attempts=2)
            await notifier.start()
            try:
                while not any("given up" in r.getMessage() for r in caplog.records):
                    await asyncio.sleep(0.02)
                return notifier.sent
            finally:
                await notifier.close()
                answers.close()

        sent = asyncio.run(asyncio.wait_for(run(), 60))
        notify = dns.message.from_wire(silent.recv(4096))
    assert sent == 0
    assert notify.opcode() == dns.opcode.NOTIFY
    assert notify.question[0].name == dns.name.from_text(ZONE)
    assert notify.answer[0].rdtype == RdataType.SOA


def rrset_records(mapping: Mapping) -> frozenset[bytes]:
    """The records of ``service_nodes``, rendered by dnspython, one wire per record."""
    if is_hidden(mapping):
        return frozenset()
    nodes = service_nodes(mapping, dns.name.from_text(ZONE))
    return frozenset(
        record_wire(name, rrset.ttl, rdata)
        for name, node in nodes.items()
        for rrset in node.values()
        for rdata in rrset
    )


def test_records_built_as_bytes_are_the_records_the_responder_serves() -> None:
    """Over many random mappings, the bytes name for name what ``service_nodes`` holds."""
    rng = random.Random(11)
    addresses = [
        "192.0.2.1",
        "192.0.2.2",
        "2001:db8::1",
        "2001:DB8:0::2",
        "lb.example.net",
        "bad..host",
        "192.0.2.1",
    ]
    sites = ["aws-use1", "gcp-euw1", "dc-paris", "é-site"]
    origin = dns.name.from_text(ZONE)
    for number in range(400):
        locators = tuple(
            Locator(
                f"l{i}",
                rng.choice(sites),
                rng.choice(addresses),
                rng.choice([53, 443, 8443]),
                rng.choice([1, 2, 3, NEVER]),
                rng.choice([0, 50, 100]),
                rng.choice(list(State)),
            )
            for i in range(rng.randint(0, 5))
        )
        mapping = Mapping(
            service=rng.choice(["billing", "svc-1", "Search", "bad service"]),
            version=number + 1,
            epoch=rng.randint(1, 9),
            ttl=rng.choice([5, 30]),
            active_site=rng.choice([None, *sites[:3]]),
            locators=locators,
            action=rng.choice(list(Action)),
        )
        assert service_records(mapping, origin) == rrset_records(mapping), mapping


def test_changes_no_transfer_asks_for_are_built_once_enough_wait() -> None:
    async def run() -> tuple[int, int]:
        billing = billing_mapping()
        versions = ZoneVersions(ZONE, [billing], limit=10)
        versions.start_at(0)
        for serial in range(SETTLE_AT):
            versions.record(billing, serial, serial + 1)
        for _ in range(1000):
            if len(versions.journal) == 10:
                break
            await asyncio.sleep(0.01)
        return len(versions.journal), await versions.settle()

    assert asyncio.run(run()) == (10, SETTLE_AT)


@pytest.mark.parametrize(
    ("client", "address"),
    [
        ("192.0.2.53", "192.0.2.53"),
        ("::ffff:192.0.2.53", "192.0.2.53"),
        ("2001:db8::53", "2001:db8::53"),
        ("", "::"),
    ],
)
def test_client_addresses_are_read_as_the_allow_list_is_written(client: str, address: str) -> None:
    assert client_address(client) == ipaddress.ip_address(address)
