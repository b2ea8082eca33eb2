"""Logging setup: readable lines on a terminal, JSON lines everywhere else (or as told).

Log collectors parse JSON; people read text. A record that concerns one service, site,
locator, epoch, run or provider carries it as a field (``log.info(..., extra={"service":
name})``), which JSON shows as a key of its own and text as ``key=value`` after the
message, so both can be searched by it. No secret ever reaches a log record: tokens
are only held as ``SecretStr`` and never formatted into messages, and the libraries that
would quote a client's raw request (aiohttp's server logger) are kept from doing so.

What an outsider can trigger at will (a refused connection, an unparsable request, the
event loop running out of descriptors while accepting) is logged at most once per
interval, with a count of the lines held back, so a flood of connections cannot flood the
log too.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable

from aiohttp.http_exceptions import HttpProcessingError

THROTTLE_INTERVAL = 10.0
"""Seconds between two lines of the same kind from a throttled logger."""

_ACCEPT_STORM = "socket.accept() out of system resource"
"""What asyncio logs, with a traceback, each time accepting a connection finds no descriptor."""


FIELDS = ("service", "site", "locator", "epoch", "run", "provider")
"""The structured fields a record may carry (through ``extra=``), in the order shown."""

LOG_FORMATS = ("auto", "json", "text")
"""``--log-format`` values: ``auto`` is text on a terminal and JSON lines otherwise."""

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def fields(record: logging.LogRecord) -> dict[str, object]:
    """The structured fields ``record`` carries, in :data:`FIELDS` order."""
    found = {name: getattr(record, name, None) for name in FIELDS}
    return {name: value for name, value in found.items() if value is not None}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, its fields (and exception)."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in fields(record).items():
            doc[name] = value if isinstance(value, int | float | bool) else str(value)
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc)


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value ...``, a traceback on the lines after."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        pairs = [f"{name}={_text_value(value)}" for name, value in fields(record).items()]
        return " ".join([line, *pairs])


def _text_value(value: object) -> str:
    """``value`` as one word: quoted as JSON when it holds a space, a quote or an ``=``."""
    text = str(value)
    if not text or any(c.isspace() or c in '"=' for c in text):
        return json.dumps(text, ensure_ascii=False)
    return text


def setup_logging(level: str = "INFO", log_format: str = "auto") -> None:
    """Send gtm's logs to stderr in ``log_format`` (see :data:`LOG_FORMATS`).

    Raises:
        ValueError: ``log_format`` is not one of :data:`LOG_FORMATS`.
    """
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format {log_format!r} is not one of {', '.join(LOG_FORMATS)}")
    as_text = log_format == "text" or (log_format == "auto" and sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TextFormatter() if as_text else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    guard_loggers()


class Throttle(logging.Filter):
    """Lets one record of each kind through per interval, and says how many it held back.

    A kind is the logger and the message template, so a line repeated for every client
    address counts as one kind.

    Args:
        interval: Seconds between two records of the same kind.
        clock: Monotonic seconds; injected by tests.
    """

    def __init__(
        self, interval: float = THROTTLE_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._interval = interval
        self._clock = clock
        self._last: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last[0] < self._interval:
            self._last[key] = (last[0], last[1] + 1)
            return False
        self._last[key] = (now, 0)
        if last is not None and last[1]:
            record.msg = f"{record.msg} ({last[1]} more like it held back)"
        return True


class AcceptStorm(Throttle):
    """Turns asyncio's "out of system resource" traceback into one throttled line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(_ACCEPT_STORM):
            return True
        error = record.exc_info[1] if record.exc_info else None
        record.msg = f"{_ACCEPT_STORM}: {error}; new connections wait in the listen backlog"
        record.args = None
        record.exc_info = None
        record.exc_text = None
        return super().filter(record)


class Unparsable(Throttle):
    """Drops the quoted request from aiohttp's report of a request it could not parse."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, HttpProcessingError):
            return True
        record.msg = f"{record.getMessage()}: unparsable request ({type(error).__name__})"
        record.args = None
        record.exc_info = None
        record.exc_text = None
        return super().filter(record)


def throttle(logger: logging.Logger) -> None:
    """Let ``logger`` log each kind of line at most once per :data:`THROTTLE_INTERVAL`."""
    if not any(isinstance(f, Throttle) for f in logger.filters):
        logger.addFilter(Throttle())


def guard_loggers() -> None:
    """Keep clients' requests out of the libraries' logs, and their floods out of ours.

    Safe to call more than once; the API and the DNS responder call it as they start.
    """
    for name, kind in (("asyncio", AcceptStorm), ("aiohttp.server", Unparsable)):
        logger = logging.getLogger(name)
        if not any(isinstance(f, kind) for f in logger.filters):
            logger.addFilter(kind())
