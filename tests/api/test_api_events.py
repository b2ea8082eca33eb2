"""Events: the journal with its filters, and refusals of bad filter values."""

from __future__ import annotations

import pytest
from api_harness import NOW, Api

from gtm.core.model import Event


async def test_events_are_listed_with_their_timeline(api: Api) -> None:
    api.registry.journal.append(
        Event(
            kind="failover",
            service="billing",
            time=NOW,
            reason="aws-use1 down",
            seq=4,
            from_site="aws-use1",
            to_site="dc-paris",
            epoch=4,
            version=8,
            timeline={"first_failed_probe": NOW - 1.5, "published": NOW},
        )
    )
    async with api.http.get(f"{api.url}/v1/events") as resp:
        assert resp.status == 200
        doc = await resp.json()
    assert doc == {
        "events": [
            {
                "seq": 4,
                "kind": "failover",
                "service": "billing",
                "time": NOW,
                "reason": "aws-use1 down",
                "from_site": "aws-use1",
                "to_site": "dc-paris",
                "epoch": 4,
                "version": 8,
                "actor": "controller",
                "timeline": {"first_failed_probe": NOW - 1.5, "published": NOW},
            }
        ]
    }
    assert api.registry.event_queries == [(None, None, 100)]


async def test_filters_reach_the_registry(api: Api) -> None:
    async with api.http.get(f"{api.url}/v1/events?service=billing&since=1700000000.5&limit=7"):
        pass
    assert api.registry.event_queries == [("billing", 1700000000.5, 7)]


async def test_empty_filters_count_as_absent(api: Api) -> None:
    async with api.http.get(f"{api.url}/v1/events?service=&since=&limit=") as resp:
        assert resp.status == 200
    assert api.registry.event_queries == [(None, None, 100)]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("since=yesterday", "since"),
        ("since=-1", "since"),
        ("since=nan", "since"),
        ("since=inf", "since"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("limit=-3", "limit"),
        ("limit=9999999999999999999999", "limit"),
    ],
)
async def test_bad_filters_are_named(api: Api, query: str, parameter: str) -> None:
    async with api.http.get(f"{api.url}/v1/events?{query}") as resp:
        assert resp.status == 400
        doc = await resp.json()
    value = query.partition("=")[2]
    assert (doc["error"], doc["parameter"], doc["value"]) == ("bad_request", parameter, value)
    assert doc["message"].startswith(f"query parameter {parameter!r} is {value!r}; expected")
    assert api.registry.event_queries == []
