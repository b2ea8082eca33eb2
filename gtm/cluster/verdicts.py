"""Every vantage's verdicts in Consul, held by its session, so the leader can count votes.

An instance publishes what it judges of each locator under
``<prefix>verdicts/<instance>/locators/<locator>``, and whether it is degraded under
``<prefix>verdicts/<instance>/vantage``, each key acquired with the instance's session: when
the instance dies its session ends, the keys lose their owner, and a reader ignores them, so
a dead instance's votes vanish. Verdicts are published when they change, many in one
transaction (a site that dies changes all its locators at once), and all of them again
whenever the session is new.

Reads are py-consul's asyncio client (a blocking query on the prefix, whose entries carry
the ``Session`` that holds them); writes go to the ``/v1/txn`` endpoint directly, through
the same client's HTTP session, as py-consul's ``txn.put`` sends no ACL token.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import urllib.parse
from collections.abc import Callable
from typing import Any, Protocol

import aiohttp
import consul
import consul.aio

from gtm.controller.tasks import cancel_all
from gtm.core.health import Verdict
from gtm.core.quorum import VantageReport

log = logging.getLogger(__name__)

VERDICTS = "verdicts/"
"""Where the verdicts live under the prefix."""

TXN_OPS = 64
"""Most operations Consul 1.8 accepts in one transaction."""

BATCH_DELAY = 0.005
"""Seconds a publication waits for other changes to join it (a site's locators go down in
the same few milliseconds)."""

RETRY = 0.25
"""Seconds before a refused or failed publication is tried again."""

WATCH_WAIT = 5.0
"""Longest blocking query on the verdicts, in seconds."""

WATCH_PAUSE = 0.01
"""Least seconds between two blocking queries, so a loop of early answers stays idle."""


class SessionHolder(Protocol):
    """Whatever keeps this instance's Consul session (:class:`gtm.cluster.session.ClusterSession`).

    Implementations must answer at once, without I/O.
    """

    @property
    def id(self) -> str | None:
        """The session's id, or None while there is none."""
        ...


def verdicts_client(address: str, token: str | None, datacenter: str | None) -> consul.aio.Consul:
    """A py-consul asyncio client of the agent at ``address`` (``host:port``)."""
    host, _, port = address.rpartition(":")
    return consul.aio.Consul(
        host=host or address, port=int(port) if port.isdigit() else 8500, token=token, dc=datacenter
    )


