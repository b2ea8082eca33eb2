"""What a client hears on gtm's live feed (``GET /v1/stream``), as typed values.

The server sends server-sent events; :class:`EventStreamParser` cuts the bytes into
messages, and :func:`feed_item` turns each into a snapshot, a mapping change, a journal
event or a planned run's progress. :class:`Lost` and :class:`Regained` are the client's
own news: the connection to gtm broke, or came back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from gtm.core.codec import event_from_dict, mapping_from_dict
from gtm.core.model import Event, Mapping
from gtm.core.runbook import Run, run_from_dict
from gtm.errors import GtmError


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every mapping at once: the first thing a new (or non-resumable) stream says."""

    mappings: tuple[Mapping, ...]


@dataclass(frozen=True, slots=True)
class MappingChange:
    """A service's mapping changed; ``mapping`` is the new one."""

    mapping: Mapping


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """An event was recorded in the journal."""

    event: Event


@dataclass(frozen=True, slots=True)
class RunProgress:
    """A planned run was saved: started, a step begun or ended, progress noted, or ended."""

    run: Run


@dataclass(frozen=True, slots=True)
class Lost:
    """The connection to gtm broke (or could not be made); the client retries."""

    url: str
    reason: str
    retry_in: float
    """Seconds until the next attempt."""


@dataclass(frozen=True, slots=True)
class Regained:
    """gtm answers again after :class:`Lost`."""

    url: str


StreamItem = Snapshot | MappingChange | JournalEntry | RunProgress
"""What gtm itself says on the stream."""

FeedItem = StreamItem | Lost | Regained
"""Everything :meth:`gtm.client.GtmClient.feed` yields."""


@dataclass(frozen=True, slots=True)
class ServerEvent:
    """One server-sent event as it came off the wire."""

    event: str
    data: str
    id: str | None


class EventStreamParser:
    """Cuts a ``text/event-stream`` into events, whatever the chunks it arrives in.

    Lines end with LF, CRLF or CR; a blank line ends an event; comment lines (``:``) and
    ``retry`` are skipped. An event's ``id`` is remembered for the next ones, as a browser
    does, so :attr:`last_id` is what to send as ``Last-Event-ID`` on reconnecting.
    """

    def __init__(self) -> None:
        self._buffer = b""
        self._event = ""
        self._data: list[str] = []
        self.last_id: str | None = None

    def feed(self, chunk: bytes) -> Iterator[ServerEvent]:
        """The events completed by ``chunk``."""
        buffer = self._buffer + chunk
        start = 0
        while (cut := _line_end(buffer, start)) is not None:
            end, after = cut
            event = self._line(buffer[start:end].decode("utf-8", errors="replace"))
            start = after
            if event is not None:
                yield event
        self._buffer = buffer[start:]

    def _line(self, line: str) -> ServerEvent | None:
        if not line:
            if not self._data:
                self._event = ""
                return None
            event = ServerEvent(self._event or "message", "\n".join(self._data), self.last_id)
            self._event, self._data = "", []
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self.last_id = value
        return None


def _line_end(buffer: bytes, start: int) -> tuple[int, int] | None:
    """Where the line at ``start`` ends and the next begins; None if it is not complete."""
    lf = buffer.find(b"\n", start)
    cr = buffer.find(b"\r", start, None if lf == -1 else lf)
    if cr == -1:
        return None if lf == -1 else (lf, lf + 1)
    if cr + 1 == len(buffer):
        return None  # an LF may follow in the next chunk
    return cr, cr + 2 if buffer[cr + 1 : cr + 2] == b"\n" else cr + 1


def feed_item(event: ServerEvent) -> StreamItem | None:
    """The typed value of a server event; None for a kind this client does not know.

    Raises:
        GtmError: The event's data is not the JSON document its kind promises.
    """
    try:
        doc = json.loads(event.data)
        if event.event == "snapshot":
            return Snapshot(tuple(mapping_from_dict(item) for item in doc["services"]))
        if event.event == "mapping":
            return MappingChange(mapping_from_dict(doc))
        if event.event == "journal":
            return JournalEntry(event_from_dict(doc))
        if event.event == "run":
            return RunProgress(run_from_dict(doc))
    except (ValueError, KeyError, TypeError) as exc:
        raise GtmError(
            f"gtm api: the stream sent a {event.event!r} event gtm cannot read: {exc}"
        ) from exc
    return None
