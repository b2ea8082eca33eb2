"""Contending for ``<prefix>leader`` with this instance's session, and knowing when to stop.

The instance whose session holds the lock leads; its term is the lock's ``LockIndex``
(it grows with every acquisition, as long as the key is never deleted, which releasing
never does). The leader reads the key back every ``confirm_interval`` seconds; whether it
may still act is :func:`gtm.core.leadership.authority` of what it has confirmed, asked
afresh at every decision, so a process stopped or cut off from Consul stops acting on its
own clock before another instance can have the lock. Followers wait on the key with a
blocking query and try to take it as soon as it is free (Consul refuses until the lock
delay of a session that ended is over).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gtm.cluster.session import ClusterSession, ConsulApi
from gtm.controller.tasks import cancel_all
from gtm.core.leadership import Authority, Lease, authority
from gtm.errors import StoreUnavailable
from healthchecks.clock import Clock, LoopClock

log = logging.getLogger(__name__)

LEADER = "leader"
"""The lock's key under the store's prefix."""

WATCH_WAIT = 5.0
"""Seconds a follower's blocking query on the lock waits before asking again."""


@dataclass(frozen=True, slots=True)
class LeaderInfo:
    """The leader as the lock's key names it (what ``gtm status`` shows).

    Attributes:
        instance: Its name; empty when nobody holds the lock.
        address: The address it advertises (its API), as it wrote it.
        term: The lock's ``LockIndex``.
        session: The holding session's id; empty when the lock is free.
    """

    instance: str = ""
    address: str = ""
    term: int = 0
    session: str = ""


