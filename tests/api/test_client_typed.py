"""The client hands out typed values decoded from the API's JSON, and sends bodies the
API's request models accept.

The server here answers with documents encoded by the core's own codecs, plus fields this
client does not know yet (a newer server's), and keeps what the client sent so each body
is checked against the model the real API validates it with.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from gtm.api.intents import IntentRequest as IntentBody
from gtm.api.runs import DrillRequest, EvacuationRequest
from gtm.api.runs import RunRequest as RunBody
from gtm.client import GtmClient, IntentRequest, RunRequest
from gtm.core.codec import intent_to_dict
from gtm.core.journal import EventKind
from gtm.core.model import Intent, IntentKind
from gtm.core.reports import BatchReport, ProviderReport, provider_report_to_dict
from gtm.core.runbook import Run, RunKind, RunOptions, RunState, Step, StepRecord, run_to_dict

RUN = Run(
    "r-1",
    RunKind.FAILOVER,
    "billing",
    "aws-use1",
    "gcp-euw1",
    "patch night",
    "ann",
    1_700_000_000.0,
    state=RunState.DONE,
    steps=(StepRecord(Step.PREFLIGHT, 1_700_000_000.0, 1_700_000_000.2, True, "3/3 up"),),
    outcome="billing moved to gcp-euw1",
    revision=4,
)
PROVIDER = ProviderReport("bind", "rfc2136", last_success=1_700_000_000.0, pending=2)
INTENT = Intent("i-1", IntentKind.PIN, "billing", "dc-paris", who="ann", why="drill")
NEWER = {"added_by_a_newer_server": {"any": "thing"}}


@dataclass
class Recorder:
    """What the client asked: each request's path, query and body."""

    bodies: dict[str, Any] = field(default_factory=dict)
    queries: dict[str, dict[str, str]] = field(default_factory=dict)


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, Recorder]]:
    recorder = Recorder()
    run_doc = {**run_to_dict(RUN), **NEWER}
    report = {"runs": [run_doc], "counts": {"done": 1}, "summary": ["moved"], **NEWER}

    def answer(doc: dict[str, Any]) -> Any:
        async def handle(request: web.Request) -> web.Response:
            recorder.queries[request.path] = dict(request.query)
            if request.can_read_body:
                recorder.bodies[request.path] = await request.json()
            return web.json_response(doc)

        return handle

    app = web.Application()
    app.add_routes(
        [
            web.get("/v1/runs", answer({"runs": [run_doc]})),
            web.get("/v1/runs/r-1", answer(run_doc)),
            web.post("/v1/runs", answer(run_doc)),
            web.post("/v1/runs/r-1/abort", answer(run_doc)),
            web.post("/v1/evacuations", answer({**report, "site": "aws-use1"})),
            web.post("/v1/drills", answer({**report, "service": "billing"})),
            web.get(
                "/v1/providers",
                answer({"providers": [{**provider_report_to_dict(PROVIDER), **NEWER}]}),
            ),
            web.post("/v1/intents", answer({**intent_to_dict(INTENT), **NEWER})),
            web.get("/v1/events", answer({"events": []})),
        ]
    )
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", recorder
    finally:
        await runner.cleanup()


async def test_runs_are_typed_whatever_fields_the_server_adds(
    served: tuple[str, Recorder],
) -> None:
    url, _ = served
    async with GtmClient(url) as client:
        runs = await client.runs()
        assert await client.run("r-1") == RUN
        assert await client.abort_run("r-1") == RUN
    assert runs == [RUN]
    assert runs[0].kind is RunKind.FAILOVER and runs[0].state is RunState.DONE


async def test_a_run_request_is_a_body_the_api_accepts(served: tuple[str, Recorder]) -> None:
    url, recorder = served
    options = RunOptions(drain=20.0, hold=0.0, dry_run=True, replace_intents=True)
    request = RunRequest(RunKind.FAILOVER, "billing", "patch", options, to="gcp-euw1")
    async with GtmClient(url) as client:
        assert await client.start_run(request) == RUN

    body = RunBody.model_validate(recorder.bodies["/v1/runs"])
    assert (body.kind, body.service, body.to, body.reason) == (
        "failover",
        "billing",
        "gcp-euw1",
        "patch",
    )
    assert (body.drain, body.hold, body.dry_run, body.replace_intents) == (20.0, 0.0, True, True)


async def test_a_failback_request_names_no_target(served: tuple[str, Recorder]) -> None:
    url, recorder = served
    async with GtmClient(url) as client:
        await client.start_run(RunRequest(RunKind.FAILBACK, "billing", "back", RunOptions()))

    assert "to" not in recorder.bodies["/v1/runs"]
    assert RunBody.model_validate(recorder.bodies["/v1/runs"]).kind == "failback"


async def test_batches_come_back_as_reports(served: tuple[str, Recorder]) -> None:
    url, recorder = served
    async with GtmClient(url) as client:
        evacuation = await client.evacuate("aws-use1", "patch", RunOptions(), parallel=3)
        drill = await client.drill("billing", "rehearsal", RunOptions(lower_ttl=True))

    assert evacuation == BatchReport((RUN,), {RunState.DONE: 1}, ("moved",), site="aws-use1")
    assert drill == BatchReport((RUN,), {RunState.DONE: 1}, ("moved",), service="billing")
    assert EvacuationRequest.model_validate(recorder.bodies["/v1/evacuations"]).parallel == 3
    assert DrillRequest.model_validate(recorder.bodies["/v1/drills"]).lower_ttl is True


async def test_providers_and_intents_are_typed(served: tuple[str, Recorder]) -> None:
    url, recorder = served
    request = IntentRequest(IntentKind.PIN, "drill", service="billing", site="dc-paris", ttl=60.0)
    async with GtmClient(url) as client:
        assert await client.providers() == [PROVIDER]
        assert await client.add_intent(request) == INTENT

    sent = recorder.bodies["/v1/intents"]
    assert sent == {
        "kind": "pin",
        "why": "drill",
        "service": "billing",
        "site": "dc-paris",
        "ttl": 60.0,
    }
    assert IntentBody.model_validate_json(json.dumps(sent)).kind is IntentKind.PIN


async def test_an_event_kind_is_sent_by_its_name(served: tuple[str, Recorder]) -> None:
    url, recorder = served
    async with GtmClient(url) as client:
        assert await client.events(kind=EventKind.DRIFT, limit=5) == []

    assert recorder.queries["/v1/events"] == {"limit": "5", "kind": "drift"}
