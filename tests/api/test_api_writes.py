"""Write endpoints: the token is checked before the body is read; bad bodies and numbers are 400s.

The run endpoints are served over a runbook executor that records what reaches it: a
request refused at the door must never get that far.
"""

from __future__ import annotations

from typing import Any

import pytest
from api_harness import READER_TOKEN, SERVICES, SITES, TOKENS, Api, ApiFactory, FakeRegistry

from gtm.api.app import make_app
from gtm.api.auth import required_scope
from gtm.api.deps import ApiDeps
from gtm.core.runbook import Run, RunKind
from gtm.errors import NotFound


class RecordingRunbooks:
    """The runbook executor as the API sees it, holding runs in memory and noting calls."""

    def __init__(self, count: int = 0) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self._runs = [_run(f"r{n}") for n in range(count)]

    def runs(self) -> list[Run]:
        return list(self._runs)

    def get(self, run_id: str) -> Run:
        for run in self._runs:
            if run.id == run_id:
                return run
        raise NotFound(f"runbook: no run {run_id!r}")

    async def wait(self, run_id: str, revision: int, timeout: float) -> Run:
        self.calls.append(("wait", (run_id, revision, timeout)))
        return self.get(run_id)

    async def begin(self, *args: Any) -> Run:
        self.calls.append(("begin", args))
        return _run("new")

    async def abort(self, *args: Any) -> Run:
        self.calls.append(("abort", args))
        return _run("aborted")

    async def evacuate(self, *args: Any) -> list[Run]:
        self.calls.append(("evacuate", args))
        return [_run("evacuated")]

    async def drill(self, *args: Any) -> list[Run]:
        self.calls.append(("drill", args))
        return [_run("drilled")]


def _run(run_id: str) -> Run:
    return Run(run_id, RunKind.FAILOVER, "billing", "aws-use1", "dc-paris", "test", "alice", 1.0)


WRITES = [
    ("POST", "/v1/intents"),
    ("DELETE", "/v1/intents/i1"),
    ("POST", "/v1/runs"),
    ("POST", "/v1/runs/r0/abort"),
    ("POST", "/v1/evacuations"),
    ("POST", "/v1/drills"),
]

GOOD = {
    "/v1/intents": {"kind": "freeze", "service": "billing", "why": "maintenance"},
    "/v1/runs": {"service": "billing", "to": "dc-paris", "reason": "maintenance"},
    "/v1/evacuations": {"site": "aws-use1", "reason": "maintenance"},
    "/v1/drills": {"service": "billing", "reason": "quarterly drill"},
}


@pytest.fixture
def runbooks() -> RecordingRunbooks:
    return RecordingRunbooks(count=150)


@pytest.fixture
async def ops(start: ApiFactory, runbooks: RecordingRunbooks) -> Api:
    return await start(runbooks=runbooks)


def test_every_route_that_changes_state_requires_a_scope(runbooks: RecordingRunbooks) -> None:
    app = make_app(ApiDeps(FakeRegistry(), SERVICES, SITES, TOKENS, runbooks=runbooks))
    writes = [r for r in app.router.routes() if r.method not in ("GET", "HEAD")]
    assert len(writes) == len(WRITES)
    assert all(required_scope(route.handler) is not None for route in writes)


@pytest.mark.parametrize(("method", "path"), WRITES)
@pytest.mark.parametrize("token", [None, "wrong", READER_TOKEN])
async def test_writes_authenticate_before_reading_the_body(
    ops: Api, runbooks: RecordingRunbooks, method: str, path: str, token: str | None
) -> None:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    # A body that would fail to parse: answering 400 would mean it was read first.
    async with ops.http.request(method, ops.url + path, data=b"\xff{", headers=headers) as resp:
        doc = await resp.json()
    assert resp.status in (401, 403), doc
    assert doc["error"] in ("unauthorized", "forbidden", "insufficient_scope")
    assert runbooks.calls == []


MALFORMED = [
    pytest.param(b'{"reason": "\xff\xfe"}', {}, "bad_json", id="bad-utf8"),
    pytest.param(b"[" * 5000 + b"]" * 5000, {}, "bad_json", id="deep-nesting"),
    pytest.param(b'{"drain": ' + b"9" * 5000 + b"}", {}, "bad_json", id="5000-digits"),
    pytest.param(b"{}", {"charset": "klingon"}, "bad_request", id="unknown-charset"),
    pytest.param(b"{}", {"charset": "latin-1"}, "bad_request", id="other-charset"),
    pytest.param(b"[]", {}, "bad_request", id="not-an-object"),
    pytest.param(b"", {}, "bad_json", id="empty"),
    pytest.param(b'{"drain": NaN}', {}, "bad_request", id="nan"),
]


