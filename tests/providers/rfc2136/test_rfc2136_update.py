"""Update messages built from changes: prerequisites, and packing under the size limit."""

from __future__ import annotations

import base64

import dns.message
import dns.rdataclass
import dns.rdatatype
import dns.tsig
import dns.update
import pytest
from rfc2136_samples import ORIGIN, ZONE, mapping

from gtm.config.providers import Rfc2136Provider
from gtm.providers.base import Change, ChangeKind, diff
from gtm.providers.rfc2136 import RecordSet, Rfc2136
from gtm.providers.rfc2136_update import MAX_CHANGES, add_change, build_updates

KEY = dns.tsig.Key("gtm-key.", base64.b64encode(bytes(range(32))).decode(), "hmac-sha256")

OLD = RecordSet("billing.gtm.example.test.", "A", 30, ("192.0.2.10",))
NEW = RecordSet("billing.gtm.example.test.", "A", 60, ("198.51.100.20", "198.51.100.21"))


def message_for(kind: ChangeKind, before: RecordSet | None, after: RecordSet | None) -> str:
    message = dns.update.UpdateMessage(ORIGIN)
    add_change(message, Change(kind, (before or after).key, "billing", before, after))  # type: ignore[union-attr]
    return message.to_text()


def sections(text: str) -> tuple[list[str], list[str]]:
    """The prerequisite and update lines of an update message in text form."""
    prereq = text.split(";PREREQ\n")[1].split(";UPDATE\n")[0].splitlines()
    update = text.split(";UPDATE\n")[1].splitlines()
    return prereq, update


def test_create_requires_the_record_set_to_be_absent() -> None:
    prereq, update = sections(message_for(ChangeKind.CREATE, None, NEW))

    assert prereq == ["billing.gtm.example.test. 0 NONE A"]
    assert update == [
        "billing.gtm.example.test. 60 IN A 198.51.100.20",
        "billing.gtm.example.test. 60 IN A 198.51.100.21",
    ]


def test_update_requires_exactly_the_observed_records_then_replaces_them() -> None:
    prereq, update = sections(message_for(ChangeKind.UPDATE, OLD, NEW))

    # Value-dependent: class IN and TTL 0, the records as observed (RFC 2136 2.4.2).
    assert prereq == ["billing.gtm.example.test. 0 IN A 192.0.2.10"]
    assert update == [
        "billing.gtm.example.test. 0 ANY A",
        "billing.gtm.example.test. 60 IN A 198.51.100.20",
        "billing.gtm.example.test. 60 IN A 198.51.100.21",
    ]


def test_delete_requires_exactly_the_observed_records() -> None:
    prereq, update = sections(message_for(ChangeKind.DELETE, OLD, None))

    assert prereq == ["billing.gtm.example.test. 0 IN A 192.0.2.10"]
    assert update == ["billing.gtm.example.test. 0 ANY A"]


def creations(count: int) -> list[Change[RecordSet]]:
    """The changes that put ``count`` sample services into an empty zone."""
    config = Rfc2136Provider.model_validate({"type": "rfc2136", "server": "127.0.0.1:53"})
    provider = Rfc2136("bind-main", config, ZONE)
    return diff(provider.desired([mapping(f"svc-{i:04d}") for i in range(count)]), {})


def cost(change: Change[RecordSet]) -> int:
    """Bytes a change adds to a message, measured alone (an upper bound when shared)."""
    alone = dns.update.UpdateMessage(ORIGIN)
    add_change(alone, change)
    return len(alone.to_wire()) - len(dns.update.UpdateMessage(ORIGIN).to_wire())


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
    # A service moves in one message: its names are never split across two.
    services = [{rrset.name.labels[-4] for rrset in m.prerequisite} for m in messages]
    assert sum(len(s) for s in services) == 1000
    # Each message but the last was filled until the next service did not fit, so the
    # count is bounded by the bytes to send over the room a message has.
    base = len(dns.update.UpdateMessage(ORIGIN, keyring=KEY).to_wire())
    group = max(sum(cost(c) for c in changes if c.service == s) for s in {"svc-0000"})
    room = limit - base - group
    total = sum(cost(c) for c in changes)
    assert len(messages) > 1
    assert len(messages) <= total // room + 1


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
    (message,) = build_updates(ORIGIN, creations(1), None, 512)

    assert not dns.message.from_wire(message.to_wire()).had_tsig


def test_a_change_too_large_for_any_message_is_refused_with_its_size() -> None:
    huge = RecordSet(f"billing.{ZONE}", "A", 30, tuple(f"192.0.2.{i}" for i in range(1, 100)))
    change = Change(ChangeKind.CREATE, huge.key, "billing", None, huge)

    with pytest.raises(
        ValueError,
        match=r"billing\.gtm\.example\.test\. A needs \d+ bytes, more than the max_message of 512",
    ):
        build_updates(ORIGIN, [change], KEY, 512)
