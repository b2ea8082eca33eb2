"""The provider against a real BIND: apply, read back, moves, drift, conflicts, failures."""

from __future__ import annotations

import base64
import dataclasses
import math
import os
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import dns.asyncquery
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.tsig
import pytest
from rfc2136_samples import ORIGIN, make_provider, mapping, nsupdate

from gtm.core.changes import Change, diff
from gtm.core.model import Mapping
from gtm.dns.records import service_nodes
from gtm.errors import Rejected, Unavailable
from gtm.providers import rfc2136
from gtm.providers.rfc2136 import (
    PrerequisiteFailed,
    RecordSet,
    Rfc2136,
    Rfc2136Rejected,
    Rfc2136Unavailable,
)
from gtm.providers.rfc2136_update import Update, build_updates
from testbed.bind import BindServer


async def reconcile(provider: Rfc2136, *mappings: Mapping) -> list[Change[RecordSet]]:
    """One pass: observe, diff, apply; the changes it made."""
    changes = diff(provider.desired(mappings), await provider.observe())
    await provider.apply(changes)
    return changes


async def pending(provider: Rfc2136, *mappings: Mapping) -> list[Change[RecordSet]]:
    """What a pass would still change: empty once the server holds the mappings."""
    return diff(provider.desired(mappings), await provider.observe())


async def lookup(server: BindServer, name: str, rdtype: str) -> RecordSet | None:
    """The record set a client gets for ``name``, or None when there is none."""
    query = dns.message.make_query(name, rdtype)
    response = await dns.asyncquery.udp(query, server.address, timeout=2, port=server.port)
    assert response.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN)
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.from_text(rdtype):
            return RecordSet.from_rdataset(rrset.name, rrset)
    return None


async def serial(server: BindServer) -> int:
    """The zone's SOA serial: BIND raises it once per update message it applies."""
    soa = await lookup(server, server.zone, "SOA")
    assert soa is not None
    return int(soa.rdatas[0].split()[2])


