"""One instance's membership of a gtm cluster: its session, its part in leadership, its
entry among the instances, and what it can say about the cluster (``GET /v1/cluster``).

Every instance writes ``<prefix>instances/<name>`` bound to its session, so the list of
instances shows which are alive (the key holds a session) and which are gone (Consul
released it when their session ended).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from gtm.cluster.leadership import LEADER, Leadership
from gtm.cluster.session import ClusterSession, ConsulApi, SessionParams
from gtm.controller.tasks import cancel_all
from gtm.core.leadership import writer
from gtm.errors import GtmError, StoreUnavailable
from healthchecks.clock import Clock, LoopClock

log = logging.getLogger(__name__)

INSTANCES = "instances/"
"""Where each instance's entry lives under the prefix."""

DESCRIBE_TIMEOUT = 2.0
"""Longest wait for each question ``describe`` asks Consul, so the status answers anyway."""

Vantages = Callable[[], dict[str, Any]]
"""Each vantage's last report and the disagreements, for ``/v1/cluster``."""


class ClusterMember:
    """This instance as one of several on a Consul cluster.

    Args:
        api: The local Consul agent (the store's HTTP API).
        prefix: The store's key prefix (``gtm/``).
        instance: This instance's name.
        address: The address it advertises (its API).
        params: The session's TTL, pass interval and lock delay.
        confirm_interval: Seconds between the leader's reads of its lock.
        margin: Seconds before its bound at which the leader stops acting.
        clock: The one clock; the event loop's unless given.
        on_change: Called when this instance starts or stops acting.
    """

    def __init__(
        self,
        api: ConsulApi,
        prefix: str,
        instance: str,
        address: str,
        params: SessionParams,
        *,
        confirm_interval: float = 0.5,
        margin: float = 0.25,
        clock: Clock | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._api = api
        self._prefix = prefix
        self.instance = instance
        self.address = address
        self._clock: Clock = clock if clock is not None else LoopClock()
        scope = prefix.strip("/").replace("/", ".")
        self.session = ClusterSession(
            api, instance, params, clock=self._clock, check_id=f"gtm:{scope}:{instance}"
        )
        self.leadership = Leadership(
            api,
            self.session,
            prefix + LEADER,
            instance,
            address,
            clock=self._clock,
            confirm_interval=confirm_interval,
            margin=margin,
            on_change=on_change,
        )
        self.vantages: Vantages | None = None
        """Each vantage's last report and disagreements, once vantages publish them."""
        self._started = time.time()
        self._entry: asyncio.Task[None] | None = None

    def acting(self) -> bool:
        """Whether this instance may act for the cluster now."""
        return self.leadership.acting

    def acting_as(self) -> str | None:
        """Who this instance writes mappings as while it leads (name and term), else None."""
        if not self.leadership.acting:
            return None
        return writer(self.instance, self.leadership.term)

    def fencing_session(self) -> str | None:
        """The session every mapping write must find holding the lock; None when not acting."""
        return self.session.id if self.leadership.acting else None

    async def start(self) -> None:
        """Make the session, then contend for the lead and keep this instance's entry."""
        await self.session.start()
        await self.leadership.start()
        self._entry = asyncio.create_task(self._keep_entry(), name="cluster-entry")

    async def stop(self) -> None:
        """Give up the lead at once (the next leader need not wait), then the session."""
        if self._entry is not None:
            await cancel_all([self._entry], "cluster instance entry")
            self._entry = None
        await self.leadership.stop()
        await self.session.stop()

    async def _keep_entry(self) -> None:
        """Hold ``instances/<name>`` with every session this instance gets."""
        while True:
            session = self.session.id
            if session is not None:
                entry = {
                    "instance": self.instance,
                    "address": self.address,
                    "started": self._started,
                }
                with contextlib.suppress(StoreUnavailable):
                    await self._api.call(
                        "PUT",
                        f"/v1/kv/{self._prefix}{INSTANCES}{self.instance}",
                        json.dumps(entry),
                        [("acquire", session)],
                    )
                await self.session.changed()
            else:
                await asyncio.sleep(self.session.params.pass_interval)

    async def describe(self) -> dict[str, Any]:
        """The cluster as this instance sees it: instances, leader, term, Consul's health."""
        found = self.leadership.authority()
        leader = self.leadership.leader
        doc: dict[str, Any] = {
            "instance": self.instance,
            "acting": found.acting,
            "why": found.why,
            "session": self.session.id,
            "problems": [p for p in (self.session.problem, self.leadership.problem) if p],
            "leader": {
                "instance": leader.instance or None,
                "address": leader.address or None,
                "term": leader.term or None,
            },
            "instances": await self._instances(),
            "consul": await self._consul(),
        }
        doc["vantages"] = self.vantages() if self.vantages is not None else {}
        return doc

    async def _instances(self) -> list[dict[str, Any]]:
        try:
            # A stale read: any server answers it, so the list shows while Consul has no
            # leader (it may then lag the servers' latest by a moment).
            async with asyncio.timeout(DESCRIBE_TIMEOUT):
                status, items = await self._api.call(
                    "GET",
                    f"/v1/kv/{self._prefix}{INSTANCES}",
                    None,
                    [("recurse", ""), ("stale", "")],
                )
        except (GtmError, TimeoutError):
            return []
        if status != 200 or not isinstance(items, list):
            return []
        found = []
        for item in items:
            try:
                doc = json.loads(base64.b64decode(item.get("Value") or b""))
            except ValueError:
                continue
            found.append(
                {
                    "instance": doc.get("instance"),
                    "address": doc.get("address"),
                    "alive": bool(item.get("Session")),
                    "leader": doc.get("instance") == self.leadership.leader.instance
                    and bool(self.leadership.leader.session),
                }
            )
        return sorted(found, key=lambda entry: str(entry["instance"]))

    async def _consul(self) -> dict[str, Any]:
        """The Consul cluster's health: its Raft leader and peers, as the agent says."""
        health: dict[str, Any] = {"leader": None, "peers": [], "ok": False, "why": ""}
        try:
            async with asyncio.timeout(DESCRIBE_TIMEOUT):
                _, leader = await self._api.call("GET", "/v1/status/leader")
                _, peers = await self._api.call("GET", "/v1/status/peers")
        except (GtmError, TimeoutError) as exc:
            health["why"] = f"the local Consul agent does not answer: {exc or 'timed out'}"
            return health
        health["leader"] = leader or None
        health["peers"] = peers if isinstance(peers, list) else []
        health["ok"] = bool(leader)
        if not leader:
            health["why"] = (
                "Consul has no leader (its servers lost quorum): every instance serves its"
                " last mappings and none moves anything until it is back"
            )
        return health
