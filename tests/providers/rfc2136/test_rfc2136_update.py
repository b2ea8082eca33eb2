"""Update messages built from changes: prerequisites, and packing under the size limit."""

from __future__ import annotations

import base64
import math
import random

import dns.message
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.update
import pytest
from rfc2136_samples import ORIGIN, ZONE, mapping

from gtm.config.providers import Rfc2136Provider
from gtm.core.changes import Change, ChangeKind, diff
from gtm.providers.rfc2136 import RecordSet, Rfc2136
from gtm.providers.rfc2136_update import MAX_CHANGES, add_change, build_updates

KEY = dns.tsig.Key("gtm-key.", base64.b64encode(bytes(range(32))).decode(), "hmac-sha256")

OLD = RecordSet("billing.gtm.example.test.", "A", 30, ("192.0.2.10",))
NEW = RecordSet("billing.gtm.example.test.", "A", 60, ("198.51.100.20", "198.51.100.21"))


def on_wire(
    kind: ChangeKind, before: RecordSet | None, after: RecordSet | None
) -> tuple[list[str], list[str]]:
    """The prerequisite and update RRs one change puts on the wire, as ``name ttl class
    type data`` (the class a server sees: NONE and ANY mark absence and deletion)."""
    record = after or before
    assert record is not None
    message = dns.update.UpdateMessage(ORIGIN)
    add_change(message, Change(kind, record.key, "billing", before, after))
    parsed = dns.message.from_wire(message.to_wire())
    assert isinstance(parsed, dns.update.UpdateMessage)

    def lines(section: list[dns.rrset.RRset]) -> list[str]:
        return [
            f"{r.name} {r.ttl} {dns.rdataclass.to_text(r.deleting or r.rdclass)} "
            f"{dns.rdatatype.to_text(r.rdtype)} {' '.join(rd.to_text() for rd in r)}".strip()
            for r in section
        ]

    return lines(parsed.prerequisite), lines(parsed.update)


def test_create_requires_the_record_set_to_be_absent() -> None:
    prereq, update = on_wire(ChangeKind.CREATE, None, NEW)

    assert prereq == ["billing.gtm.example.test. 0 NONE A"]
    assert update == [
        "billing.gtm.example.test. 60 IN A 198.51.100.20",
        "billing.gtm.example.test. 60 IN A 198.51.100.21",
    ]


def test_update_requires_exactly_the_observed_records_then_replaces_them() -> None:
    prereq, update = on_wire(ChangeKind.UPDATE, OLD, NEW)

    # Value-dependent: class IN and TTL 0, the records as observed (RFC 2136 2.4.2).
    assert prereq == ["billing.gtm.example.test. 0 IN A 192.0.2.10"]
    assert update == [
        "billing.gtm.example.test. 0 ANY A",
        "billing.gtm.example.test. 60 IN A 198.51.100.20",
        "billing.gtm.example.test. 60 IN A 198.51.100.21",
    ]


def test_delete_requires_exactly_the_observed_records() -> None:
    prereq, update = on_wire(ChangeKind.DELETE, OLD, None)

    assert prereq == ["billing.gtm.example.test. 0 IN A 192.0.2.10"]
    assert update == ["billing.gtm.example.test. 0 ANY A"]


def creations(count: int) -> list[Change[RecordSet]]:
    """The changes that put ``count`` sample services into an empty zone."""
    config = Rfc2136Provider.model_validate({"type": "rfc2136", "server": "127.0.0.1:53"})
    provider = Rfc2136("bind-main", config, ZONE)
    return diff(provider.desired([mapping(f"svc-{i:04d}") for i in range(count)]), {})


def test_thousand_services_pack_into_few_messages_under_the_limit() -> None:
    changes = creations(1000)
    limit = 4096

    messages = build_updates(ORIGIN, changes, KEY, limit)

    wires = [m.to_wire() for m in messages]
    assert all(len(wire) <= limit for wire in wires)
    # Every change is sent once, guarded by its prerequisite, and the messages are signed.
    assert sum(len(m.prerequisite) for m in messages) == len(changes)
    for wire in wires:
        assert dns.message.from_wire(wire, keyring=KEY).had_tsig
    # A service moves in one message: no service's names are split across two.
    per_message = [{rrset.name.labels[-5] for rrset in m.prerequisite} for m in messages]
    assert sum(len(services) for services in per_message) == 1000
    # Messages are filled: each but the last leaves less room unused than one service
    # takes, so the count is bounded by the bytes sent over what a message surely holds.
    one = [c for c in changes if c.service == "svc-0000"]
    service = len(build_updates(ORIGIN, one, KEY, limit)[0].to_wire())
    assert len(messages) <= math.ceil(sum(map(len, wires)) / (limit - service)) + 1


def test_changes_that_fit_go_in_one_message() -> None:
    changes = creations(20)

    messages = build_updates(ORIGIN, changes, KEY, 32768)

    assert len(messages) == 1
    assert len(messages[0].prerequisite) == len(changes)


def test_a_message_carries_at_most_max_changes_whatever_their_size() -> None:
    tiny = [
        Change(
            ChangeKind.CREATE,
            f"s{i}",
            f"s{i}",
            None,
            RecordSet(f"s{i}.{ZONE}", "A", 1, ("192.0.2.1",)),
        )
        for i in range(MAX_CHANGES + 1)
    ]

    messages = build_updates(ORIGIN, tiny, None, 65535)

    assert [len(m.prerequisite) for m in messages] == [MAX_CHANGES, 1]


def test_unsigned_messages_carry_no_tsig() -> None:
    (message,) = build_updates(ORIGIN, creations(1), None, 32768)

    assert not dns.message.from_wire(message.to_wire()).had_tsig


def test_a_change_too_large_for_any_message_is_refused_with_its_size() -> None:
    huge = RecordSet(f"billing.{ZONE}", "A", 30, tuple(f"192.0.2.{i}" for i in range(1, 100)))
    change = Change(ChangeKind.CREATE, huge.key, "billing", None, huge)

    with pytest.raises(
        ValueError,
        match=r"billing\.gtm\.example\.test\. A needs \d+ bytes, more than the max_message of 512",
    ):
        build_updates(ORIGIN, [change], KEY, 512)


@pytest.mark.parametrize("limit", [900, 1400, 20000, 65535])
def test_mixed_changes_never_exceed_the_limit(limit: int) -> None:
    # Limits above 16 KiB matter: names past that offset cannot be pointed at.
    rng = random.Random(limit)
    sites = ["aws-use1", "gcp-euw1", "dc-paris"]
    config = Rfc2136Provider.model_validate({"type": "rfc2136", "server": "127.0.0.1:53"})
    provider = Rfc2136("bind-main", config, ZONE)
    names = [f"s{i}-{'x' * rng.randrange(1, 40)}" for i in range(250)]
    before = provider.desired([mapping(n, rng.choice(sites)) for n in names[:200]])
    after = provider.desired([mapping(n, rng.choice(sites), version=2) for n in names[50:]])
    changes = diff(after, before)
    assert {c.kind for c in changes} == set(ChangeKind)

    messages = build_updates(ORIGIN, changes, KEY, limit)

    assert max(len(m.to_wire()) for m in messages) <= limit
    # Prerequisites come one RR per RRset; each change has prerequisites at one name and type.
    guarded = [{(r.name, r.rdtype) for r in m.prerequisite} for m in messages]
    assert sum(map(len, guarded)) == len(changes)