def dig(server: BindServer, name: str, rdtype: str) -> list[str]:
    result = subprocess.run(
        ["dig", f"@{server.address}", "-p", str(server.port), "+short", name, rdtype],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    return sorted(result.stdout.splitlines())


async def test_first_mapping_is_served_as_the_builtin_responder_serves_it(
    bind: BindServer,
) -> None:
    provider = make_provider(bind, ["billing"])
    billing = mapping("billing")

    changes = await reconcile(provider, billing)

    served = service_nodes(billing, ORIGIN)
    assert len(changes) == sum(len(node) for node in served.values())
    for owner, node in served.items():
        for rdtype, rrset in node.items():
            want = RecordSet.from_rdataset(owner, rrset)
            if rdtype == dns.rdatatype.TXT:
                # The status TXT, marked as this provider's: the responder's strings follow.
                (status,) = want.rdatas
                want = dataclasses.replace(want, rdatas=(f'"gtm-owner=bind-main" {status}',))
            assert await lookup(bind, str(owner), dns.rdatatype.to_text(rdtype)) == want
    assert await pending(provider, billing) == []


async def test_a_move_is_applied_and_clients_see_the_new_site(bind: BindServer) -> None:
    provider = make_provider(bind, ["search"])
    await reconcile(provider, mapping("search"))
    moved = mapping("search", "gcp-euw1", version=2, epoch=2)

    changes = await reconcile(provider, moved)

    assert {c.key for c in changes} == {
        "search.gtm.example.test. A",
        "search.gtm.example.test. AAAA",
        "search.gtm.example.test. SRV",
        "search.gtm.example.test. TXT",
    }
    assert dig(bind, "search.gtm.example.test.", "A") == ["198.51.100.20"]
    assert dig(bind, "search.gtm.example.test.", "AAAA") == []
    assert await lookup(bind, "search.gtm.example.test.", "TXT") == RecordSet(
        "search.gtm.example.test.",
        "TXT",
        30,
        ('"gtm-owner=bind-main" "version=2" "epoch=2" "active=gcp-euw1"',),
    )
    assert await pending(provider, moved) == []


async def test_a_hand_edit_is_seen_as_drift_and_repaired(bind: BindServer) -> None:
    provider = make_provider(bind, ["orders"])
    orders = mapping("orders")
    await reconcile(provider, orders)
    nsupdate(
        bind,
        "update delete orders.gtm.example.test. A",
        "update add orders.gtm.example.test. 30 A 192.0.2.66",
        "update add rogue.orders.gtm.example.test. 30 A 192.0.2.67",
    )

    drift = await pending(provider, orders)

    assert [(c.kind.value, c.key) for c in drift] == [
        ("update", "orders.gtm.example.test. A"),
        ("delete", "rogue.orders.gtm.example.test. A"),
    ]
    assert drift[0].before is not None and drift[0].before.rdatas == ("192.0.2.66",)
    await provider.apply(drift)
    assert dig(bind, "orders.gtm.example.test.", "A") == ["192.0.2.10"]
    assert dig(bind, "rogue.orders.gtm.example.test.", "A") == []
    assert await pending(provider, orders) == []


async def test_an_edit_between_observe_and_apply_fails_the_update_and_changes_nothing(
    bind: BindServer,
) -> None:
    provider = make_provider(bind, ["cart"])
    await reconcile(provider, mapping("cart"))
    moved = mapping("cart", "dc-paris", version=2, epoch=2)
    changes = await pending(provider, moved)
    nsupdate(
        bind,
        "update delete cart.gtm.example.test. TXT",
        'update add cart.gtm.example.test. 30 TXT "edited by hand"',
    )
    before = await serial(bind)

    with pytest.raises(PrerequisiteFailed) as caught:
        await provider.apply(changes)

    assert isinstance(caught.value, Unavailable)
    message = str(caught.value)
    assert message.startswith("rfc2136 bind-main: update of zone gtm.example.test. ")
    assert f"{bind.address}:{bind.port}" in message and "NXRRSET" in message
    assert await serial(bind) == before
    assert dig(bind, "cart.gtm.example.test.", "A") == ["192.0.2.10"]
    assert dig(bind, "cart.gtm.example.test.", "TXT") == ['"edited by hand"']
    # The next pass sees the edit and moves the service.
    await reconcile(provider, moved)
    assert dig(bind, "cart.gtm.example.test.", "A") == ["203.0.113.30"]


async def test_a_record_set_created_by_hand_first_is_not_overwritten(bind: BindServer) -> None:
    provider = make_provider(bind, ["gift"])
    changes = await pending(provider, mapping("gift"))
    nsupdate(bind, "update add gift.gtm.example.test. 30 A 192.0.2.77")

    with pytest.raises(PrerequisiteFailed, match="YXRRSET"):
        await provider.apply(changes)

    assert dig(bind, "gift.gtm.example.test.", "A") == ["192.0.2.77"]
    assert dig(bind, "gift.gtm.example.test.", "TXT") == []


WRONG = base64.b64encode(os.urandom(32)).decode()


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {"secret": WRONG},
            r"update of zone gtm\.example\.test\. refused by 127\.0\.0\.1:\d+: NOTAUTH "
            r"\(TSIG key gtm-key\. not accepted: BADSIG.*\); check tsig\.name and tsig\.secret",
        ),
        ({"key_name": "other-key."}, r"NOTAUTH \(TSIG key other-key\. not accepted: BADKEY"),
        ({"signed": False}, r"refused by 127\.0\.0\.1:\d+: REFUSED"),
    ],
    ids=["wrong-secret", "unknown-key", "unsigned"],
)
async def test_a_key_the_server_does_not_accept_is_a_permanent_clear_error(
    bind: BindServer, options: dict[str, Any], expected: str
) -> None:
    provider = make_provider(bind, ["wallet"], **options)
    changes = diff(provider.desired([mapping("wallet")]), {})

    with pytest.raises(Rfc2136Rejected, match=expected) as caught:
        await provider.apply(changes)

    assert isinstance(caught.value, Rejected)
    assert str(caught.value).startswith("rfc2136 bind-main: ")
    assert WRONG not in str(caught.value) and bind.key_secret not in str(caught.value)
    with pytest.raises(Rfc2136Rejected, match=r"transfer of zone gtm\.example\.test\."):
        await provider.observe()
    assert dig(bind, "wallet.gtm.example.test.", "A") == []


