"""The load figure a replica reports in its health answer, read by a real HTTP probe."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from healthchecks.http import HttpClient, HttpProbe
from healthchecks.load import LoadReader

LOOPBACK = "127.0.0.1"


@pytest.fixture
async def loaded_target() -> AsyncIterator[int]:
    """/json answers {"load": {"cpu": 0.75}}, /header sends X-Load: 0.5, /down is 503."""

    async def json_answer(_request: web.Request) -> web.Response:
        return web.json_response({"load": {"cpu": 0.75}, "status": "ok"})

    async def header_answer(_request: web.Request) -> web.Response:
        return web.Response(text="ok", headers={"X-Load": "0.5"})

    async def down(_request: web.Request) -> web.Response:
        return web.json_response({"load": {"cpu": 0.99}}, status=503)

    app = web.Application()
    app.router.add_get("/json", json_answer)
    app.router.add_get("/header", header_answer)
    app.router.add_get("/down", down)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, LOOPBACK, 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("path", "reader", "figure"),
    [
        ("/json", LoadReader(field="load.cpu"), 0.75),
        ("/header", LoadReader(header="x-load"), 0.5),
        ("/json", LoadReader(field="load.memory"), None),
        ("/header", LoadReader(field="load"), None),
    ],
)
async def test_the_probe_reports_the_figure_the_answer_carries(
    loaded_target: int, path: str, reader: LoadReader, figure: float | None
) -> None:
    async with HttpClient() as client:
        result = await HttpProbe(LOOPBACK, loaded_target, path, load=reader, client=client).probe(2)
    assert result.ok
    assert result.load == figure


async def test_the_body_is_still_judged_when_the_figure_is_read(loaded_target: int) -> None:
    async with HttpClient() as client:
        probe = HttpProbe(
            LOOPBACK,
            loaded_target,
            "/json",
            body_contains="maintenance",
            load=LoadReader(field="load.cpu"),
            client=client,
        )
        result = await probe.probe(2)
    assert not result.ok
    assert result.load == 0.75


async def test_a_failed_answer_reports_no_figure(loaded_target: int) -> None:
    async with HttpClient() as client:
        probe = HttpProbe(
            LOOPBACK, loaded_target, "/down", load=LoadReader(field="load.cpu"), client=client
        )
        result = await probe.probe(2)
    assert not result.ok
    assert result.load is None


@pytest.mark.parametrize(
    ("headers", "body", "figure"),
    [
        ({"X-Load": " 12.5 "}, b"", 12.5),
        ({"X-Load": "busy"}, b"", None),
        ({"X-Load": "inf"}, b"", None),
        ({}, b"", None),
    ],
)
def test_a_header_figure_must_be_a_finite_number(
    headers: dict[str, str], body: bytes, figure: float | None
) -> None:
    assert LoadReader(header="X-Load").read(headers, body) == figure


@pytest.mark.parametrize(
    ("body", "figure"),
    [
        (b'{"load": 3}', 3.0),
        (b'{"load": "0.4"}', 0.4),
        (b'{"load": true}', None),
        (b'{"load": [1]}', None),
        (b'{"load": null}', None),
        (b"[1, 2]", None),
        (b"not json", None),
    ],
)
def test_a_json_figure_must_be_a_number(body: bytes, figure: float | None) -> None:
    assert LoadReader(field="load").read({}, body) == figure


@pytest.mark.parametrize("places", [{}, {"header": "X-Load", "field": "load"}])
def test_a_reader_names_exactly_one_place(places: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="exactly one of header or field"):
        LoadReader(**places)
