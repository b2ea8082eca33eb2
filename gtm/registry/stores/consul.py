"""The registry on a Consul cluster's KV store, so several gtm instances share one truth.

Keys live under a configurable prefix (``gtm/mappings/billing``); a store index is Consul's
``ModifyIndex`` (a Raft index: it only grows, and a delete leaves a tombstone with its own),
so compare-and-set is Consul's ``cas`` and :meth:`ConsulStore.watch` is a blocking query.
Reads of a key or a prefix, blocking queries included, go through py-consul's asyncio
client. Writes, and the journal's batched reads, go to the ``/v1/txn`` endpoint directly,
through the same client's HTTP session, because py-consul's ``txn.put`` sends no ACL token
and its KV ``put`` does not return the index a write was given.

The journal is kept under ``<prefix>journal/``: each record at ``r/<seq>``, a sequence
counter at ``seq`` taken by compare-and-set in the same transaction as the record, and one
empty index key per field a search filters on (``t/``, ``service/<name>/``, ``kind/…``,
``site/…``), named by time then sequence, so a search lists the keys of the smallest index
that applies and reads records newest first only until it has enough.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import contextlib
import json
import os
import socket
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

import aiohttp
import consul
import consul.aio

from gtm.config.secrets import resolve_secret
from gtm.config.stores import ConsulStoreConfig
from gtm.errors import StoreInUse, StoreStalled, StoreUnavailable
from gtm.registry.store import Entry, Record, RecordFilter, Write, Written, check_distinct

T = TypeVar("T")
_Params = list[tuple[str, str]]

REQUEST_TIMEOUT = 10.0
"""Seconds a call waits for Consul before it fails as StoreStalled (a watch adds its wait)."""

MAX_WAIT = 60.0
"""Longest blocking query; with Consul's jitter, still well below the client's timeout of
``wait + jitter + REQUEST_TIMEOUT``."""

WAIT_JITTER = 1 / 16
"""The share of a blocking query's ``wait`` Consul may add to it at random."""

WATCH_PAUSE = 0.05
"""Least seconds between two blocking queries of one watch, so an answer that comes back
unchanged again and again cannot turn the loop into a busy one."""

TXN_OPS = 64
"""Most operations Consul 1.8 accepts in one transaction."""

JOURNAL = "journal/"
"""Where the journal lives under the prefix; store keys never start with it."""

LOCK = "lock"
"""The key, under the prefix, that an exclusive store holds with its session."""

LOCK_TTL = "15s"
"""How long an exclusive store's session outlives a gtm that stopped renewing it."""


def open_consul(section: ConsulStoreConfig, *, exclusive: bool) -> ConsulStore:
    """The store a ``store: {type: consul}`` section names (its factory in the store map)."""
    token = None if section.token is None else resolve_secret(section.token).get_secret_value()
    return ConsulStore(
        section.address,
        section.prefix,
        token=token,
        datacenter=section.datacenter,
        exclusive=exclusive,
    )


