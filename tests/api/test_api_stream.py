"""The stream: every mapping change and journal event as server-sent events (real registry)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import pytest
from api_harness import NOW, Api, ApiFactory, billing, search

from gtm.api import stream
from gtm.config.limits import ApiLimits
from gtm.core.journal import EventKind
from gtm.core.model import Event, Intent, IntentKind
from gtm.core.runbook import Run, RunKind, RunState, Step, run_to_dict
from gtm.feed import EventStreamParser, MappingChange, feed_item
from gtm.registry.registry import Registry
from gtm.registry.stores import MemoryStore

DEADLINE = 30.0
"""Generous seconds for anything the tests wait for."""


@dataclass
class Frame:
    """One server-sent event as read off the wire."""

    id: str | None
    event: str | None
    data: Any
    comment: str | None = None


class Reader:
    """Reads a ``text/event-stream`` answer frame by frame, comments included."""

    def __init__(self, answer: aiohttp.ClientResponse) -> None:
        self.answer = answer

    async def frame(self) -> Frame:
        fields: dict[str, str] = {}
        comment = None
        async with asyncio.timeout(DEADLINE):
            while True:
                raw = await self.answer.content.readline()
                if not raw:
                    raise EOFError("the stream ended")
                line = raw.decode().rstrip("\n")
                if not line:
                    if fields or comment is not None:
                        break
                    continue
                if line.startswith(":"):
                    comment = line[1:].strip()
                    continue
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
        if "retry" in fields and "event" not in fields:
            return await self.frame()
        data = json.loads(fields["data"]) if "data" in fields else None
        return Frame(fields.get("id"), fields.get("event"), data, comment)

    async def ended(self) -> bool:
        """Whether the server ends the stream (reading what is left of it)."""
        async with asyncio.timeout(DEADLINE):
            await self.answer.content.read()
        return self.answer.content.at_eof()


@pytest.fixture
async def real() -> AsyncIterator[Registry]:
    registry = await Registry.open(MemoryStore(), "gtm-1")
    await registry.put(billing(version=1))
    await registry.put(search())
    yield registry
    await registry.close()


@pytest.fixture
async def live(start: ApiFactory, real: Registry) -> Api:
    return await start(registry=real)


@contextlib.asynccontextmanager
async def opened(api: Api, query: str = "", **headers: str) -> AsyncIterator[Reader]:
    async with api.http.get(f"{api.url}/v1/stream{query}", headers=headers) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"] == "text/event-stream"
        yield Reader(answer)


def journal_event(reason: str) -> Event:
    return Event(EventKind.HEALTH, "billing", NOW, reason, from_site="aws-use1")


async def test_a_stream_starts_with_a_snapshot_then_sends_changes_and_journal_events(
    live: Api, real: Registry
) -> None:
    async with opened(live) as reader:
        snapshot = await reader.frame()
        assert snapshot.event == "snapshot"
        assert [doc["service"] for doc in snapshot.data["services"]] == ["billing", "search"]
        async with live.http.get(f"{live.url}/v1/services") as answer:
            assert snapshot.data["services"] == (await answer.json())["services"]
        assert snapshot.data["intents"] == []

        await real.put(billing(version=2, epoch=4, active_site="dc-paris"))
        moved = await reader.frame()
        assert moved.event == "mapping"
        async with live.http.get(f"{live.url}/v1/services/billing") as answer:
            assert moved.data == await answer.json()
        assert (moved.data["version"], moved.data["active_site"]) == (2, "dc-paris")

        stored = await real.record(journal_event("billing@aws-use1/lb-1 up -> down"))
        heard = await reader.frame()
        assert heard.event == "journal"
        async with live.http.get(f"{live.url}/v1/events") as answer:
            assert heard.data == (await answer.json())["events"][-1]
        assert (heard.data["kind"], heard.data["seq"]) == ("health", stored.seq)
        assert snapshot.id is not None and moved.id is not None and heard.id is not None
        assert len({snapshot.id, moved.id, heard.id}) == 3


async def test_a_client_resuming_with_its_last_id_gets_what_it_missed_and_no_snapshot(
    live: Api, real: Registry
) -> None:
    async with opened(live) as reader:
        await reader.frame()
        await real.put(billing(version=2))
        last = await reader.frame()
    await real.put(billing(version=3, active_site="gcp-euw1"))
    await real.record(journal_event("while away"))
    assert last.id is not None
    async with opened(live, **{"Last-Event-ID": last.id}) as reader:
        missed = [await reader.frame(), await reader.frame()]
        assert [(f.event, f.data.get("version")) for f in missed] == [
            ("mapping", 3),
            ("journal", None),
        ]
        assert missed[1].data["reason"] == "while away"
        await real.put(billing(version=4))
        assert (await reader.frame()).data["version"] == 4


@pytest.mark.parametrize("last_id", ["ffffffff-1", "garbage", "", "x-99999"])
async def test_an_id_from_another_run_or_too_old_gets_a_snapshot(
    live: Api, real: Registry, last_id: str
) -> None:
    async with opened(live, **{"Last-Event-ID": last_id}) as reader:
        first = await reader.frame()
        assert first.event == "snapshot"
        assert len(first.data["services"]) == 2


async def test_an_id_older_than_the_backlog_gets_a_snapshot(
    live: Api, real: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with opened(live) as reader:
        await reader.frame()
        await real.put(billing(version=2))
        old = await reader.frame()
    for version in range(3, 3 + stream.BACKLOG + 1):
        await real.put(billing(version=version))
    assert old.id is not None
    async with opened(live, **{"Last-Event-ID": old.id}) as reader:
        first = await reader.frame()
        assert first.event == "snapshot"
        assert first.data["services"][0]["version"] == 3 + stream.BACKLOG


async def test_a_stream_of_some_services_sends_only_theirs(live: Api, real: Registry) -> None:
    async with opened(live, "?service=search") as reader:
        snapshot = await reader.frame()
        assert [doc["service"] for doc in snapshot.data["services"]] == ["search"]
        assert "intents" not in snapshot.data
        await real.add_intent(Intent("", IntentKind.FREEZE, "search", why="not streamed"))
        await real.put(billing(version=2))
        await real.record(journal_event("not for search"))
        await real.record(Event(EventKind.MOVE, "search", NOW, "search moved"))
        heard = await reader.frame()
        assert (heard.event, heard.data["reason"]) == ("journal", "search moved")


async def test_a_stream_of_an_unknown_service_is_refused(live: Api) -> None:
    async with live.http.get(f"{live.url}/v1/stream?service=nope") as answer:
        assert answer.status == 400
        doc = await answer.json()
    assert doc["error"] == "bad_request"
    assert "nope" in doc["message"] and "billing" in doc["message"]


async def test_a_quiet_stream_sends_heartbeats(live: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "HEARTBEAT", 0.05)
    monkeypatch.setattr(stream, "LIVENESS", 0.05)
    async with opened(live) as reader:
        assert (await reader.frame()).event == "snapshot"
        beat = await reader.frame()
        assert (beat.event, beat.comment) == (None, "heartbeat")


async def test_a_stream_is_a_long_poll_held_and_an_admitted_connection(
    start: ApiFactory, real: Registry
) -> None:
    api = await start(registry=real, limits=ApiLimits(max_connections_per_client=1))
    async with opened(api) as reader:
        await reader.frame()
        assert api.server.admission.connections("127.0.0.1") == 1
        async with (
            aiohttp.ClientSession() as other,
            other.get(f"{api.url}/v1/services") as refused,
        ):
            assert refused.status == 503
            assert (await refused.json())["error"] == "too_many_connections"


async def test_the_long_poll_gauge_counts_open_streams(start: ApiFactory, real: Registry) -> None:
    api = await start(registry=real)

    async def held() -> float:
        async with aiohttp.ClientSession() as other, other.get(f"{api.url}/metrics") as answer:
            text = await answer.text()
        line = next(x for x in text.splitlines() if x.startswith("gtm_api_long_polls "))
        return float(line.split()[1])

    assert await held() == 0
    async with opened(api) as reader:
        await reader.frame()
        assert await held() == 1
    async with asyncio.timeout(DEADLINE):
        while await held() != 0:
            await asyncio.sleep(0.05)


async def test_shutting_down_ends_open_streams_at_once(start: ApiFactory, real: Registry) -> None:
    api = await start(registry=real, shutdown_timeout=3600)
    async with opened(api) as reader:
        await reader.frame()
        async with asyncio.timeout(DEADLINE):
            await api.server.close()
        assert await reader.ended()


async def test_the_clients_parser_reads_the_stream_whatever_the_chunks(
    live: Api, real: Registry
) -> None:
    async with live.http.get(f"{live.url}/v1/stream") as answer, asyncio.timeout(DEADLINE):
        wire = await answer.content.readuntil(b"\n\n")  # retry
        wire += await answer.content.readuntil(b"\n\n")  # snapshot
        await real.put(billing(version=2, reason="line\nbreak \x1b and\r\ncr"))
        wire += await answer.content.readuntil(b"\n\n")
    parser = EventStreamParser()
    whole = list(parser.feed(wire))
    assert [event.event for event in whole] == ["snapshot", "mapping"]
    bytewise = EventStreamParser()
    assert [e for i in range(len(wire)) for e in bytewise.feed(wire[i : i + 1])] == whole
    assert bytewise.last_id == whole[-1].id
    item = feed_item(whole[1])
    assert isinstance(item, MappingChange)
    assert item.mapping.reason == "line\nbreak \x1b and\r\ncr"
    crlf = EventStreamParser()
    assert list(crlf.feed(wire.replace(b"\n", b"\r\n"))) == whole
    # A CR may be the first half of a CRLF: the parser knows once the next byte comes.
    assert list(EventStreamParser().feed(wire.replace(b"\n", b"\r") + b":")) == whole


async def test_a_client_too_far_behind_is_cut_off_and_resumes_from_its_last_id(
    live: Api, real: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream, "LAG_LIMIT", 2)
    async with opened(live) as reader:
        snapshot = await reader.frame()
        # Five services moved together go to the store in one commit, and all five are
        # told before the stream writes any of them, so this client is three behind its
        # limit.
        services = [f"svc-{number}" for number in range(5)]
        await asyncio.gather(*(real.put(billing(version=1, service=s)) for s in services))
        assert await reader.ended()
    assert snapshot.id is not None
    async with opened(live, **{"Last-Event-ID": snapshot.id}) as reader:
        assert [(await reader.frame()).data["service"] for _ in range(5)] == services


async def test_a_head_request_is_refused_rather_than_held(live: Api) -> None:
    async with live.http.head(f"{live.url}/v1/stream") as answer:
        assert answer.status == 405
        assert answer.headers["Allow"] == "GET"


async def test_every_change_of_the_intents_is_streamed_as_get_v1_intents_says_it(
    live: Api, real: Registry
) -> None:
    pin = await real.add_intent(
        Intent("", IntentKind.PIN, "billing", "dc-paris", "alice", "maintenance", created_at=NOW)
    )
    async with opened(live) as reader:
        snapshot = await reader.frame()
        async with live.http.get(f"{live.url}/v1/intents") as answer:
            listed = (await answer.json())["intents"]
        assert snapshot.data["intents"] == listed and listed[0]["id"] == pin.id
        await real.remove_intent(pin.id)
        changed = await reader.frame()
        assert (changed.event, changed.data) == ("intents", {"intents": []})
        freeze = await real.add_intent(Intent("", IntentKind.FREEZE, who="bob", why="quiet"))
        changed = await reader.frame()
        assert changed.event == "intents"
        assert [doc["id"] for doc in changed.data["intents"]] == [freeze.id]


def planned(service: str = "billing") -> Run:
    return Run(
        "r-1", RunKind.FAILOVER, service, "aws-use1", "dc-paris", "maintenance", "alice", NOW
    )


async def test_every_save_of_a_run_is_streamed_as_get_v1_runs_id_says_it(
    live: Api, real: Registry
) -> None:
    async with opened(live) as reader:
        await reader.frame()
        run = await real.save_run(planned())
        started = await reader.frame()
        assert (started.event, started.data) == ("run", run_to_dict(run))
        run = await real.save_run(replace(run.begin(Step.PREFLIGHT, NOW + 1), revision=1))
        run = await real.save_run(replace(run.end(NOW + 2, True, "every check passed"), revision=2))
        run = await real.save_run(replace(run.finish(RunState.DONE, "done: moved"), revision=3))
        heard = [await reader.frame() for _ in range(3)]
        assert [frame.event for frame in heard] == ["run"] * 3
        assert [frame.data["revision"] for frame in heard] == [1, 2, 3]
        assert heard[-1].data == run_to_dict(run)
        assert heard[-1].data["state"] == "done"
        assert heard[1].data["steps"][0]["detail"] == "every check passed"


async def test_a_stream_of_some_services_sends_only_their_runs(live: Api, real: Registry) -> None:
    async with opened(live, "?service=search") as reader:
        await reader.frame()
        await real.save_run(planned("billing"))
        await real.save_run(replace(planned("search"), id="r-2"))
        heard = await reader.frame()
        assert (heard.event, heard.data["id"]) == ("run", "r-2")
