"""Events: the journal with its filters, and refusals of bad filter values."""

from __future__ import annotations

import pytest
from api_harness import NOW, Api

from gtm.api.events import EVENT_KINDS
from gtm.api.query import parse_moment, parse_seconds
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


@pytest.mark.parametrize(
    ("query", "since", "until"),
    [
        ("since=2h", NOW - 7200, None),
        ("since=10m&until=1m30s", NOW - 600, NOW - 90),
        ("until=1700000000", None, 1_700_000_000.0),
        ("since=0", 0.0, None),
    ],
)
async def test_since_and_until_take_the_cli_forms(
    api: Api, query: str, since: float | None, until: float | None
) -> None:
    async with api.http.get(f"{api.url}/v1/events?{query}") as resp:
        assert resp.status == 200, await resp.text()
    assert api.registry.event_filters == [(since, until, None)]


async def test_kind_filters_by_a_known_kind(api: Api) -> None:
    async with api.http.get(f"{api.url}/v1/events?kind=drift") as resp:
        assert resp.status == 200
    assert api.registry.event_filters == [(None, None, "drift")]


async def test_an_unknown_kind_is_named_with_the_known_ones(api: Api) -> None:
    async with api.http.get(f"{api.url}/v1/events?kind=bogus") as resp:
        assert resp.status == 400
        doc = await resp.json()
    assert (doc["parameter"], doc["value"]) == ("kind", "bogus")
    assert doc["message"] == (
        f"query parameter 'kind' is 'bogus'; expected one of {', '.join(EVENT_KINDS)}"
    )
    assert api.registry.event_queries == []


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
        ("since=2 hours", "since"),
        ("since=-2h", "since"),
        ("until=soon", "until"),
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


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1700000000", 1_700_000_000.0), ("12.5", 12.5), ("2h", NOW - 7200), ("1h30m", NOW - 5400)],
)
def test_a_moment_is_unix_seconds_or_a_duration_ago(text: str, seconds: float) -> None:
    assert parse_moment(text, NOW) == seconds


@pytest.mark.parametrize("text", ["yesterday", "-5", "nan", "inf", "1e9", "2 hours", ""])
def test_a_moment_that_is_neither_says_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration ago such as 10m or 2h, or Unix"):
        parse_moment(text, NOW)


@pytest.mark.parametrize(("text", "seconds"), [("90", 90.0), ("1.5", 1.5), ("2h", 7200.0)])
def test_seconds_are_a_plain_number_or_a_duration(text: str, seconds: float) -> None:
    assert parse_seconds(text) == seconds


@pytest.mark.parametrize("text", ["2 hours", "-1", "inf", "nan", "1e3", ""])
def test_what_is_not_a_duration_says_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match=f"^{text!r} is not a duration; expected a number"):
        parse_seconds(text)
