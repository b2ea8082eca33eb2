"""One live feed over every service: mappings, journal events, runs as server-sent events.

A dashboard or ``gtm watch`` holds one connection here instead of a long poll per service.
Each message carries an id; a client that reconnects with ``Last-Event-ID`` gets what it
missed from a short backlog, or, when that is gone (or gtm restarted), a ``snapshot`` of
every mapping to start again from. A stream counts as a long poll held (the
``gtm_api_long_polls`` gauge) and holds one of the API's admitted connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from aiohttp import web

from gtm.api.deps import ApiDeps, ApiRegistry
from gtm.api.documents import encode
from gtm.api.errors import bad_request
from gtm.api.resolve import mapping_document
from gtm.core.codec import Document, event_to_dict, intent_to_dict
from gtm.core.model import Event, Intent, Mapping
from gtm.core.runbook import Run, run_to_dict

HEARTBEAT = 15.0
"""Seconds between comment lines on a quiet stream, so proxies and clients see it alive."""

LIVENESS = 1.0
"""Seconds between looks at whether a quiet stream's client is still connected."""

BACKLOG = 1024
"""Messages kept for clients that reconnect with ``Last-Event-ID``."""

LAG_LIMIT = 512
"""Messages a client may fall behind by before its stream is closed (it may resume)."""

RETRY_MS = 1000
"""The reconnect delay a browser's ``EventSource`` is told to use, in milliseconds."""

EVENT_STREAM = "text/event-stream"


@dataclass(frozen=True, slots=True)
class Message:
    """One server-sent event: its number, its kind, the service it concerns and its data."""

    seq: int
    event: str
    service: str | None
    data: bytes