class VerdictBoard:
    """Publishes this instance's verdicts, held by its session.

    :meth:`set_verdict` and :meth:`set_vantage` are synchronous and only note the change;
    a task publishes what changed, in batches, as soon as the session allows.

    Args:
        client: The local Consul agent.
        prefix: The store's key prefix (``gtm/``).
        instance: This instance's name.
        session: Whatever keeps this instance's session.
        token: The ACL token writes carry; None for none.
    """

    def __init__(
        self,
        client: consul.aio.Consul,
        prefix: str,
        instance: str,
        session: SessionHolder,
        *,
        token: str | None = None,
    ) -> None:
        self._client = client
        self._base = f"{prefix}{VERDICTS}{_quote(instance)}/"
        self._session = session
        self._token = token
        self._verdicts: dict[str, Verdict] = {}
        self._vantage: dict[str, Any] = {"degraded": False, "reasons": []}
        self._dirty: set[str] = set()
        self._vantage_dirty = True
        self._published_with: str | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.published = 0
        """Transactions written so far."""

    def set_verdict(self, locator: str, verdict: Verdict) -> None:
        """Note this vantage's verdict of ``locator``; published soon if it changed."""
        if self._verdicts.get(locator) is verdict:
            return
        self._verdicts[locator] = verdict
        self._dirty.add(locator)
        self._wake.set()

    def set_vantage(self, degraded: bool, reasons: tuple[str, ...]) -> None:
        """Note whether this vantage is degraded, and why; published soon if it changed."""
        state = {"degraded": degraded, "reasons": list(reasons)}
        if state == self._vantage:
            return
        self._vantage = state
        self._vantage_dirty = True
        self._wake.set()

    async def start(self) -> None:
        """Publish from now on."""
        self._wake.set()
        self._task = asyncio.create_task(self._publish_loop(), name="verdicts-publish")

    async def stop(self) -> None:
        """Stop publishing; the keys stay held until the session ends."""
        if self._task is not None:
            await cancel_all([self._task], "cluster verdicts")
            self._task = None

    async def _publish_loop(self) -> None:
        while True:
            # A session made anew (after one was lost) needs every key acquired again, so
            # the loop also looks at the session now and then without being woken.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RETRY):
                    await self._wake.wait()
            self._wake.clear()
            session = self._session.id
            if session is None:
                continue
            if session != self._published_with:
                self._dirty.update(self._verdicts)
                self._vantage_dirty = True
            if not self._dirty and not self._vantage_dirty:
                continue
            await asyncio.sleep(BATCH_DELAY)
            if not await self._publish(session):
                await asyncio.sleep(RETRY)
                self._wake.set()

    async def _publish(self, session: str) -> bool:
        """Write what changed, held by ``session``; whether every batch was accepted."""
        locators = sorted(self._dirty)
        self._dirty.clear()
        ops = []
        if self._vantage_dirty:
            self._vantage_dirty = False
            ops.append(_lock(self._base + "vantage", json.dumps(self._vantage).encode(), session))
        ops += [
            _lock(
                f"{self._base}locators/{_quote(locator)}",
                self._verdicts[locator].value.encode(),
                session,
            )
            for locator in locators
        ]
        for start in range(0, len(ops), TXN_OPS):
            try:
                status, body = await self._txn(ops[start : start + TXN_OPS])
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                status, body = 0, str(exc)
            if status != 200:
                log.warning("verdicts of this vantage not published (%s): %s", status, body)
                # Everything not known to be written is written again with the next batch.
                self._dirty.update(locators)
                self._vantage_dirty = True
                return False
            self.published += 1
        self._published_with = session
        return True

    async def _txn(self, ops: list[dict[str, Any]]) -> tuple[int, str]:
        """``PUT /v1/txn`` directly (py-consul's ``txn.put`` sends no token)."""
        headers = self._client.prepare_headers(self._token)

        def raw(response: Any) -> tuple[int, str]:
            return int(response.code), str(response.body)

        async with asyncio.timeout(10.0):
            result: tuple[int, str] = await self._client.http.put(
                raw, "/v1/txn", params=[], data=json.dumps(ops), headers=headers
            )
        return result


class VantageWatch:
    """Follows every live vantage's verdicts with blocking queries.

    Args:
        client: The local Consul agent.
        prefix: The store's key prefix (``gtm/``).
        on_change: Called with every live vantage's report, by name, each time they change.
    """

    def __init__(
        self,
        client: consul.aio.Consul,
        prefix: str,
        on_change: Callable[[dict[str, VantageReport]], None],
    ) -> None:
        self._client = client
        self._prefix = prefix + VERDICTS
        self._on_change = on_change
        self._task: asyncio.Task[None] | None = None
        self.reports: dict[str, VantageReport] = {}
        """The live vantages' reports as last read."""
        self.problem = ""
        """Why the last read failed; empty when it worked."""

    async def start(self) -> None:
        """Follow the reports from now on (the first read is not waited for)."""
        self._task = asyncio.create_task(self._follow(0), name="verdicts-watch")

    async def stop(self) -> None:
        """Stop following."""
        if self._task is not None:
            await cancel_all([self._task], "cluster verdicts")
            self._task = None

    async def _follow(self, index: int) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                seen, items = await self._read(index)
            except (aiohttp.ClientError, consul.ConsulException, OSError, TimeoutError) as exc:
                self.problem = f"verdicts not read: {exc}"
                log.warning("cluster: %s", self.problem)
                index = 0
                await asyncio.sleep(1.0)
                continue
            self.problem = ""
            # An index that goes backwards (a rebuilt cluster) starts the watch again.
            index = 0 if seen < index else seen
            self._apply(items)
            await asyncio.sleep(max(0.0, started + WATCH_PAUSE - loop.time()))

    async def _read(self, index: int) -> tuple[int, list[dict[str, Any]]]:
        wait = f"{int(WATCH_WAIT * 1000)}ms" if index else None
        async with asyncio.timeout(WATCH_WAIT * 1.1 + 10.0):
            seen, items = await self._client.kv.get(
                self._prefix, recurse=True, index=index or None, wait=wait
            )
        return int(seen), list(items or [])

    def _apply(self, items: list[dict[str, Any]]) -> None:
        reports = reports_of(items, self._prefix)
        if reports != self.reports:
            self.reports = reports
            self._on_change(reports)