class ConsulStore:
    """A :class:`gtm.registry.store.Store` on Consul KV under ``prefix``.

    Args:
        address: ``host:port`` of a Consul agent's HTTP API.
        prefix: Where the keys live (``gtm/``); two gtm deployments need two prefixes.
        token: The ACL token sent with every request; None for none.
        datacenter: The Consul datacenter to use; None for the agent's own.
        exclusive: Take the lock ``<prefix>lock`` with a Consul session, so a second
            exclusive store on the prefix is refused (what the SQLite store's file lock is
            for one machine); the lock is taken on the first call.
    """

    def __init__(
        self,
        address: str,
        prefix: str = "gtm/",
        *,
        token: str | None = None,
        datacenter: str | None = None,
        exclusive: bool = False,
    ) -> None:
        host, _, port = address.rpartition(":")
        self._where = f"consul store {address}/{prefix}"
        self._prefix = prefix
        self._token = token
        self._dc = datacenter
        self._exclusive = exclusive
        self._client: consul.aio.Consul | None = None
        self._host, self._port = host or address, int(port) if port.isdigit() else 8500
        self._closed = asyncio.Event()
        self._calls: dict[int, float] = {}
        self._next_call = 0
        self._session: str | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._lock_taken: asyncio.Lock | None = None
        self._fenced: tuple[str, str, Callable[[], str | None]] | None = None

    @property
    def prefix(self) -> str:
        """The key prefix every key of this store lives under (``gtm/``)."""
        return self._prefix

    @property
    def location(self) -> str:
        """``consul store host:port/prefix``, as the store's error messages start."""
        return self._where

    async def get(self, key: str) -> Entry | None:
        """The entry at ``key``, or None when there is none."""
        async with self._call("get"):
            _, item = await self._closable(self._kv().get(self._prefix + key, dc=self._dc))
        return None if item is None else self._entry(item)

    async def list(self, prefix: str) -> builtins.list[Entry]:
        """Every entry whose key starts with ``prefix``, sorted by key."""
        return (await self.watch(prefix, 0, 0))[1]

    def fence(self, prefix: str, lock: str, session: Callable[[], str | None]) -> None:
        """Fence every later write under ``prefix`` with the leader lock.

        Each ``cas`` of a key under ``prefix`` becomes one transaction that checks that
        ``<store prefix><lock>`` is held by ``session()`` together with the key's index,
        so an instance whose session lost the lock cannot write, whatever its clock says.
        When ``session()`` is None (this instance does not act) nothing is sent and the
        write fails as a lost condition.

        Args:
            prefix: The keys to fence (``mappings/``).
            lock: The lock's key under the store's prefix (``leader``).
            session: The session that must hold the lock, asked at every write.
        """
        self._fenced = (prefix, self._prefix + lock, session)

    def _is_fenced(self, key: str | None) -> bool:
        """Whether a write of ``key`` must carry the leader lock's session check."""
        return self._fenced is not None and key is not None and key.startswith(self._fenced[0])

    def _fence_check(self) -> dict[str, Any] | None:
        """The operation checking that the fencing session holds the leader lock, or None
        when this instance has no such session (it does not act)."""
        assert self._fenced is not None
        session = self._fenced[2]()
        if session is None:
            return None
        return {"KV": {"Verb": "check-session", "Key": self._fenced[1], "Session": session}}

    async def cas(self, key: str, value: bytes, index: int) -> Entry | None:
        """Write ``value`` at ``key`` if its ``ModifyIndex`` is still ``index`` (0: absent)."""
        ops = [_op("cas", self._prefix + key, value, index=index)]
        if self._is_fenced(key):
            check = self._fence_check()
            if check is None:
                async with self._call("cas"):
                    return None
            ops.insert(0, check)
        async with self._call("cas"):
            results = await self._txn(ops)
        if results is None:
            return None
        return Entry(key, value, int(results[-1]["KV"]["ModifyIndex"]))

    async def delete(self, key: str, index: int | None = None) -> bool:
        """Remove ``key``; with ``index``, only if the key still has that index."""
        full = self._prefix + key
        # A transaction's ``get`` fails it when the key is absent, so an unconditional
        # delete still says whether there was an entry to remove.
        ops = [_op("get", full), _op("delete", full)]
        if index is not None:
            ops = [_op("delete-cas", full, index=index)]
        async with self._call("delete"):
            return await self._txn(ops) is not None

    async def watch(
        self, prefix: str, index: int, timeout: float
    ) -> tuple[int, builtins.list[Entry]]:
        """A blocking query on ``prefix`` past ``index``, for at most ``timeout`` seconds.

        Consul answers when the prefix's index passes ``index`` or its ``wait`` runs out
        (it may answer early, and an index may go backwards when tombstones are reaped or
        the cluster is rebuilt). An unchanged early answer is asked again, no sooner than
        :data:`WATCH_PAUSE` after the last; an index below ``index`` is answered at once,
        so the caller restarts from it.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            wait = min(max(deadline - loop.time(), 0.0), MAX_WAIT)
            started = loop.time()
            async with self._call("watch", extra=wait):
                seen, items = await self._closable(
                    self._kv().get(
                        self._prefix + prefix,
                        recurse=True,
                        index=index if wait > 0 else None,
                        wait=f"{max(int(wait * 1000), 1)}ms" if wait > 0 else None,
                        dc=self._dc,
                    )
                )
            seen = int(seen)
            if seen != index or loop.time() >= deadline:
                entries = [self._entry(item) for item in items or []]
                return seen, [entry for entry in entries if not _reserved(entry.key)]
            await asyncio.sleep(max(0.0, started + WATCH_PAUSE - loop.time()))

    async def append(self, record: Record) -> Record:
        """Add ``record`` to the journal with the next sequence number."""
        sites = tuple(dict.fromkeys(record.sites))
        counter = self._prefix + JOURNAL + "seq"
        async with self._call("append"):
            while True:
                _, item = await self._closable(self._kv().get(counter, dc=self._dc))
                last = 0 if item is None else int(item["Value"])
                stored = Record(
                    record.value, record.time, record.kind, record.service, sites, last + 1
                )
                index = 0 if item is None else int(item["ModifyIndex"])
                ops = [_op("cas", counter, str(stored.seq).encode(), index=index)]
                ops.append(_op("set", self._record_key(stored.seq), _encode_record(stored)))
                ops += [_op("set", key) for key in self._index_keys(stored)]
                if await self._txn(ops) is not None:
                    return stored
                # Another writer took this number: read the counter again.

    async def commit(self, writes: Sequence[Write]) -> builtins.list[Written]:
        """Apply each write whose condition holds, with its records, in transactions of at
        most :data:`TXN_OPS` operations; a write and its records are never split.

        A transaction carries the journal counter's compare-and-set once for all its
        records, and, when it writes a fenced key (:meth:`fence`), the leader lock's
        session check once for all of them, as :meth:`cas` does. Consul refuses a whole
        transaction when one condition fails, so the writes that lost are left out (every
        fenced one when the session check failed) and the rest is sent again.
        """
        check_distinct(writes)
        done: dict[int, Written] = {}
        async with self._call("commit"):
            for group in self._commit_groups(writes):
                done.update(await self._commit_group(writes, group))
        return [done[number] for number in range(len(writes))]

    def _commit_groups(self, writes: Sequence[Write]) -> builtins.list[builtins.list[int]]:
        """The writes' positions, cut into groups whose operations fit one transaction."""
        groups: builtins.list[builtins.list[int]] = []
        size = TXN_OPS
        for number, write in enumerate(writes):
            ops = (write.key is not None) + sum(
                1 + len(self._index_keys(record, 0)) for record in write.records
            )
            if size + ops > TXN_OPS - 2:  # one for the journal counter, one for the fence
                groups.append([])
                size = 0
            groups[-1].append(number)
            size += ops
        return groups

    async def _commit_group(
        self, writes: Sequence[Write], group: builtins.list[int]
    ) -> dict[int, Written]:
        """One transaction for ``group``, sent again without the writes whose condition
        failed until it goes through; what became of each write, by position."""
        counter = self._prefix + JOURNAL + "seq"
        done: dict[int, Written] = {}
        todo = list(group)
        while todo:
            fenced = [number for number in todo if self._is_fenced(writes[number].key)]
            check = self._fence_check() if fenced else None
            if fenced and check is None:
                # This instance does not act: its fenced writes are lost, none is sent.
                for number in fenced:
                    done[number] = Written(None, (), False)
                    todo.remove(number)
                continue
            _, item = await self._closable(self._kv().get(counter, dc=self._dc))
            last = 0 if item is None else int(item["Value"])
            ops: builtins.list[dict[str, Any]] = []
            owners: builtins.list[int | None] = []  # the write each operation belongs to
            stored: dict[int, tuple[Record, ...]] = {}
            for number in todo:
                write = writes[number]
                if write.key is not None:
                    ops.append(_op("cas", self._prefix + write.key, write.value, index=write.index))
                    owners.append(number)
                records = []
                for record in write.records:
                    last += 1
                    sites = tuple(dict.fromkeys(record.sites))
                    kept = Record(
                        record.value, record.time, record.kind, record.service, sites, last
                    )
                    records.append(kept)
                    ops.append(_op("set", self._record_key(last), _encode_record(kept)))
                    ops += [_op("set", key) for key in self._index_keys(kept)]
                    owners += [None] * (1 + len(self._index_keys(kept)))
                stored[number] = tuple(records)
            if any(stored.values()):
                index = 0 if item is None else int(item["ModifyIndex"])
                ops.insert(0, _op("cas", counter, str(last).encode(), index=index))
                owners.insert(0, None)
            if check is not None:
                ops.insert(0, check)
                owners.insert(0, _FENCE)
            status, body = await self._send("PUT", "/v1/txn", json.dumps(ops), [])
            if status == 200:
                results = json.loads(body)["Results"]
                for number in todo:
                    entry = None
                    if writes[number].key is not None:
                        at = owners.index(number)
                        entry = Entry(
                            str(writes[number].key),
                            writes[number].value,
                            int(results[at]["KV"]["ModifyIndex"]),
                        )
                    done[number] = Written(entry, stored[number], True)
                return done
            if status != 409 or not _conditions_failed(body):
                raise StoreUnavailable(f"{self._where}: transaction refused ({status}): {body!r}")
            lost = {owners[int(error.get("OpIndex", 0))] for error in json.loads(body)["Errors"]}
            if _FENCE in lost:  # the session lost the lock: no fenced write may go in
                lost = (lost - {_FENCE}) | set(fenced)
            for loser in lost:
                if loser is not None:
                    done[loser] = Written(None, (), False)
                    todo.remove(loser)
            # None among the losers: another writer took journal numbers; read the counter again.
        return done

    async def records(self, where: RecordFilter) -> builtins.list[Record]:
        """The newest ``where.limit`` journal records matching ``where``, newest first.

        Lists the keys (not the records) of each index that applies, walks the shortest
        from its newest end and reads records in batches until ``limit`` match.
        """
        if where.limit <= 0:
            async with self._call("records"):
                return []
        indexes = [
            f"{field}/{_quote(value)}/"
            for field, value in (
                ("service", where.service),
                ("kind", where.kind),
                ("site", where.site),
            )
            if value is not None
        ] or ["t/"]
        async with self._call("records"):
            listings = [await self._keys(self._prefix + JOURNAL + name) for name in indexes]
            keys = min(listings, key=len)
            seqs = [
                int(key.rsplit("/", 1)[1])
                for key in reversed(keys)
                if _in_window(key.rsplit("/", 2)[1], where)
            ]
            found: builtins.list[Record] = []
            for batch in _batches(seqs, max(where.limit, 8)):
                for seq, item in zip(batch, await self._read_records(batch), strict=True):
                    if item is not None and _matches(item, where):
                        found.append(Record(*_fields(item), seq=seq))
                if len(found) >= where.limit:
                    break
        found.sort(key=lambda record: (record.time, record.seq), reverse=True)
        return found[: where.limit]

    async def trim(self, keep: int) -> int:
        """Remove every journal record but the newest ``keep`` (by sequence)."""
        async with self._call("trim"):
            keys = await self._keys(self._prefix + JOURNAL + "r/")
            doomed = [int(key.rsplit("/", 1)[1]) for key in keys[: max(0, len(keys) - keep)]]
            for batch in _batches(doomed, TXN_OPS // 8):
                ops = []
                for seq, item in zip(batch, await self._read_records(batch), strict=True):
                    ops.append(_op("delete", self._record_key(seq)))
                    if item is not None:
                        ops += [_op("delete", key) for key in self._index_keys(item, seq)]
                for chunk in _batches(ops, TXN_OPS):
                    await self._txn(chunk, check=True)
        return len(doomed)

    def busy_for(self) -> float:
        """Seconds the oldest call (other than a watch's wait) has been in flight."""
        if not self._calls:
            return 0.0
        return max(0.0, time.monotonic() - min(self._calls.values()))

    async def close(self) -> None:
        """Release the lock, close the HTTP session; watches and later calls fail."""
        if self._closed.is_set():
            return
        if self._renewer is not None:
            self._renewer.cancel()
        if self._session is not None and self._client is not None:
            # Released first: a release leaves no lock delay, so the next gtm starts at once.
            release = [("release", self._session)]
            with contextlib.suppress(StoreUnavailable):  # else the session's TTL ends it
                await self._request("PUT", f"/v1/kv/{self._prefix}{LOCK}", "", release)
                await self._request("PUT", f"/v1/session/destroy/{self._session}")
        self._closed.set()
        if self._client is not None:
            await self._client.close()

    async def _ensure_lock(self) -> None:
        """Hold ``<prefix>lock`` with a session of this store's, when it is exclusive.

        Taken on the first call, and again on the next call after the session was lost
        (its TTL ran out while this process was stopped, or Consul lost it).

        Raises:
            StoreInUse: Another gtm's session holds the lock.
        """
        if not self._exclusive or self._session is not None:
            return
        if self._lock_taken is None:
            self._lock_taken = asyncio.Lock()
        async with self._lock_taken:
            if self._session is not None:
                return
            holder = f"pid {os.getpid()} on host {socket.gethostname()}"
            body = {"Name": f"gtm {holder}", "TTL": LOCK_TTL, "Behavior": "delete"}
            created = await self._request("PUT", "/v1/session/create", json.dumps(body))
            session = str(created["ID"])
            held = await self._request(
                "PUT", f"/v1/kv/{self._prefix}{LOCK}", holder, [("acquire", session)]
            )
            if held is not True:
                await self._request("PUT", f"/v1/session/destroy/{session}")
                _, item = await self._closable(self._kv().get(self._prefix + LOCK, dc=self._dc))
                other = "process unknown" if item is None else bytes(item["Value"]).decode()
                raise StoreInUse(
                    f"{self._where}: in use by another gtm ({other}); stop it or give this"
                    " one a store.prefix of its own",
                    path=self._where,
                    holder=other,
                )
            self._session = session
            if self._renewer is None:
                self._renewer = asyncio.create_task(self._renew())

    async def _renew(self) -> None:
        """Renew the lock's session well within its TTL until the store closes."""
        ttl = float(LOCK_TTL.rstrip("s"))
        while True:
            await asyncio.sleep(ttl / 3)
            if self._session is None:
                continue
            try:
                status, _ = await self._send("PUT", f"/v1/session/renew/{self._session}", "", [])
            except StoreUnavailable:
                continue  # asked again at the next turn; the TTL leaves room for two misses
            if status == 404:
                self._session = None  # gone: the next call takes the lock again

    def _kv(self) -> Any:
        return self._connect().kv

    def _connect(self) -> consul.aio.Consul:
        if self._client is None:
            self._client = consul.aio.Consul(
                host=self._host, port=self._port, token=self._token, dc=self._dc
            )
        return self._client

    @contextlib.asynccontextmanager
    async def _call(self, action: str, extra: float = 0.0) -> AsyncIterator[None]:
        """Time one call: translate Consul's and the network's failures, count it busy."""
        if self._closed.is_set():
            raise StoreUnavailable(f"{self._where}: closed")
        self._next_call += 1
        call = self._next_call
        # A watch is busy only once its wait, and the jitter Consul may add, are over.
        self._calls[call] = time.monotonic() + extra * (1 + WAIT_JITTER)
        limit = extra * (1 + WAIT_JITTER) + REQUEST_TIMEOUT
        try:
            async with asyncio.timeout(limit):
                await self._ensure_lock()
                yield
        except TimeoutError as exc:
            raise StoreStalled(
                f"{self._where}: {action} had no answer within {limit:g}s; is Consul reachable"
                " and does it have a leader?",
                path=self._where,
                waited=limit,
            ) from exc
        except (aiohttp.ClientError, consul.ConsulException, OSError, ValueError) as exc:
            if self._closed.is_set():
                raise StoreUnavailable(f"{self._where}: closed") from exc
            raise StoreUnavailable(f"{self._where}: {action} failed: {exc}") from exc
        finally:
            del self._calls[call]

    async def _closable(self, work: Awaitable[T]) -> T:
        """``work``, or StoreUnavailable as soon as the store is closed."""
        task = asyncio.ensure_future(work)
        # A request cut short by close() may still end in the closed session's error.
        task.add_done_callback(lambda done: done.cancelled() or done.exception())
        closed = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.wait({task, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
        if self._closed.is_set():
            task.cancel()
            if task.done() and not task.cancelled():
                task.exception()  # retrieved: the session closing under it is the cause
            raise StoreUnavailable(f"{self._where}: closed")
        return task.result()

    async def _txn(self, ops: builtins.list[dict[str, Any]], *, check: bool = False) -> Any:
        """Apply ``ops`` as one transaction: its results, or None when a condition failed.

        The HTTP API directly (``PUT /v1/txn``), as py-consul's ``txn.put`` sends no token.
        """
        status, body = await self._send("PUT", "/v1/txn", json.dumps(ops), [])
        if status == 409 and not check and _conditions_failed(body):
            return None
        if status != 200:
            raise StoreUnavailable(f"{self._where}: transaction refused ({status}): {body!r}")
        return json.loads(body)["Results"]

    async def _request(
        self,
        method: str,
        path: str,
        data: str = "",
        params: builtins.list[tuple[str, str]] | None = None,
    ) -> Any:
        """One HTTP API call outside KV reads (sessions, locks), its JSON answer."""
        status, body = await self._send(method, path, data, params or [])
        if status != 200:
            raise StoreUnavailable(f"{self._where}: {path} refused ({status}): {body!r}")
        return json.loads(body) if body else None

    async def _send(self, method: str, path: str, data: str, params: _Params) -> tuple[int, str]:
        """The HTTP API directly, with the token and datacenter: status and body."""
        client = self._connect()
        params = params + ([("dc", self._dc)] if self._dc else [])
        headers = client.prepare_headers(self._token)
        send: Callable[..., Awaitable[Any]] = getattr(client.http, method.lower())

        def raw(response: Any) -> tuple[int, str]:
            return int(response.code), str(response.body)

        extra = {"data": data} if method != "GET" else {}
        try:
            result: tuple[int, str] = await self._closable(
                send(raw, path, params=params, headers=headers, **extra)
            )
        except (aiohttp.ClientError, OSError) as exc:
            raise StoreUnavailable(f"{self._where}: {path} failed: {exc}") from exc
        return result

    async def call(
        self, method: str, path: str, body: Any = None, params: _Params | None = None
    ) -> tuple[int, Any]:
        """One request to the agent's HTTP API beyond KV (sessions, checks, status).

        The HTTP API directly, with this store's token and datacenter, so the cluster's
        session and leader lock talk to the agent as the store does.

        Returns:
            Consul's status code and its answer: decoded JSON, the text when it is not
            JSON, None when empty.

        Raises:
            StoreUnavailable: The agent did not answer, or the store is closed.
        """
        if self._closed.is_set():
            raise StoreUnavailable(f"{self._where}: closed")
        data = "" if body is None else body if isinstance(body, str) else json.dumps(body)
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                status, text = await self._send(method, path, data, params or [])
        except TimeoutError as exc:
            raise StoreStalled(
                f"{self._where}: {path} had no answer within {REQUEST_TIMEOUT:g}s",
                path=self._where,
                waited=REQUEST_TIMEOUT,
            ) from exc
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, text

    async def _keys(self, prefix: str) -> builtins.list[str]:
        """The keys under ``prefix`` (no values), sorted."""
        _, keys = await self._closable(self._kv().get(prefix, keys=True, dc=self._dc))
        return sorted(keys or [])

    async def _read_records(self, seqs: builtins.list[int]) -> builtins.list[Record | None]:
        """The records numbered ``seqs``, in order; None for one trimmed meanwhile.

        Read in transactions of :data:`TXN_OPS` gets; a transaction fails when one of its
        keys is gone, and then that batch is read key by key.
        """
        found: builtins.list[Record | None] = []
        for batch in _batches(seqs, TXN_OPS):
            results = await self._txn([_op("get", self._record_key(seq)) for seq in batch])
            if results is not None:
                values = [base64.b64decode(result["KV"]["Value"]) for result in results]
                found += [_decode_record(v, seq) for v, seq in zip(values, batch, strict=True)]
                continue
            for seq in batch:
                key = self._record_key(seq)
                _, item = await self._closable(self._kv().get(key, dc=self._dc))
                found.append(None if item is None else _decode_record(item["Value"], seq))
        return found

    def _record_key(self, seq: int) -> str:
        return f"{self._prefix}{JOURNAL}r/{seq:020d}"

    def _index_keys(self, record: Record, seq: int | None = None) -> builtins.list[str]:
        """The index keys of ``record``: one per field a search filters on."""
        name = f"{_time_key(record.time)}/{(record.seq if seq is None else seq):020d}"
        base = self._prefix + JOURNAL
        keys = [f"{base}t/{name}", f"{base}kind/{_quote(record.kind)}/{name}"]
        if record.service is not None:
            keys.append(f"{base}service/{_quote(record.service)}/{name}")
        keys += [f"{base}site/{_quote(site)}/{name}" for site in record.sites]
        return keys

    def _entry(self, item: dict[str, Any]) -> Entry:
        key = str(item["Key"])[len(self._prefix) :]
        return Entry(key, bytes(item["Value"] or b""), int(item["ModifyIndex"]))


def _op(verb: str, key: str, value: bytes = b"", *, index: int = 0) -> dict[str, Any]:
    """One KV operation of a transaction."""
    op: dict[str, Any] = {"Verb": verb, "Key": key, "Index": index}
    if verb in {"set", "cas"}:
        op["Value"] = base64.b64encode(value).decode()
    return {"KV": op}


_FENCE = -1
"""In a commit, the owner of the leader lock's session check: every fenced write."""


def _conditions_failed(body: str) -> bool:
    """Whether a refused transaction failed only on its conditions (a stale index, an
    absent key, a lock not held by the fencing session), not on a permission or anything
    else that must not read as a lost race."""
    try:
        errors = json.loads(body)["Errors"]
    except (ValueError, KeyError, TypeError):
        return False
    lost = ("index is stale", "doesn't exist", "failed session check")
    return bool(errors) and all(
        any(why in str(error.get("What")) for why in lost) for error in errors
    )


def _reserved(key: str) -> bool:
    """Keys the store keeps for itself under the prefix (the journal, the lock)."""
    return key.startswith(JOURNAL) or key == LOCK


def _fields(record: Record) -> tuple[bytes, float, str, str | None, tuple[str, ...]]:
    return record.value, record.time, record.kind, record.service, record.sites


def _encode_record(record: Record) -> bytes:
    return json.dumps(
        {
            "value": base64.b64encode(record.value).decode(),
            "time": record.time,
            "kind": record.kind,
            "service": record.service,
            "sites": list(record.sites),
        }
    ).encode()


def _decode_record(raw: bytes, seq: int) -> Record:
    doc = json.loads(raw)
    return Record(
        base64.b64decode(doc["value"]),
        float(doc["time"]),
        str(doc["kind"]),
        doc["service"],
        tuple(doc["sites"]),
        seq,
    )


def _time_key(moment: float) -> str:
    """A time as a fixed-width key part, so keys sort as times do (microseconds)."""
    return f"{max(0, round(moment * 1_000_000)):020d}"


def _in_window(time_key: str, where: RecordFilter) -> bool:
    """Whether a key's time may fall in the search's window (exactly checked on the record)."""
    micros = int(time_key)
    return (where.since is None or micros >= round(where.since * 1_000_000) - 1) and (
        where.until is None or micros <= round(where.until * 1_000_000) + 1
    )


def _matches(record: Record, where: RecordFilter) -> bool:
    return (
        (where.service is None or record.service == where.service)
        and (where.kind is None or record.kind == where.kind)
        and (where.site is None or where.site in record.sites)
        and (where.since is None or record.time >= where.since)
        and (where.until is None or record.time < where.until)
    )


def _quote(name: str) -> str:
    """A service, kind or site name as one key segment."""
    return urllib.parse.quote(name, safe="")


def _batches(items: builtins.list[T], size: int) -> Iterable[builtins.list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
