"""The Store contract for commit: many compare-and-sets and their journal records at once,
checked against every store kind."""

from __future__ import annotations

import asyncio

import pytest

from gtm.registry.store import Record, RecordFilter, Store, Write


def move(service: str, at: float) -> Record:
    return Record(f"{service} moved".encode(), at, "move", service, ("site-a", "site-b"))


async def test_a_commit_writes_every_key_and_record_with_growing_indexes_and_own_seqs(
    store: Store,
) -> None:
    before = await store.cas("mappings/before", b"v", 0)
    assert before is not None
    writes = [
        Write(f"mappings/svc-{i:03d}", f"v{i}".encode(), 0, (move(f"svc-{i:03d}", 100.0 + i),))
        for i in range(150)  # more than one Consul transaction holds
    ]

    done = await store.commit(writes)

    assert all(written.applied for written in done)
    indexes = [written.entry.index for written in done if written.entry is not None]
    assert len(indexes) == 150 and indexes == sorted(indexes) and indexes[0] > before.index
    seqs = [record.seq for written in done for record in written.records]
    assert len(seqs) == 150 and seqs == sorted(set(seqs))
    for write, written in zip(writes, done, strict=True):
        assert await store.get(str(write.key)) == written.entry
    found = await store.records(RecordFilter(service="svc-042", kind="move", site="site-b"))
    assert [(r.value, r.time) for r in found] == [(b"svc-042 moved", 142.0)]
    assert len(await store.records(RecordFilter(limit=1000))) == 150


async def test_a_write_whose_condition_fails_is_left_out_with_its_records_alone(
    store: Store,
) -> None:
    first = await store.cas("mappings/taken", b"old", 0)
    assert first is not None
    stale = Write("mappings/taken", b"lost", first.index + 1000, (move("taken", 1.0),))
    fresh = Write("mappings/fresh", b"new", 0, (move("fresh", 2.0),))
    created_twice = Write("mappings/taken", b"again", 0)

    done = await store.commit([fresh, stale])
    again = await store.commit([created_twice])

    assert [written.applied for written in done] == [True, False]
    assert done[1].entry is None and done[1].records == ()
    assert not again[0].applied
    assert await store.get("mappings/taken") == first
    assert [r.service for r in await store.records(RecordFilter())] == ["fresh"]


async def test_records_without_a_key_are_journaled_and_keys_keep_growing(store: Store) -> None:
    before = await store.cas("k", b"v", 0)
    assert before is not None

    done = await store.commit(
        [
            Write(None, records=(Record(b"a", 5.0, "health", "svc"),)),
            Write("k", b"w", before.index),
        ]
    )

    assert done[0].applied and done[0].entry is None and done[0].records[0].seq > 0
    assert done[1].entry is not None and done[1].entry.index > before.index
    after = await store.cas("other", b"x", 0)
    assert after is not None and after.index > done[1].entry.index


async def test_a_watcher_sees_every_entry_a_commit_changed(store: Store) -> None:
    index, _ = await store.watch("mappings/", 0, 0)
    watching = asyncio.ensure_future(store.watch("mappings/", index, 10.0))
    await asyncio.sleep(0)

    await store.commit([Write(f"mappings/s{i}", b"v", 0) for i in range(3)])

    seen, entries = await asyncio.wait_for(watching, 20.0)
    assert seen > index
    assert [entry.key for entry in entries if entry.index > index] == [
        "mappings/s0",
        "mappings/s1",
        "mappings/s2",
    ]


async def test_two_writes_of_one_key_in_one_commit_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="mappings/k"):
        await store.commit([Write("mappings/k", b"1", 0), Write("mappings/k", b"2", 0)])

    assert await store.get("mappings/k") is None
