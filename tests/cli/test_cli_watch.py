"""``gtm watch`` and ``gtm events --follow`` against a real gtm API, stopped and restarted."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from cli_harness import LiveGtm

from gtm.core.journal import EventKind
from gtm.core.model import Event
from gtm.core.runbook import Run, RunKind, RunState, Step, run_to_dict

STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}"


def health(service: str, reason: str, site: str = "aws-use1") -> Event:
    return Event(EventKind.HEALTH, service, time.time(), reason, from_site=site)


async def test_watch_prints_every_service_then_each_change_and_journal_event(
    live: LiveGtm, gtm_command: Any
) -> None:
    watch = await gtm_command("watch", "--api", live.url)
    first = await watch.until("billing")
    assert re.fullmatch(
        rf"{STAMP}  billing  now at aws-use1  version 1, epoch 1: aws-use1 is healthy and active",
        first,
    )
    await watch.until("search  now at dc-paris  version 1, epoch 1")

    stored = await live.record(health("billing", "billing@aws-use1/lb-1 up -> down: refused"))
    await live.move("billing", "dc-paris", "aws-use1 is down; moved to dc-paris")
    heard = await watch.until("health")
    assert re.fullmatch(
        rf"{STAMP}  billing  health #{stored.seq}  aws-use1 -> -: "
        r"billing@aws-use1/lb-1 up -> down: refused",
        heard,
    )
    moved = await watch.until("billing")
    assert re.fullmatch(
        rf"{STAMP}  billing  aws-use1 -> dc-paris  version 2, epoch 2: "
        "aws-use1 is down; moved to dc-paris",
        moved,
    )


async def test_watch_escapes_control_characters_in_what_others_wrote(
    live: LiveGtm, gtm_command: Any
) -> None:
    watch = await gtm_command("watch", "--api", live.url)
    await watch.until("search  now at")
    await live.move("search", "gcp-euw1", "moved\x1b]0;owned\x07 by hand")
    moved = await watch.until("search  dc-paris -> gcp-euw1")
    assert moved.endswith("moved\\x1b]0;owned\\x07 by hand")


async def test_watch_of_one_service_shows_only_it(live: LiveGtm, gtm_command: Any) -> None:
    watch = await gtm_command("watch", "search", "--api", live.url)
    await watch.until("search  now at dc-paris")
    await live.move("billing", "gcp-euw1", "billing moves")
    await live.record(health("billing", "billing only"))
    await live.move("search", "aws-use1", "search moves")
    assert "search  dc-paris -> aws-use1" in await watch.line()
    assert not any("billing" in line for line in watch.seen)


async def test_watch_json_prints_one_object_per_line(live: LiveGtm, gtm_command: Any) -> None:
    watch = await gtm_command("watch", "--json", "--api", live.url)
    first = json.loads(await watch.line())
    assert (first["type"], first["service"], first["from_site"]) == ("mapping", "billing", None)
    assert first["mapping"]["active_site"] == "aws-use1"
    await watch.until('"search"')
    await live.move("billing", "gcp-euw1", "to gcp")
    moved = json.loads(await watch.line())
    assert (moved["from_site"], moved["to_site"], moved["version"]) == ("aws-use1", "gcp-euw1", 2)
    assert moved["reason"] == "to gcp"
    assert isinstance(moved["time"], float)


async def test_watch_says_when_it_loses_gtm_and_when_it_regains_it_and_catches_up(
    live: LiveGtm, gtm_command: Any
) -> None:
    watch = await gtm_command("watch", "--api", live.url)
    await watch.until("search  now at")
    await live.stop()
    lost = await watch.until("lost gtm")
    assert re.fullmatch(rf"{STAMP}  lost gtm at {live.url}: .+; retrying", lost)

    # What happens while the API is down: a journal event and a move, then it serves again.
    await live.start(serve=False)
    away = await live.record(health("billing", "while the watch was away"))
    await live.move("billing", "gcp-euw1", "moved while the watch was away")
    await live.serve()
    regained = await watch.until("regained")
    assert re.fullmatch(rf"{STAMP}  regained gtm at {live.url}", regained)
    await watch.until_all(
        f"billing  health #{away.seq}  aws-use1 -> -: while the watch was away",
        "billing  aws-use1 -> gcp-euw1  version 2, epoch 2: moved while the watch was away",
    )
    assert not any("search" in line for line in watch.seen[watch.seen.index(regained) :])

    await live.move("search", "aws-use1", "after the restart")
    assert "search  dc-paris -> aws-use1" in await watch.until("search")
    assert sum("lost gtm" in line for line in watch.seen) == 1


async def test_watch_with_no_gtm_to_reach_says_how_to_start_one(gtm_command: Any) -> None:
    from testbed.ports import free_port

    watch = await gtm_command("watch", "--api", f"http://127.0.0.1:{free_port('127.0.0.1')}")
    code, out, err = await watch.finish()
    assert code == 1 and out == ""
    assert "no gtm answers at http://127.0.0.1:" in err and "connection refused" in err


async def test_watch_of_an_unknown_service_is_refused(live: LiveGtm, gtm_command: Any) -> None:
    watch = await gtm_command("watch", "nope", "--api", live.url)
    code, _, err = await watch.finish()
    assert code == 1
    assert "nope" in err and "known services: billing, search" in err


async def test_events_follow_prints_the_latest_then_each_new_matching_event(
    live: LiveGtm, gtm_command: Any
) -> None:
    old = await live.record(health("billing", "before the follow"))
    follow = await gtm_command(
        "events", "--follow", "--service", "billing", "--kind", "health", "--api", live.url
    )
    assert f"#{old.seq} health" in await follow.line()
    assert "before the follow" in await follow.line()
    await live.record(health("search", "another service"))
    await live.record(Event(EventKind.MOVE, "billing", time.time(), "another kind"))
    new = await live.record(health("billing", "after the follow"))
    assert f"#{new.seq} health" in await follow.line()
    assert "after the follow" in await follow.line()
    assert not any("another" in line for line in follow.seen)


async def test_events_follow_goes_on_after_gtm_restarts(live: LiveGtm, gtm_command: Any) -> None:
    follow = await gtm_command("events", "--follow", "--json", "--api", live.url)
    first = await live.record(health("billing", "first"))
    assert json.loads(await follow.line())["seq"] == first.seq
    await live.stop()
    await follow.until("lost gtm at", stderr=True)
    await live.start()
    second = await live.record(health("billing", "second"))
    await follow.until("regained gtm at", stderr=True)
    doc = json.loads(await follow.line())
    assert (doc["seq"], doc["reason"]) == (second.seq, "second")


async def test_events_follow_takes_no_until(live: LiveGtm, gtm_command: Any) -> None:
    follow = await gtm_command("events", "--follow", "--until", "1h", "--api", live.url)
    code, _, err = await follow.finish()
    assert code == 1 and "--follow" in err and "--until" in err


def planned(when: float) -> Run:
    return Run(
        "r-1", RunKind.FAILOVER, "billing", "aws-use1", "dc-paris", "patching", "alice", when
    )


async def test_watch_prints_a_planned_runs_progress_line_by_line(
    live: LiveGtm, gtm_command: Any
) -> None:
    watch = await gtm_command("watch", "--api", live.url)
    await watch.until("search  now at")
    now = time.time()
    run = await live.save_run(planned(now))
    started = await watch.until("run r-1")
    assert re.fullmatch(
        rf"{STAMP}  billing  run r-1 failover aws-use1 -> dc-paris: started by alice: patching",
        started,
    )
    run = await live.save_run(run.begin(Step.DRAIN, now + 1, "draining: 40% of 10s"))
    draining = await watch.until("run r-1")
    assert re.fullmatch(
        rf"{STAMP}  billing  run r-1 failover aws-use1 -> dc-paris: "
        r"drain +\.\.\. draining: 40% of 10s",
        draining,
    )
    run = await live.save_run(run.end(now + 2, True, "drained"))
    assert re.search(r"run r-1 failover aws-use1 -> dc-paris: drain +ok in 1\.00s  drained$",
                     await watch.until("run r-1"))  # fmt: skip
    await live.save_run(run.finish(RunState.DONE, "done: billing moved to dc-paris"))
    ended = await watch.until("run r-1")
    assert ended.endswith("run r-1 failover aws-use1 -> dc-paris: done: billing moved to dc-paris")


async def test_watch_json_prints_a_run_as_get_v1_runs_id_says_it(
    live: LiveGtm, gtm_command: Any
) -> None:
    watch = await gtm_command("watch", "--json", "--api", live.url)
    await watch.until('"search"')
    run = await live.save_run(planned(time.time()))
    heard = json.loads(await watch.until('"run"'))
    assert (heard["type"], heard["time"]) == ("run", run.created_at)
    assert heard["run"] == run_to_dict(run)


async def test_resolve_watch_stamps_each_version_and_says_when_it_loses_gtm(
    live: LiveGtm, gtm_command: Any
) -> None:
    watch = await gtm_command("resolve", "billing", "--watch", "--api", live.url)
    first = [await watch.line() for _ in range(3)]
    assert re.fullmatch(rf"{STAMP}  billing -> 127\.0\.1\.1:8443 \(aws-use1\)", first[0]), first
    assert re.fullmatch(rf"{STAMP}    active aws-use1, epoch 1, version 1, ttl 30s", first[1])
    assert re.fullmatch(rf"{STAMP}    aws-use1 is healthy and active", first[2])
    assert len({line[:23] for line in first}) == 1  # one time: when it was published

    await live.move("search", "gcp-euw1", "not the service watched")
    await live.stop()
    lost = await watch.until("lost gtm")
    assert re.fullmatch(rf"{STAMP}  lost gtm at {live.url}: .+; retrying", lost)
    await live.start()
    assert re.fullmatch(rf"{STAMP}  regained gtm at {live.url}", await watch.until("regained"))
    await live.move("billing", "dc-paris", "maintenance of aws-use1")
    assert "active dc-paris, epoch 2, version 2" in await watch.until("active")
    assert (await watch.line()).endswith("    maintenance of aws-use1")
    assert not any("search" in line or "gcp-euw1" in line for line in watch.seen)
    assert sum("version 1" in line for line in watch.seen) == 1  # not again after the restart


async def test_resolve_watch_json_prints_one_object_per_version(
    live: LiveGtm, gtm_command: Any
) -> None:
    watch = await gtm_command("resolve", "search", "--watch", "--json", "--api", live.url)
    first = json.loads(await watch.line())
    assert (first["type"], first["mapping"]["active_site"]) == ("mapping", "dc-paris")
    await live.move("search", "aws-use1", "back")
    moved = json.loads(await watch.line())
    assert (moved["mapping"]["version"], moved["mapping"]["reason"]) == (2, "back")
    assert isinstance(moved["time"], float)