@pytest.mark.parametrize("path", list(GOOD))
@pytest.mark.parametrize(("body", "content", "code"), MALFORMED)
async def test_every_malformed_body_is_a_400_json_error(
    ops: Api,
    runbooks: RecordingRunbooks,
    path: str,
    body: bytes,
    content: dict[str, str],
    code: str,
) -> None:
    content_type = "application/json" + "".join(f"; {k}={v}" for k, v in content.items())
    headers = {**ops.writer(), "Content-Type": content_type}
    async with ops.http.post(ops.url + path, data=body, headers=headers) as resp:
        doc = await resp.json()
    assert resp.status == 400, doc
    assert doc["error"] == code
    assert runbooks.calls == []


@pytest.mark.parametrize("path", list(GOOD))
async def test_the_good_bodies_are_accepted(
    ops: Api, runbooks: RecordingRunbooks, path: str
) -> None:
    async with ops.http.post(ops.url + path, json=GOOD[path], headers=ops.writer()) as resp:
        assert resp.status in (200, 201), await resp.text()


@pytest.mark.parametrize(
    ("path", "change", "field", "words"),
    [
        ("/v1/intents", {"ttl": 1e308}, "ttl", "greater than 0 and at most 31622400"),
        ("/v1/intents", {"ttl": -1}, "ttl", "greater than 0 and at most 31622400"),
        ("/v1/runs", {"drain": 1e308}, "drain", "at least 0 and at most 3600"),
        ("/v1/runs", {"hold": -5}, "hold", "at least 0 and at most 3600"),
        ("/v1/evacuations", {"parallel": 10**6}, "parallel", "at least 1 and at most 256"),
        ("/v1/drills", {"verify_timeout": 0}, "verify_timeout", "greater than 0"),
    ],
)
async def test_numbers_out_of_range_name_the_field_and_the_bounds(
    ops: Api, path: str, change: dict[str, Any], field: str, words: str
) -> None:
    body = {**GOOD[path], **change}
    async with ops.http.post(ops.url + path, json=body, headers=ops.writer()) as resp:
        doc = await resp.json()
    assert resp.status == 400, doc
    assert f"field {field!r}" in doc["message"]
    assert words in doc["message"]


@pytest.mark.parametrize(
    ("path", "field", "text"),
    [
        ("/v1/intents", "why", "deploy \x1b[2J\x1b[31mDONE"),
        ("/v1/intents", "who", "bob\rroot"),
        ("/v1/runs", "reason", "move\x07"),
        ("/v1/evacuations", "reason", "a\x00b"),
        ("/v1/drills", "reason", "\x9bc"),
    ],
)
async def test_control_characters_in_text_are_refused(
    ops: Api, runbooks: RecordingRunbooks, path: str, field: str, text: str
) -> None:
    body = {**GOOD[path], field: text}
    async with ops.http.post(ops.url + path, json=body, headers=ops.writer()) as resp:
        doc = await resp.json()
    assert resp.status == 400, doc
    assert f"field {field!r}" in doc["message"]
    assert "control character" in doc["message"]
    assert runbooks.calls == []


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("revision=1&wait=nan", "wait"),
        ("revision=1&wait=inf", "wait"),
        ("revision=1&wait=-1", "wait"),
        ("revision=1&wait=1e308", "wait"),
        ("revision=nan&wait=1", "revision"),
        ("revision=" + "9" * 5000, "revision"),
    ],
)
async def test_long_polls_on_runs_take_finite_numbers_only(
    ops: Api, runbooks: RecordingRunbooks, query: str, parameter: str
) -> None:
    async with ops.http.get(f"{ops.url}/v1/runs/r0?{query}") as resp:
        doc = await resp.json()
    assert resp.status == 400, doc
    assert doc["parameter"] == parameter
    assert runbooks.calls == []


async def test_a_long_wait_is_cut_to_the_cap(ops: Api, runbooks: RecordingRunbooks) -> None:
    async with ops.http.get(f"{ops.url}/v1/runs/r0?revision=0&wait=1h") as resp:
        assert resp.status == 200
    assert runbooks.calls == [("wait", ("r0", 0, 60.0))]


@pytest.mark.parametrize(("query", "first", "count"), [("", 50, 100), ("?limit=5", 145, 5)])
async def test_listing_runs_returns_the_latest_up_to_a_limit(
    ops: Api, query: str, first: int, count: int
) -> None:
    async with ops.http.get(f"{ops.url}/v1/runs{query}") as resp:
        runs = (await resp.json())["runs"]
    assert [run["id"] for run in runs] == [f"r{n}" for n in range(first, first + count)]


@pytest.mark.parametrize("limit", ["0", "1001", "nan", "-1"])
async def test_a_run_limit_out_of_range_is_a_400(ops: Api, limit: str) -> None:
    async with ops.http.get(f"{ops.url}/v1/runs?limit={limit}") as resp:
        doc = await resp.json()
    assert resp.status == 400
    assert doc["parameter"] == "limit"
    assert "from 1 to 1000" in doc["message"]
