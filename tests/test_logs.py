"""Logs an outsider can trigger are throttled, and never quote a client's raw request."""

from __future__ import annotations

import errno
import logging

import pytest
from aiohttp.http_exceptions import BadHttpMessage

from gtm.logs import AcceptStorm, Throttle, Unparsable, guard_loggers


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    info = (type(exc), exc, None) if exc is not None else None
    return logging.LogRecord("t", logging.ERROR, __file__, 1, msg, args or None, info)


def test_one_line_of_a_kind_per_interval_then_a_count_of_those_held_back() -> None:
    clock = Clock()
    throttle = Throttle(10.0, clock)
    passed = [throttle.filter(record("refused %s", f"10.0.0.{n}")) for n in range(5)]
    assert passed == [True, False, False, False, False]
    # Another kind of line has its own interval.
    assert throttle.filter(record("closed %s", "10.0.0.1"))

    clock.now += 10.0
    later = record("refused %s", "10.0.0.9")
    assert throttle.filter(later)
    assert later.getMessage() == "refused 10.0.0.9 (4 more like it held back)"
    clock.now += 10.0
    quiet = record("refused %s", "10.0.0.9")
    assert throttle.filter(quiet)
    assert quiet.getMessage() == "refused 10.0.0.9"


def test_the_accept_storm_is_one_line_without_a_traceback() -> None:
    storm = AcceptStorm(10.0, Clock())
    error = OSError(errno.EMFILE, "Too many open files")
    first = record("socket.accept() out of system resource\nsocket: <socket fd=7>", exc=error)
    assert storm.filter(first)
    assert first.exc_info is None
    assert first.getMessage() == (
        "socket.accept() out of system resource: [Errno 24] Too many open files; "
        "new connections wait in the listen backlog"
    )
    again = record("socket.accept() out of system resource\nsocket: <socket fd=7>", exc=error)
    assert not storm.filter(again)
    assert storm.filter(record("Task was destroyed but it is pending!"))


def test_an_unparsable_request_is_logged_without_the_request() -> None:
    unparsable = Unparsable(10.0, Clock())
    quoted = BadHttpMessage("Invalid header value char:\n  b'Authorization: Bearer s3cret\\x00'")
    line = record("Error handling request from %s", "127.0.0.1", exc=quoted)
    assert unparsable.filter(line)
    assert line.exc_info is None
    assert line.getMessage() == (
        "Error handling request from 127.0.0.1: unparsable request (BadHttpMessage)"
    )
    bug = record("Error handling request from %s", "127.0.0.1", exc=ValueError("bug"))
    assert unparsable.filter(bug) and bug.exc_info is not None


@pytest.mark.parametrize("name", ["asyncio", "aiohttp.server"])
def test_guarding_twice_installs_one_filter(name: str) -> None:
    guard_loggers()
    guard_loggers()
    assert len([f for f in logging.getLogger(name).filters if isinstance(f, Throttle)]) == 1