async def test_a_stopped_server_is_unavailable(own_bind: BindServer) -> None:
    provider = make_provider(own_bind, ["billing"])
    changes = diff(provider.desired([mapping("billing")]), {})
    own_bind.stop()

    with pytest.raises(Rfc2136Unavailable, match=f"cannot reach 127.0.0.1:{own_bind.port}"):
        await provider.apply(changes)
    with pytest.raises(Rfc2136Unavailable, match=r"transfer of zone gtm\.example\.test\."):
        await provider.observe()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections (the kernel does) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


async def test_a_server_that_does_not_answer_is_unavailable(
    bind: BindServer, silent_server: int
) -> None:
    provider = make_provider(bind, ["billing"], timeout="200ms", port=silent_server)

    with pytest.raises(Rfc2136Unavailable, match=r"did not answer within 0\.2s"):
        await provider.apply(diff(provider.desired([mapping("billing")]), {}))


async def test_thousand_services_go_out_in_few_messages(
    own_bind: BindServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [f"svc-{i:04d}" for i in range(1000)]
    mappings = [mapping(name) for name in names]
    limit = 8192
    provider = make_provider(own_bind, names, max_message=limit)
    sent: list[int] = []
    build = rfc2136.build_updates

    def counting(*args: Any) -> list[Update]:
        updates = build(*args)
        sent.extend(len(update.wire) for update in updates)
        return updates

    monkeypatch.setattr(rfc2136, "build_updates", counting)
    first = await serial(own_bind)

    changes = await reconcile(provider, *mappings)

    assert len(changes) == 8000
    assert max(sent) <= limit
    # BIND applies each message as one transaction and raises the serial once for it.
    assert await serial(own_bind) - first == len(sent)
    # Messages are filled: each but the last leaves less room unused than one service takes.
    key = dns.tsig.Key(own_bind.key_name, own_bind.key_secret, own_bind.algorithm)
    alone = build_updates(ORIGIN, diff(provider.desired(mappings[:1]), {}), key, limit)
    one = len(alone[0].wire)
    assert len(sent) <= math.ceil(sum(sent) / (limit - one)) + 1
    assert dig(own_bind, "svc-0999.gtm.example.test.", "A") == ["192.0.2.10"]
    assert await pending(provider, *mappings) == []


async def test_verify_proves_the_updates_by_the_serial_with_one_query(bind: BindServer) -> None:
    provider = make_provider(bind, ["verified"])
    await reconcile(provider, mapping("verified"))
    moved = mapping("verified", "dc-paris", version=2, epoch=2)
    changes = diff(provider.desired([moved]), await provider.observe())

    await provider.apply(changes)
    read = await provider.verify(changes)

    assert {key: owned.item for key, owned in read.items()} == {
        c.key: c.after for c in changes if c.after is not None
    }
    assert diff(provider.desired([moved]), await provider.observe()) == []


async def test_verify_without_the_updates_in_the_zone_is_unavailable(bind: BindServer) -> None:
    provider = make_provider(bind, ["unproved"])
    changes = diff(provider.desired([mapping("unproved")]), {})

    with pytest.raises(Rfc2136Unavailable, match=r"below the None the applied updates"):
        await provider.verify(changes)
    await provider.apply(changes)
    provider._expected = (await serial(bind)) + 5  # as if five more updates had been sent

    with pytest.raises(Rfc2136Unavailable, match=r"is at serial \d+, below the \d+"):
        await provider.verify(changes)
