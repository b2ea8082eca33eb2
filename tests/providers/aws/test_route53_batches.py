"""Change batches for Route 53: one request per batch, each within Route 53's limits."""

from __future__ import annotations

from typing import Any

from aws_samples import whack

from gtm.core.changes import Change, ChangeKind, Owned, diff
from gtm.providers.route53 import (
    MAX_CHANGES,
    MAX_CHARS,
    MAX_RECORDS,
    RecordSet,
    build_change_batches,
    desired_records,
)

ZONE = "example.com."
OWNER = "r53"
"""The provider name the status TXT is marked with."""


def first_apply(count: int) -> list[Change[RecordSet]]:
    """The changes that create ``count`` services in an empty zone."""
    desired = {
        record.key: Owned(f"svc{n:04d}", record)
        for n in range(count)
        for record in desired_records(whack(f"svc{n:04d}", "aws-use1"), ZONE, "plain", OWNER)
    }
    return diff(desired, {})


def counted(request: dict[str, Any]) -> tuple[int, int, int]:
    """Changes, ResourceRecord elements and value characters, as Route 53 counts them."""
    changes = request["ChangeBatch"]["Changes"]
    records = chars = 0
    for change in changes:
        factor = 2 if change["Action"] == "UPSERT" else 1
        values = [r["Value"] for r in change["ResourceRecordSet"]["ResourceRecords"]]
        records += factor * len(values)
        chars += factor * sum(len(value) for value in values)
    return len(changes), records, chars


def names(requests: list[dict[str, Any]]) -> list[str]:
    return [
        change["ResourceRecordSet"]["Name"]
        for request in requests
        for change in request["ChangeBatch"]["Changes"]
    ]


def test_1500_services_go_out_in_several_requests_each_within_the_limits() -> None:
    changes = first_apply(1500)

    requests = build_change_batches("Z1", changes)

    assert len(requests) > 1
    for request in requests:
        count, records, chars = counted(request)
        assert count <= MAX_CHANGES
        assert records <= MAX_RECORDS
        assert chars <= MAX_CHARS
        assert request["HostedZoneId"] == "Z1"
    # Every change exactly once, in order, and a service's changes in the same request.
    assert names(requests) == [change.after.name for change in changes if change.after]
    for request in requests:
        services = [c["ResourceRecordSet"]["Name"] for c in request["ChangeBatch"]["Changes"]]
        assert len(services) == 2 * len(set(services))


def test_the_resource_record_limit_cuts_requests_when_changes_are_many() -> None:
    # Per service an A set of 2 values and a TXT, upserted: 6 counted, 9,000 in all.
    changes = first_apply(1500)

    requests = build_change_batches("Z1", changes, max_changes=100_000)

    # 166 whole services (996 counted) per request: 10 requests.
    assert [counted(request)[1] for request in requests] == [996] * 9 + [9000 - 9 * 996]


def test_the_character_limit_cuts_requests_when_values_are_long() -> None:
    long_values = tuple(f'"{n:03d}{"x" * 250}"' for n in range(10))
    changes = [
        Change(
            ChangeKind.CREATE,
            f"svc{n}.example.com. TXT",
            f"svc{n}",
            None,
            RecordSet(f"svc{n}.example.com.", "TXT", 30, long_values),
        )
        for n in range(40)
    ]

    requests = build_change_batches("Z1", changes)

    # 40 changes fit one request by count and by records (800), not by characters.
    assert len(requests) > 1
    assert all(counted(request)[2] <= MAX_CHARS for request in requests)
    assert sum(counted(request)[0] for request in requests) == 40


def test_delete_carries_the_observed_record_set_and_goes_before_the_upserts() -> None:
    observed_a = RecordSet("billing.example.com.", "A", 60, ("192.0.2.9",))
    observed_weighted = RecordSet(
        "billing.example.com.", "A", 60, ("192.0.2.8",), set_identifier="old", weight=5
    )
    new_a = RecordSet("billing.example.com.", "A", 30, ("192.0.2.1",))
    changes = [
        Change(ChangeKind.CREATE, "billing.example.com. AAAA", "billing", None, new_a),
        Change(ChangeKind.DELETE, "billing.example.com. A", "billing", observed_a, None),
        Change(ChangeKind.DELETE, "billing.example.com. A old", "billing", observed_weighted, None),
    ]

    [request] = build_change_batches("Z1", changes)

    assert request["ChangeBatch"]["Changes"] == [
        {
            "Action": "DELETE",
            "ResourceRecordSet": {
                "Name": "billing.example.com.",
                "Type": "A",
                "TTL": 60,
                "ResourceRecords": [{"Value": "192.0.2.9"}],
            },
        },
        {
            "Action": "DELETE",
            "ResourceRecordSet": {
                "Name": "billing.example.com.",
                "Type": "A",
                "TTL": 60,
                "ResourceRecords": [{"Value": "192.0.2.8"}],
                "SetIdentifier": "old",
                "Weight": 5,
            },
        },
        {"Action": "UPSERT", "ResourceRecordSet": new_a.to_api()},
    ]


def test_an_update_is_an_upsert_of_the_new_record_set() -> None:
    before = RecordSet("billing.example.com.", "A", 30, ("192.0.2.1",))
    after = RecordSet("billing.example.com.", "A", 30, ("198.51.100.1",))

    [request] = build_change_batches(
        "Z1", [Change(ChangeKind.UPDATE, "billing.example.com. A", "billing", before, after)]
    )

    assert request["ChangeBatch"]["Changes"] == [
        {"Action": "UPSERT", "ResourceRecordSet": after.to_api()}
    ]


def test_no_changes_no_requests() -> None:
    assert build_change_batches("Z1", []) == []
