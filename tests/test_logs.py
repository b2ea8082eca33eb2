"""Logs: JSON or text as asked, with the fields of the service, site, locator, epoch, run or
provider a record concerns; what an outsider can trigger is throttled, and never quotes a
client's raw request."""

from __future__ import annotations

import asyncio
import errno
import io
import json
import logging
import os
import re
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp.http_exceptions import BadHttpMessage
from demo_process import DemoConfig

from gtm.cli import main
from gtm.logs import (
    FIELDS,
    AcceptStorm,
    JsonFormatter,
    TextFormatter,
    Throttle,
    Unparsable,
    guard_loggers,
    setup_logging,
)

DEADLINE = 60.0
"""Generous seconds for a started gtm to log what a test waits for."""


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


@pytest.fixture
def root_logging() -> Iterator[None]:
    """Put the root logger back as it was after a test that sets logging up."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def concerning(msg: str = "locator %s down: %s", **fields: object) -> logging.LogRecord:
    line = logging.LogRecord(
        "gtm.controller.controller",
        logging.INFO,
        __file__,
        1,
        msg,
        ("billing@aws-use1/lb-1", "connection refused"),
        None,
    )
    line.__dict__.update(fields)
    return line


def test_json_lines_carry_the_fields_of_a_record_as_keys() -> None:
    line = concerning(service="billing", site="aws-use1", locator="billing@aws-use1/lb-1")
    line.__dict__["epoch"] = 4
    doc = json.loads(JsonFormatter().format(line))
    assert doc["message"] == "locator billing@aws-use1/lb-1 down: connection refused"
    assert (doc["level"], doc["logger"]) == ("info", "gtm.controller.controller")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", doc["time"])
    assert {k: doc[k] for k in FIELDS if k in doc} == {
        "service": "billing",
        "site": "aws-use1",
        "locator": "billing@aws-use1/lb-1",
        "epoch": 4,
    }
    plain = json.loads(JsonFormatter().format(concerning()))
    assert not set(FIELDS) & set(plain)


def test_text_lines_put_the_fields_after_the_message_and_the_traceback_last() -> None:
    line = concerning(service="billing", run="r 1", site="a=b", provider='say "hi"')
    try:
        raise ValueError("boom")
    except ValueError:
        line.exc_info = sys.exc_info()
    text = TextFormatter().format(line)
    first, *rest = text.splitlines()
    assert first.endswith(
        "INFO    gtm.controller.controller: locator billing@aws-use1/lb-1 down: connection "
        'refused service=billing site="a=b" run="r 1" provider="say \\"hi\\""'
    )
    assert rest[0] == "Traceback (most recent call last):" and rest[-1] == "ValueError: boom"
    assert TextFormatter().format(concerning()).endswith("connection refused")


@pytest.mark.parametrize(
    ("log_format", "tty", "json_lines"),
    [("json", True, True), ("text", False, False), ("auto", True, False), ("auto", False, True)],
)
def test_the_format_is_as_asked_and_auto_follows_the_terminal(
    root_logging: None,
    monkeypatch: pytest.MonkeyPatch,
    log_format: str,
    tty: bool,
    json_lines: bool,
) -> None:
    err = io.StringIO()
    monkeypatch.setattr(err, "isatty", lambda: tty)
    monkeypatch.setattr(sys, "stderr", err)
    setup_logging("INFO", log_format)
    logging.getLogger("gtm.test").info("moved", extra={"service": "billing"})
    written = err.getvalue().strip()
    if json_lines:
        assert json.loads(written)["service"] == "billing"
    else:
        assert written.endswith("gtm.test: moved service=billing")


def test_an_unknown_format_is_refused(root_logging: None) -> None:
    with pytest.raises(ValueError, match="'xml' is not one of auto, json, text"):
        setup_logging("INFO", "xml")


def test_the_command_line_refuses_an_unknown_format_naming_both_ways_to_set_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GTM_LOG_FORMAT", "xml")
    with pytest.raises(SystemExit):
        main(["run", "-c", "nowhere.yaml"])
    err = capsys.readouterr().err
    assert "'xml' is not a log format" in err and "$GTM_LOG_FORMAT" in err


async def gtm_run_lines(config: Path, *args: str, env: dict[str, str]) -> AsyncIterator[str]:
    """``gtm run -c CONFIG ARGS``'s log lines as they come; the process is killed after."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gtm", "run", "-c", str(config), *args,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "GTM_TOKEN": "demo-token", **env},
    )  # fmt: skip
    assert process.stderr is not None
    try:
        async with asyncio.timeout(DEADLINE):
            while raw := await process.stderr.readline():
                yield raw.decode().rstrip("\n")
        raise AssertionError(f"gtm run exited with {await process.wait()}")
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def test_gtm_run_logs_json_lines_with_the_locator_a_verdict_concerns(
    demo_config: DemoConfig,
) -> None:
    # Nothing listens on the demo's site ports: every locator is soon judged down.
    async for line in gtm_run_lines(demo_config.path, "--log-format", "json", env={}):
        doc = json.loads(line)
        if doc["message"].startswith("locator billing@aws-use1/") and " down: " in doc["message"]:
            break
    assert doc["locator"] == doc["message"].split()[1]
    assert (doc["service"], doc["site"], doc["level"]) == ("billing", "aws-use1", "info")


async def test_gtm_run_takes_the_format_from_the_environment(demo_config: DemoConfig) -> None:
    async for line in gtm_run_lines(demo_config.path, env={"GTM_LOG_FORMAT": "text"}):
        if "locator search@gcp-euw1/" in line and " down: " in line:
            break
    assert re.search(r" service=search site=gcp-euw1 locator=search@gcp-euw1/\S+$", line)
