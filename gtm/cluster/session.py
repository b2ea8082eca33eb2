"""This instance's Consul session: what its leadership and its published verdicts hang on.

A Consul session is invalidated when one of its health checks goes critical. The session
here is bound to a TTL check that this instance passes every ``pass_interval`` seconds
(and to the agent's ``serfHealth``), so within ``check_ttl`` of the process dying or
stopping, Consul ends the session: the leader lock is released (behaviour ``release``) and
every key bound to the session loses its owner. A session TTL would do the same, but
Consul refuses one below ten seconds.

The session's ``valid_until`` is when, on this process's clock, the check could go
critical at the earliest: the send time of the last pass the agent accepted, plus the
check's TTL. Whoever acts on the session's behalf stops before then (see
:mod:`gtm.core.leadership`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from gtm.controller.tasks import cancel_all
from gtm.errors import StoreUnavailable
from healthchecks.clock import Clock, LoopClock

log = logging.getLogger(__name__)


class ConsulApi(Protocol):
    """The Consul agent's HTTP API, with the token and datacenter already applied.

    Implementations must send the request as given, return Consul's status code and its
    decoded JSON body (None for an empty one), and raise
    :class:`gtm.errors.StoreUnavailable` when the agent does not answer. They must not
    retry on their own.
    """

    async def call(
        self, method: str, path: str, body: Any = None, params: list[tuple[str, str]] | None = None
    ) -> tuple[int, Any]:
        """One request to ``path`` (``/v1/session/create``): the status and the JSON."""
        ...


@dataclass(frozen=True, slots=True)
class SessionParams:
    """How this instance's session is kept alive.

    Attributes:
        check_ttl: Seconds after the last pass at which the agent marks the check
            critical, ending the session.
        pass_interval: Seconds between two passes of the check; well below ``check_ttl``
            so that one or two lost passes do not end the session.
        lock_delay: Seconds Consul keeps a lock of an ended session from being taken
            again (Consul's ``LockDelay``).
    """

    check_ttl: float = 2.0
    pass_interval: float = 0.5
    lock_delay: float = 1.0


class ClusterSession:
    """Creates, keeps alive and ends this instance's Consul session.

    Args:
        api: The local Consul agent.
        instance: This instance's name.
        params: TTL, pass interval and lock delay.
        clock: The one clock; the event loop's unless given.
        check_id: The agent check's id; ``gtm:<instance>`` unless given (two deployments
            on one agent need ids of their own).
    """

    def __init__(
        self,
        api: ConsulApi,
        instance: str,
        params: SessionParams | None = None,
        *,
        clock: Clock | None = None,
        check_id: str | None = None,
    ) -> None:
        self._api = api
        self.instance = instance
        self._check_id = check_id or f"gtm:{instance}"
        self.params = params if params is not None else SessionParams()
        self._clock: Clock = clock if clock is not None else LoopClock()
        self._id: str | None = None
        self._valid_until = 0.0
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self.problem = ""
        """Why there is no session now (empty when there is one)."""

    @property
    def check_id(self) -> str:
        """The agent check the session is bound to."""
        return self._check_id

    @property
    def id(self) -> str | None:
        """The session's id, or None while there is none (not yet made, or lost)."""
        return self._id

    @property
    def valid_until(self) -> float:
        """Monotonic time before which the session cannot have ended by its check; 0.0
        while there is no session."""
        return self._valid_until if self._id is not None else 0.0

    async def start(self) -> None:
        """Keep a session from now on; the first one is made before this returns, if it
        can be (otherwise it is retried every ``pass_interval``)."""
        await self._ensure()
        self._task = asyncio.create_task(self._keep(), name="cluster-session")

    async def changed(self) -> None:
        """Wait until the session is made, lost or replaced."""
        await self._changed.wait()
        self._changed.clear()

    async def stop(self) -> None:
        """End the session and remove its check; the lock it holds is released at once
        only by whoever released it before (a destroyed session's locks wait out the
        lock delay)."""
        if self._task is not None:
            await cancel_all([self._task], "cluster session")
            self._task = None
        session, self._id = self._id, None
        with contextlib.suppress(StoreUnavailable):
            if session is not None:
                await self._api.call("PUT", f"/v1/session/destroy/{session}")
            await self._api.call("PUT", f"/v1/agent/check/deregister/{self.check_id}")

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self.params.pass_interval)
            try:
                await self._ensure()
            except Exception:
                log.exception("cluster: keeping the session of %s failed", self.instance)

    async def _ensure(self) -> None:
        """Pass the check; make a session when there is none or it was lost."""
        sent = self._clock.monotonic()
        late = self._id is not None and sent >= self._valid_until
        try:
            status, body = await self._api.call("PUT", f"/v1/agent/check/pass/{self.check_id}")
            unknown = status != 200 and "unknown check" in str(body).lower()
            if unknown or late:
                # The check is gone (the agent restarted, or this is the first pass), or
                # this process was stopped past the TTL: the check went critical, so the
                # session is gone too (destroyed all the same, should Consul be slower
                # than its TTL).
                old = self._id
                self._lose("its check was not passed in time" if late else "its check was gone")
                if old is not None:
                    await self._api.call("PUT", f"/v1/session/destroy/{old}")
                await self._register_check()
            elif status != 200:
                self._lose(f"passing its check was refused ({status}: {body})")
                return
            else:
                self._valid_until = sent + self.params.check_ttl
            if self._id is not None:
                # Bounded, so the check is passed on time even while Consul has no leader
                # to answer (the agent takes passes on its own).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.params.pass_interval):
                        await self._confirm()
            if self._id is None:
                await self._create(sent)
        except StoreUnavailable as exc:
            if self._id is None:
                self.problem = f"no session: {exc}"

    async def _register_check(self) -> None:
        check = {
            "ID": self.check_id,
            "Name": f"gtm {self.instance} alive",
            "TTL": f"{self.params.check_ttl:g}s",
            "Status": "passing",
        }
        status, body = await self._api.call("PUT", "/v1/agent/check/register", check)
        if status != 200:
            raise StoreUnavailable(f"cluster: registering check {self.check_id}: {status} {body}")

    async def _confirm(self) -> None:
        """Lose the session if Consul no longer knows it (an answer-less cluster keeps it)."""
        status, body = await self._api.call("GET", f"/v1/session/info/{self._id}")
        if status == 200 and not body:
            self._lose("Consul ended it")

    async def _create(self, sent: float) -> None:
        spec = {
            "Name": f"gtm {self.instance}",
            "Checks": ["serfHealth", self.check_id],
            "LockDelay": f"{self.params.lock_delay:g}s",
            "Behavior": "release",
        }
        status, body = await self._api.call("PUT", "/v1/session/create", spec)
        if status != 200 and "check" in json.dumps(body).lower():
            await self._register_check()  # the check is critical or unknown: pass it again
            self.problem = f"no session: the check {self.check_id} was not passing"
            return
        if status != 200 or not isinstance(body, dict) or "ID" not in body:
            self.problem = f"no session: Consul refused to make one ({status}: {body})"
            return
        self._id = str(body["ID"])
        self._valid_until = sent + self.params.check_ttl
        self.problem = ""
        log.info("cluster: %s has session %s", self.instance, self._id)
        self._changed.set()

    def _lose(self, why: str) -> None:
        if self._id is not None:
            log.warning("cluster: %s lost session %s: %s", self.instance, self._id, why)
            self._id = None
            self._valid_until = 0.0
            self.problem = f"no session: {why}"
            self._changed.set()
