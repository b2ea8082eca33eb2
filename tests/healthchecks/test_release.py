"""Reading a replica's release from its health answer, against a real aiohttp server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from healthchecks.http import HttpClient, HttpProbe
from healthchecks.release import MAX_RELEASE, ReleaseRule, ReleaseSource

LOOPBACK = "127.0.0.1"
HEADER, JSON, REGEX = ReleaseSource.HEADER, ReleaseSource.JSON, ReleaseSource.REGEX


def _app() -> web.Application:
    async def header(request: web.Request) -> web.Response:
        return web.Response(text="ok", headers={"X-Release": " 2.4.1 "})

    async def document(request: web.Request) -> web.Response:
        body = {"status": "ok", "build": {"version": "2.4.1", "number": 311, "dirty": False}}
        return web.json_response(body)

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<p>billing v2.4 (build 311) ready</p>")

    async def failing(request: web.Request) -> web.Response:
        return web.json_response({"build": {"version": "2.3.9"}}, status=503)

    async def long(request: web.Request) -> web.Response:
        return web.Response(text="ok", headers={"X-Release": "x" * 1000})

    app = web.Application()
    app.router.add_get("/header", header)
    app.router.add_get("/json", document)
    app.router.add_get("/page", page)
    app.router.add_get("/failing", failing)
    app.router.add_get("/long", long)
    return app


@pytest.fixture
async def replica() -> AsyncIterator[int]:
    """A replica on 127.0.0.1 answering its release in several ways; yields its port."""
    runner = web.AppRunner(_app(), shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, LOOPBACK, 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("path", "rule", "release"),
    [
        ("/header", ReleaseRule(HEADER, "X-Release"), "2.4.1"),
        ("/header", ReleaseRule(HEADER, "x-release"), "2.4.1"),
        ("/header", ReleaseRule(HEADER, "X-Version"), None),
        ("/json", ReleaseRule(JSON, "build.version"), "2.4.1"),
        ("/json", ReleaseRule(JSON, "build.number"), "311"),
        ("/json", ReleaseRule(JSON, "build.dirty"), None),
        ("/json", ReleaseRule(JSON, "build"), None),
        ("/json", ReleaseRule(JSON, "status.version"), None),
        ("/json", ReleaseRule(JSON, "version"), None),
        ("/page", ReleaseRule(JSON, "version"), None),
        ("/page", ReleaseRule(REGEX, r"v(\d+\.\d+)"), "2.4"),
        ("/page", ReleaseRule(REGEX, r"build \d+"), "build 311"),
        ("/page", ReleaseRule(REGEX, r"v(\d+\.\d+\.\d+)"), None),
        ("/long", ReleaseRule(HEADER, "X-Release"), "x" * MAX_RELEASE),
    ],
    ids=[
        "header",
        "header-any-case",
        "header-missing",
        "json-nested",
        "json-number",
        "json-bool",
        "json-object",
        "json-through-a-string",
        "json-missing",
        "json-not-json",
        "regex-group",
        "regex-whole-match",
        "regex-no-match",
        "cut-short",
    ],
)
async def test_release_is_read_from_the_answer(
    replica: int, path: str, rule: ReleaseRule, release: str | None
) -> None:
    async with HttpClient() as client:
        result = await HttpProbe(LOOPBACK, replica, path, release=rule, client=client).probe(2)

    assert result.ok
    assert result.release == release


async def test_a_failing_replica_still_says_its_release(replica: int) -> None:
    rule = ReleaseRule(JSON, "build.version")
    async with HttpClient() as client:
        result = await HttpProbe(LOOPBACK, replica, "/failing", release=rule, client=client).probe(
            2
        )

    assert not result.ok
    assert result.reason == "status 503 not in {200}"
    assert result.release == "2.3.9"


async def test_the_body_read_for_the_release_is_also_searched(replica: int) -> None:
    rule = ReleaseRule(REGEX, r"v(\d+\.\d+)")
    async with HttpClient() as client:
        found = HttpProbe(
            LOOPBACK, replica, "/page", body_contains="ready", release=rule, client=client
        )
        missing = HttpProbe(
            LOOPBACK, replica, "/page", body_contains="gone", release=rule, client=client
        )
        passing, failing = await found.probe(2), await missing.probe(2)

    assert (passing.ok, passing.release) == (True, "2.4")
    assert (failing.ok, failing.reason, failing.release) == (
        False,
        "body does not contain 'gone'",
        "2.4",
    )


async def test_no_rule_reads_no_release(replica: int) -> None:
    async with HttpClient() as client:
        result = await HttpProbe(LOOPBACK, replica, "/header", client=client).probe(2)

    assert result.release is None


@pytest.mark.parametrize(
    ("source", "name", "message"),
    [
        (REGEX, "v(\\d+", "release rule: regex 'v(\\\\d+' does not compile: missing )"),
        (HEADER, "", "release rule: header is empty"),
    ],
    ids=["bad-regex", "empty"],
)
def test_a_rule_that_could_never_read_is_refused(
    source: ReleaseSource, name: str, message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        ReleaseRule(source, name)

    assert str(caught.value).startswith(message)


def test_json_bodies_are_read_as_sent() -> None:
    body = json.dumps({"version": "1.0"}).encode()
    assert ReleaseRule(JSON, "version").read({}, body) == "1.0"
    assert ReleaseRule(JSON, "version").read({}, b"\xff\xfe") is None