class Voting:
    """This instance's part in the vantage quorum: its board and its watch, on one client.

    Args:
        address: ``host:port`` of the local Consul agent.
        prefix: The store's key prefix.
        instance: This instance's name.
        session: Whatever keeps this instance's session.
        token: The ACL token; None for none.
        datacenter: The Consul datacenter; None for the agent's own.
    """

    def __init__(
        self,
        address: str,
        prefix: str,
        instance: str,
        session: SessionHolder,
        *,
        token: str | None = None,
        datacenter: str | None = None,
    ) -> None:
        self._client = verdicts_client(address, token, datacenter)
        self._prefix = prefix
        self.board = VerdictBoard(self._client, prefix, instance, session, token=token)
        self.watch: VantageWatch | None = None

    async def start(self, on_change: Callable[[dict[str, VantageReport]], None]) -> None:
        """Publish this vantage's verdicts and follow everyone's, calling ``on_change``."""
        self.watch = VantageWatch(self._client, self._prefix, on_change)
        await self.board.start()
        await self.watch.start()

    async def stop(self) -> None:
        """Stop publishing and following; safe to repeat."""
        if self.watch is not None:
            await self.watch.stop()
        await self.board.stop()
        await self._client.close()


def reports_of(items: list[dict[str, Any]], prefix: str) -> dict[str, VantageReport]:
    """The live vantages' reports in the KV entries under ``prefix`` (``gtm/verdicts/``).

    A vantage is live while its ``vantage`` key is held by a session; only the verdicts
    it holds with that same session count.
    """
    held: dict[str, dict[str, tuple[str, bytes]]] = {}
    for item in items:
        session = item.get("Session")
        name, _, rest = str(item["Key"])[len(prefix) :].partition("/")
        if session and rest:
            held.setdefault(name, {})[rest] = (str(session), bytes(item.get("Value") or b""))
    known = {verdict.value for verdict in Verdict}
    reports: dict[str, VantageReport] = {}
    for name, keys in held.items():
        if "vantage" not in keys:
            continue
        session, raw = keys["vantage"]
        try:
            vantage = json.loads(raw or b"{}")
        except ValueError:
            log.warning("cluster: vantage %s published an unreadable state; not counted", name)
            continue
        verdicts = {
            urllib.parse.unquote(key[len("locators/") :]): Verdict(value.decode())
            for key, (holder, value) in keys.items()
            if key.startswith("locators/") and holder == session and value.decode() in known
        }
        instance = urllib.parse.unquote(name)
        reports[instance] = VantageReport(
            instance,
            verdicts,
            degraded=bool(vantage.get("degraded", False)),
            reasons=tuple(str(r) for r in vantage.get("reasons", [])),
        )
    return reports


def _lock(key: str, value: bytes, session: str) -> dict[str, Any]:
    """A transaction operation that writes ``key`` held by ``session``."""
    return {
        "KV": {
            "Verb": "lock",
            "Key": key,
            "Value": base64.b64encode(value).decode(),
            "Session": session,
        }
    }


def _quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")
