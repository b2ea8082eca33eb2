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
from gtm.providers.rfc2136_update import MAX_CHANGES, Update, build_updates

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
    (update,) = build_updates(
        ORIGIN, [Change(kind, record.key, "billing", before, after)], None, 65535
    )
    parsed = read(update)

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


def read(update: Update) -> dns.update.UpdateMessage:
    """The message as a server reads it, its signature checked when it has one."""
    parsed = dns.message.from_wire(update.wire, keyring=KEY if update.mac else None)
    assert isinstance(parsed, dns.update.UpdateMessage)
    return parsed


def test_the_bytes_say_what_dnspython_would_say() -> None:
    changes = creations(30)
    for kind, before, after in ((ChangeKind.UPDATE, OLD, NEW), (ChangeKind.DELETE, OLD, None)):
        changes.append(Change(kind, OLD.key, "billing", before, after))
    changes.sort(key=lambda change: change.service)  # messages keep a service's changes together
    reference = dns.update.UpdateMessage(ORIGIN)
    for change in changes:
        record = change.after or change.before
        assert record is not None
        if change.kind is ChangeKind.CREATE:
            reference.absent(record.name(), record.rdtype)
            reference.add(record.name(), record.ttl, *record.rdata_objects())
            continue
        assert change.before is not None
        reference.present(record.name(), *change.before.rdata_objects())
        if change.after is not None:
            reference.replace(record.name(), change.after.ttl, *change.after.rdata_objects())
        else:
            reference.delete(record.name(), record.rdtype)

    (update,) = build_updates(ORIGIN, changes, KEY, 65535)

    theirs = dns.message.from_wire(reference.to_wire())
    ours = read(update)
    assert isinstance(theirs, dns.update.UpdateMessage)
    assert ours.zone == theirs.zone
    assert ours.prerequisite == theirs.prerequisite
    assert ours.update == theirs.update
    assert ours.had_tsig


def creations(count: int) -> list[Change[RecordSet]]:
    """The changes that put ``count`` sample services into an empty zone."""
    config = Rfc2136Provider.model_validate({"type": "rfc2136", "server": "127.0.0.1:53"})
    provider = Rfc2136("bind-main", config, ZONE)
    return diff(provider.desired([mapping(f"svc-{i:04d}") for i in range(count)]), {})


def test_thousand_services_pack_into_few_messages_under_the_limit() -> None:
    changes = creations(1000)
    limit = 4096

    updates = build_updates(ORIGIN, changes, KEY, limit)

    wires = [u.wire for u in updates]
    messages = [read(u) for u in updates]
    assert all(len(wire) <= limit for wire in wires)
    # Every change is sent once, guarded by its prerequisite, and the messages are signed.
    assert sum(len(m.prerequisite) for m in messages) == len(changes)
    assert all(m.had_tsig for m in messages)
    # A service moves in one message: no service's names are split across two.
    per_message = [{rrset.name.labels[-5] for rrset in m.prerequisite} for m in messages]
    assert sum(len(services) for services in per_message) == 1000
    # Messages are filled: each but the last leaves less room unused than one service
    # takes, so the count is bounded by the bytes sent over what a message surely holds.
    one = [c for c in changes if c.service == "svc-0000"]
    service = len(build_updates(ORIGIN, one, KEY, limit)[0].wire)
    assert len(messages) <= math.ceil(sum(map(len, wires)) / (limit - service)) + 1


def test_changes_that_fit_go_in_one_message() -> None:
    changes = creations(20)

    updates = build_updates(ORIGIN, changes, KEY, 32768)

    assert len(updates) == 1
    assert len(read(updates[0]).prerequisite) == len(changes)


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

    updates = build_updates(ORIGIN, tiny, None, 65535)

    assert [len(read(u).prerequisite) for u in updates] == [MAX_CHANGES, 1]


def test_unsigned_messages_carry_no_tsig() -> None:
    (update,) = build_updates(ORIGIN, creations(1), None, 32768)

    assert not read(update).had_tsig and update.mac == b""


def test_a_change_too_large_for_any_message_is_refused_with_its_size() -> None:
    huge = RecordSet(f"billing.{ZONE}", "A", 30, tuple(f"192.0.2.{i}" for i in range(1, 100)))
    change = Change(ChangeKind.CREATE, huge.key, "billing", None, huge)

    with pytest.raises(
        ValueError,
        match=r"billing\.gtm\.example\.test\. A needs \d+ bytes, more than the max_message of 512",
    ):
        build_updates(ORIGIN, [change], KEY, 512)


@pytest.mark.parametrize("limit", [1000, 1400, 20000, 65535])
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

    updates = build_updates(ORIGIN, changes, KEY, limit)

    assert max(len(u.wire) for u in updates) <= limit
    # Prerequisites come one RR per RRset; each change has prerequisites at one name and type.
    guarded = [{(r.name, r.rdtype) for r in read(u).prerequisite} for u in updates]
    assert sum(map(len, guarded)) == len(changes)