@dataclass(eq=False, slots=True)
class Listener:
    """One connected client: the messages it has yet to be sent, and its filter."""

    services: frozenset[str] | None
    pending: deque[Message] = field(default_factory=deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    behind: bool = False

    def wants(self, message: Message) -> bool:
        """Whether ``message`` passes this client's service filter."""
        return self.services is None or message.service in self.services

    def offer(self, message: Message) -> None:
        """Queue ``message`` if wanted; a client too far behind is marked to be closed."""
        if not self.wants(message):
            return
        if len(self.pending) >= LAG_LIMIT:
            self.behind = True
        else:
            self.pending.append(message)
        self.ready.set()


class Stream:
    """Answers ``GET /v1/stream[?service=NAME...]`` with server-sent events.

    Events: ``snapshot`` (``{"services": [...], "intents": [...]}``, as ``GET
    /v1/services`` and ``GET /v1/intents``) first unless the client resumes; then
    ``mapping`` (as ``GET /v1/services/NAME``) on every change of a mapping, ``journal``
    (as an item of ``GET /v1/events``) for every event recorded, ``run`` (as ``GET
    /v1/runs/ID``) every time a planned run is saved (started, a step begun or ended,
    progress, its end), and ``intents`` (as ``GET /v1/intents``) after every change of
    the intents. A stream of some services (``?service=``) carries only their mappings,
    journal events and runs.
    Ids look like ``<run>-<n>``: ``<run>`` changes when gtm restarts, so an id from
    before a restart gets a snapshot instead of a replay.

    Args:
        deps: The registry to follow, the configured services and the long-poll gauge.
    """

    def __init__(self, deps: ApiDeps) -> None:
        self._registry: ApiRegistry = deps.registry
        self._known = frozenset(deps.services)
        self._held = deps.metrics.long_polls
        self._run = secrets.token_hex(4)
        self._seq = 0
        self._backlog: deque[Message] = deque(maxlen=BACKLOG)
        self._listeners: set[Listener] = set()
        self._unsubscribe: list[Callable[[], None]] = []
        self._closing = False

    def install(self, app: web.Application) -> None:
        """Add the route to ``app`` and end every stream when it shuts down."""
        app.on_shutdown.append(self.close)
        # No HEAD: a stream has no end for a HEAD answer to stop at.
        app.add_routes([web.get("/v1/stream", self.serve, allow_head=False)])

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """Stream changes to one client until it leaves or the API shuts down."""
        services = self._filter(request.query.getall("service", []))
        self._follow()
        listener = Listener(services)
        first = self._resume(request.headers.get("Last-Event-ID", ""), listener)
        self._listeners.add(listener)
        self._held.inc()
        try:
            response = web.StreamResponse(
                headers={
                    "Content-Type": EVENT_STREAM,
                    "Cache-Control": "no-store",
                    "X-Accel-Buffering": "no",
                }
            )
            await response.prepare(request)
            await response.write(f"retry: {RETRY_MS}\n\n".encode() + first)
            await self._pump(request, listener, response)
        except ConnectionResetError:
            pass  # the client left; nothing to answer
        finally:
            self._held.dec()
            self._listeners.discard(listener)
        return response

    async def close(self, app: web.Application) -> None:
        """End every stream now, so shutting down does not wait for clients to leave."""
        self._closing = True
        for listener in self._listeners:
            listener.ready.set()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []

    async def _pump(
        self, request: web.Request, listener: Listener, response: web.StreamResponse
    ) -> None:
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        while not self._closing and not listener.behind:
            if not listener.pending:
                listener.ready.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(LIVENESS):
                        await listener.ready.wait()
                # aiohttp does not cancel a handler whose client left, so look.
                if request.transport is None or request.transport.is_closing():
                    return
                if not listener.pending:
                    if loop.time() - quiet_since >= HEARTBEAT:
                        await response.write(b": heartbeat\n\n")
                        quiet_since = loop.time()
                    continue
            frames = [self._frame(message) for message in listener.pending]
            listener.pending.clear()
            if not self._closing:
                await response.write(b"".join(frames))
                quiet_since = loop.time()

    def _follow(self) -> None:
        """Subscribe to the registry on the first client (and stay until shutdown)."""
        if self._unsubscribe or self._closing:
            return
        self._unsubscribe = [
            self._registry.subscribe(self._mapping_changed),
            self._registry.on_event(self._event_recorded),
            self._registry.on_intents(self._intents_changed),
            self._registry.on_run(self._run_saved),
        ]

    def _mapping_changed(self, mapping: Mapping) -> None:
        self._publish("mapping", mapping.service, encode(mapping_document(mapping)))

    def _event_recorded(self, event: Event) -> None:
        self._publish("journal", event.service, encode(event_to_dict(event)))

    def _run_saved(self, run: Run) -> None:
        self._publish("run", run.service, encode(run_to_dict(run)))

    def _intents_changed(self, intents: list[Intent]) -> None:
        self._publish("intents", None, encode({"intents": _intent_docs(intents)}))

    def _publish(self, kind: str, service: str | None, data: bytes) -> None:
        self._seq += 1
        message = Message(self._seq, kind, service, data)
        self._backlog.append(message)
        for listener in self._listeners:
            listener.offer(message)

    def _resume(self, last_id: str, listener: Listener) -> bytes:
        """What a new client is sent first: what it missed, or a snapshot.

        Replays when ``last_id`` is one of this run's ids and every message after it is
        still in the backlog; the snapshot otherwise.
        """
        run, _, number = last_id.strip().rpartition("-")
        if run == self._run and number.isdigit() and int(number) <= self._seq:
            after = int(number)
            oldest = self._backlog[0].seq if self._backlog else self._seq + 1
            if after + 1 >= oldest:
                missed = [m for m in self._backlog if m.seq > after and listener.wants(m)]
                return b"".join(self._frame(message) for message in missed)
        return self._snapshot(listener.services)

    def _snapshot(self, services: frozenset[str] | None) -> bytes:
        docs = [
            encode(mapping_document(mapping))
            for mapping in self._registry.mappings()
            if services is None or mapping.service in services
        ]
        parts = [b'"services":[' + b",".join(docs) + b"]"]
        if services is None:
            parts.append(b'"intents":' + encode(_intent_docs(self._registry.intents())))
        data = b"{" + b",".join(parts) + b"}"
        return self._frame(Message(self._seq, "snapshot", None, data))

    def _frame(self, message: Message) -> bytes:
        head = f"id: {self._run}-{message.seq}\nevent: {message.event}\ndata: "
        return head.encode() + message.data + b"\n\n"

    def _filter(self, names: Iterable[str]) -> frozenset[str] | None:
        wanted = frozenset(names)
        if not wanted:
            return None
        unknown = sorted(wanted - self._known)
        if unknown:
            known = ", ".join(sorted(self._known)) or "(none configured)"
            raise bad_request(
                f"query parameter 'service' names {', '.join(unknown)}, which is not a "
                f"configured service; known services: {known}",
                parameter="service",
                value=unknown[0],
            )
        return wanted


def _intent_docs(intents: Iterable[Intent]) -> list[Document]:
    """Intents as ``GET /v1/intents`` lists them."""
    return [intent_to_dict(intent) for intent in intents]