class Leadership:
    """This instance's part in electing the leader, and its authority while it leads.

    Args:
        api: The local Consul agent.
        session: This instance's session (kept by its owner).
        key: The lock's full key (``gtm/leader``).
        instance: This instance's name.
        address: What it advertises to the others (its API's ``host:port``).
        clock: The one clock; the event loop's unless given.
        confirm_interval: Seconds between two reads of the lock while leading.
        margin: Seconds before its bound at which the leader stops acting.
        on_change: Called (synchronously) when this instance starts or stops acting,
            or the leader changes.
    """

    def __init__(
        self,
        api: ConsulApi,
        session: ClusterSession,
        key: str,
        instance: str,
        address: str,
        *,
        clock: Clock | None = None,
        confirm_interval: float = 0.5,
        margin: float = 0.25,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._api = api
        self._session = session
        self._key = key
        self.instance = instance
        self.address = address
        self._clock: Clock = clock if clock is not None else LoopClock()
        self._confirm_interval = confirm_interval
        self._margin = margin
        self._on_change = on_change
        self._lease = Lease()
        self._held_by: str | None = None
        self._leader = LeaderInfo()
        self._index = 0
        self._acting = False
        self._tasks: list[asyncio.Task[None]] = []
        self.problem = ""
        """Why the lock could not be read or taken at the last attempt; empty when it could."""

    def authority(self) -> Authority:
        """Whether this instance may act for the cluster now (asked at every decision)."""
        lease = Lease(self._lease.term, self._lease.confirmed_at, self._session.valid_until)
        if self._session.id is None or self._session.id != self._held_by:
            lease = Lease()  # a lock confirmed for a session since lost is no lock
        return authority(
            lease, self._clock.monotonic(), self._session.params.check_ttl, self._margin
        )

    @property
    def acting(self) -> bool:
        """Shorthand for ``authority().acting``."""
        return self.authority().acting

    @property
    def term(self) -> int:
        """This instance's term while it holds the lock; 0 otherwise."""
        return self._lease.term

    @property
    def leader(self) -> LeaderInfo:
        """The leader as last read from the lock's key."""
        return self._leader

    async def start(self) -> None:
        """Contend for the lock from now on; returns at once."""
        self._tasks = [
            asyncio.create_task(self._contend(), name="cluster-leadership"),
            asyncio.create_task(self._watch_authority(), name="cluster-authority"),
        ]

    async def stop(self) -> None:
        """Stop contending and release the lock if held (no lock delay: the next leader
        takes over at once)."""
        await cancel_all(self._tasks, "cluster leadership")
        self._tasks = []
        session = self._session.id
        if self._lease.term and session is not None:
            self._lease = Lease()
            with contextlib.suppress(StoreUnavailable):
                await self._api.call("PUT", f"/v1/kv/{self._key}", "", [("release", session)])
            log.info("cluster: %s released the leader lock", self.instance)
        self._notice()

    async def _contend(self) -> None:
        while True:
            try:
                await self._turn()
                self.problem = ""
            except StoreUnavailable as exc:
                if not self.problem:
                    log.warning("cluster: the leader lock cannot be read: %s", exc)
                self.problem = f"the leader lock cannot be read: {exc}"
                await asyncio.sleep(self._confirm_interval)
            except Exception:
                log.exception("cluster: contending for the leader lock failed")
                await asyncio.sleep(self._confirm_interval)

    async def _turn(self) -> None:
        """Read the lock once: confirm it, take it, or wait for it to change."""
        session = self._session.id
        if session is None:
            self._set(Lease())
            await asyncio.sleep(self._confirm_interval)
            return
        sent = self._clock.monotonic()
        holding = self._lease.term > 0 and self._leader.session == session
        wait = [] if holding else [("index", str(self._index)), ("wait", f"{WATCH_WAIT:g}s")]
        status, body, index = await self._read(wait if self._index else [])
        self._index = index
        item = body[0] if status == 200 and body else None
        holder = str(item.get("Session") or "") if item else ""
        self._leader = _leader_info(item)
        if holder == session:
            self._held_by = session
            self._set(Lease(int(item["LockIndex"]), sent) if item else Lease())
            await asyncio.sleep(self._confirm_interval)
            return
        self._set(Lease())
        if holder:
            return  # held by another: the next read waits for it to change
        me = json.dumps({"instance": self.instance, "address": self.address})
        status, taken = await self._api.call(
            "PUT", f"/v1/kv/{self._key}", me, [("acquire", session)]
        )
        if status == 200 and taken is True:
            log.info("cluster: %s took the leader lock", self.instance)
            self._index = 0  # read it back at once, for the term
        else:
            # The lock delay of the last holder's session is not over: ask again soon,
            # reading without waiting, as the key will not change when it ends.
            self._index = 0
            await asyncio.sleep(self._confirm_interval / 2)

    async def _read(self, params: list[tuple[str, str]]) -> tuple[int, Any, int]:
        """The lock's key (a blocking query with ``params``), and Consul's index."""
        status, body = await self._api.call("GET", f"/v1/kv/{self._key}", None, params)
        if status not in {200, 404}:
            raise StoreUnavailable(f"cluster: reading {self._key}: {status} {body}")
        # The index is not in the body: a plain read without waiting gives the key's own.
        index = int(body[0]["ModifyIndex"]) if status == 200 and body else 0
        return status, body, index

    def _set(self, lease: Lease) -> None:
        if lease.term == 0 and self._lease.term > 0:
            log.warning("cluster: %s no longer holds the leader lock", self.instance)
        self._lease = lease
        self._notice()

    async def _watch_authority(self) -> None:
        """Notice when authority lapses on the clock alone (no read came back in time)."""
        while True:
            await asyncio.sleep(0.05)
            self._notice()

    def _notice(self) -> None:
        acting = self.acting
        if acting != self._acting:
            self._acting = acting
            log.warning(
                "cluster: %s %s acting for the cluster (%s)",
                self.instance,
                "starts" if acting else "stops",
                self.authority().why,
            )
            if self._on_change is not None:
                self._on_change()


def _leader_info(item: dict[str, Any] | None) -> LeaderInfo:
    if item is None or not item.get("Session"):
        return LeaderInfo()
    try:
        doc = json.loads(base64.b64decode(item.get("Value") or b""))
    except ValueError:
        doc = {}
    return LeaderInfo(
        str(doc.get("instance", "")),
        str(doc.get("address", "")),
        int(item.get("LockIndex", 0)),
        str(item["Session"]),
    )
