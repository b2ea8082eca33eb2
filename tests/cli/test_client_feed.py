"""``GtmClient.feed``: typed changes from a real gtm API, through its stops and restarts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from cli_harness import DEADLINE, LiveGtm

from gtm import client as client_module
from gtm.client import GtmClient
from gtm.core.journal import EventKind
from gtm.core.model import Event
from gtm.core.runbook import Run, RunKind
from gtm.errors import ApiUnreachable, Rejected
from gtm.feed import (
    FeedItem,
    JournalEntry,
    Lost,
    MappingChange,
    Regained,
    RunProgress,
    Snapshot,
)
from testbed.ports import free_port


def health(reason: str) -> Event:
    return Event(EventKind.HEALTH, "billing", time.time(), reason)


async def next_item(items: AsyncIterator[FeedItem]) -> FeedItem:
    async with asyncio.timeout(DEADLINE):
        return await anext(items)


async def test_the_feed_yields_typed_changes_and_catches_up_after_a_restart(
    live: LiveGtm,
) -> None:
    async with GtmClient(live.url) as gtm:
        items = gtm.feed()
        snapshot = await next_item(items)
        assert isinstance(snapshot, Snapshot)
        assert [m.service for m in snapshot.mappings] == ["billing", "search"]
        assert gtm.cached("billing") == snapshot.mappings[0]

        await live.move("billing", "dc-paris", "moved")
        change = await next_item(items)
        assert isinstance(change, MappingChange)
        assert (change.mapping.active_site, gtm.cached("billing")) == ("dc-paris", change.mapping)
        seen = await live.record(health("seen live"))
        entry = await next_item(items)
        assert isinstance(entry, JournalEntry) and entry.event.seq == seen.seq

        await live.stop()
        lost = await next_item(items)
        assert isinstance(lost, Lost) and lost.url == live.url
        await live.start(serve=False)
        missed = await live.record(health("missed"))
        await live.move("search", "gcp-euw1", "moved while away")
        await live.serve()
        assert await next_item(items) == Regained(live.url)
        caught = await next_item(items)
        assert isinstance(caught, JournalEntry)
        assert (caught.event.seq, caught.event.reason) == (missed.seq, "missed")
        again = await next_item(items)
        assert isinstance(again, Snapshot)
        assert {m.service: m.active_site for m in again.mappings} == {
            "billing": "dc-paris",
            "search": "gcp-euw1",
        }
        after = await live.record(health("after"))
        entry = await next_item(items)
        assert isinstance(entry, JournalEntry) and entry.event.seq == after.seq
        await items.aclose()


async def test_a_feed_that_finds_no_gtm_at_first_raises(unused: int) -> None:
    async with GtmClient(f"http://127.0.0.1:{unused}") as gtm:
        with pytest.raises(ApiUnreachable, match="connection refused"):
            await anext(gtm.feed())


async def test_a_feed_of_an_unknown_service_is_rejected(live: LiveGtm) -> None:
    async with GtmClient(live.url) as gtm:
        with pytest.raises(Rejected, match="known services: billing, search"):
            await anext(gtm.feed(["nope"]))


async def test_a_feed_silent_past_its_heartbeats_is_lost(
    monkeypatch: pytest.MonkeyPatch, unused: int
) -> None:
    # A partition gtm cannot stage: the answer starts, then nothing more ever comes.
    done = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        await writer.drain()
        await done.wait()
        writer.close()

    monkeypatch.setattr(client_module, "FEED_QUIET", 0.2)
    server = await asyncio.start_server(silent, "127.0.0.1", unused)
    try:
        async with GtmClient(f"http://127.0.0.1:{unused}") as gtm:
            items = gtm.feed()
            lost = await next_item(items)
            assert isinstance(lost, Lost)
            assert lost.reason == "no word from gtm within 0.2s"
            await items.aclose()
    finally:
        done.set()
        server.close()
        await server.wait_closed()


@pytest.fixture
def unused() -> Any:
    return free_port("127.0.0.1")


async def test_the_feed_yields_each_save_of_a_planned_run(live: LiveGtm) -> None:
    run = Run(
        "r-1", RunKind.FAILOVER, "search", "dc-paris", "aws-use1", "patch", "bob", time.time()
    )
    async with GtmClient(live.url) as gtm:
        items = gtm.feed(["search"])
        assert isinstance(await next_item(items), Snapshot)
        saved = await live.save_run(run)
        progress = await next_item(items)
        assert progress == RunProgress(saved)
        await items.aclose()
