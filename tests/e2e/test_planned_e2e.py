"""Planned failovers through a real HAProxy and BIND: no lost request, and clean rollbacks."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gtm.core.runbook import Run, RunKind, RunOptions, RunState, Step, run_from_dict
from gtm.demo.sites import SimulatedSite, SiteFleet
from gtm.runtime import Runtime
from testbed.bind import BindServer
from testbed.haproxy import HaproxyServer, find_haproxy

from .planned_fixtures import (
    TSIG_ENV,
    SteadyClient,
    backends,
    bind_addresses,
    cli,
    eventually,
    only,
    planned_doc,
    secret,
    shared_ports,
    token_env,
    weights,
)
from .support import SITES, ZONE, wait_published

FAILOVER = RunKind.FAILOVER

OLD, NEW = "aws-use1", "dc-paris"
EVACUATED = 50
STOP_WITHIN = 20.0
"""Seconds a runtime may take to stop before the test reports it hung."""


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture
async def runtimes(
    make_runtime: Callable[[dict[str, Any]], Runtime],
) -> AsyncIterator[Callable[[dict[str, Any]], Runtime]]:
    """Like ``make_runtime``, but each runtime must stop within :data:`STOP_WITHIN`.

    A stop that overruns is interrupted (which cancels what it waits for), reported as an
    error, and finished by ``make_runtime``'s own stop, so the test still ends in bounded
    time with nothing left running.
    """
    made: list[Runtime] = []

    def make(doc: dict[str, Any]) -> Runtime:
        runtime = make_runtime(doc)
        made.append(runtime)
        return runtime

    yield make
    hung = 0
    for runtime in made:
        try:
            await asyncio.wait_for(runtime.stop(), STOP_WITHIN)
        except TimeoutError:
            hung += 1
    assert not hung, f"{hung} runtime(s) did not stop within {STOP_WITHIN:g}s"


@pytest.fixture
def haproxy_binary() -> str:
    """The haproxy executable, or a skip saying what is missing."""
    found = find_haproxy()
    if found is None:
        pytest.skip("haproxy is not installed (Debian package haproxy)")
    return found


@pytest.fixture
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    """The secrets of the read, operate and admin tokens, where the config looks for them."""
    for env, value in token_env().items():
        monkeypatch.setenv(env, value)


@pytest.fixture
def haproxy(tmp_path: Path, ports: dict[str, int], haproxy_binary: str) -> Iterator[HaproxyServer]:
    """A real HAProxy with a backend per service over the three sites; stopped by pid."""
    server = HaproxyServer(
        tmp_path / "haproxy", backends(ports), stats_socket="tcp", executable=haproxy_binary
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def bind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[BindServer]:
    """A real BIND primary for the zone, taking gtm's signed updates; stopped by pid."""
    if shutil.which("named") is None and not Path("/usr/sbin/named").exists():
        pytest.skip("named is not installed (Debian package bind9)")
    server = BindServer(tmp_path / "bind", ZONE)
    monkeypatch.setenv(TSIG_ENV, server.key_secret)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
async def lb_gtm(
    tmp_path: Path,
    ports: dict[str, int],
    fleet: SiteFleet,
    haproxy: HaproxyServer,
    bind: BindServer,
    tokens: None,
    runtimes: Callable[[dict[str, Any]], Runtime],
) -> Runtime:
    """gtm driving HAProxy and BIND, once both send ``billing`` to the old site only."""
    runtime = runtimes(planned_doc(tmp_path, ports, haproxy=haproxy, bind=bind))
    await runtime.start()
    await settled(runtime, haproxy, bind, OLD)
    return runtime


@pytest.fixture
def client(haproxy: HaproxyServer) -> Iterator[SteadyClient]:
    """A steady client of ``billing`` through HAProxy; stopped whatever happens."""
    steady = SteadyClient(haproxy.frontend_port("billing"))
    try:
        yield steady
    finally:
        steady.stop()


@pytest.fixture
def many_ports() -> dict[str, int]:
    """A port per service for the evacuation, free on every site address."""
    return shared_ports([f"svc-{n:02d}" for n in range(EVACUATED)])


@pytest.fixture
def many_fleet(many_ports: dict[str, int]) -> Iterator[SiteFleet]:
    """Three site processes, each serving every one of the services on its own port."""
    sites = SiteFleet(
        {name: SimulatedSite(name, address, dict(many_ports)) for name, address in SITES.items()}
    )
    try:
        sites.start()
        yield sites
    finally:
        sites.stop()


@pytest.fixture
def many_haproxy(
    tmp_path: Path, many_ports: dict[str, int], haproxy_binary: str
) -> Iterator[HaproxyServer]:
    """HAProxy with a backend (and frontend) for each of the services."""
    server = HaproxyServer(
        tmp_path / "haproxy", backends(many_ports), stats_socket="tcp", executable=haproxy_binary
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()


# -- helpers ----------------------------------------------------------------------------


async def settled(runtime: Runtime, haproxy: HaproxyServer, bind: BindServer, site: str) -> None:
    """Wait until every locator is up and HAProxy and BIND send ``billing`` to ``site``."""
    await wait_published(runtime)
    await eventually(lambda: weights(haproxy, "billing"), lambda w: w == only(site), "haproxy")
    await eventually(lambda: bind_addresses(bind, "billing"), lambda a: a == {SITES[site]}, "bind")


async def answered(client: SteadyClient, after: float, count: int = 20) -> None:
    """Wait until ``count`` requests sent after ``after`` have been answered."""

    async def seen() -> int:
        return sum(1 for a in list(client.answers) if a.started > after)

    await eventually(seen, lambda n: n >= count, "answers through haproxy")


def step(run: Run, which: Step) -> tuple[float, float]:
    """When ``which`` started and ended in ``run``."""
    record = next(r for r in run.steps if r.step is which)
    assert record.finished_at is not None, record
    return record.started_at, record.finished_at


def bearer(name: str) -> dict[str, str]:
    """The Authorization header of one of the configured tokens."""
    return {"Authorization": f"Bearer {secret(name)}"}


def api(runtime: Runtime) -> str:
    """The base URL of the runtime's API."""
    return f"http://127.0.0.1:{runtime.api_port}"


async def post(
    http: aiohttp.ClientSession, url: str, body: dict[str, Any], token: str | None = None
) -> tuple[int, dict[str, Any]]:
    """POST a JSON body, with a bearer token when named; the status and the JSON answer."""
    headers = bearer(token) if token else {}
    async with http.post(url, json=body, headers=headers) as answer:
        return answer.status, await answer.json()


async def followed(http: aiohttp.ClientSession, base: str, doc: dict[str, Any]) -> Run:
    """Long-poll ``/v1/runs/{id}?revision=&wait=`` until the run has ended."""
    deadline = asyncio.get_running_loop().time() + 60
    while doc["state"] == "running":
        assert asyncio.get_running_loop().time() < deadline, f"run did not end: {doc}"
        url = f"{base}/v1/runs/{doc['id']}?revision={doc['revision']}&wait=5"
        async with http.get(url) as answer:
            assert answer.status == 200
            doc = await answer.json()
    return run_from_dict(doc)


async def in_step(runtime: Runtime, run: Run, which: Step, timeout: float = 20.0) -> Run:
    """Wait until ``which`` is the running step of ``run``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        current = runtime.runbooks.get(run.id)
        if current.current is not None and current.current.step is which:
            return current
        assert not current.state.finished, f"run ended before {which}: {current.outcome}"
        assert asyncio.get_running_loop().time() < deadline, f"never reached {which}"
        await runtime.runbooks.wait(run.id, current.revision, 0.5)


# -- the moves --------------------------------------------------------------------------


async def test_planned_failover_under_traffic_loses_no_request(
    lb_gtm: Runtime, haproxy: HaproxyServer, bind: BindServer, client: SteadyClient
) -> None:
    client.start()
    await answered(client, after=0.0)
    body = {
        "service": "billing",
        "to": NEW,
        "reason": "patching aws-use1",
        "drain": 2.0,
        "hold": 0.5,
        "verify_timeout": 5.0,
    }
    async with aiohttp.ClientSession() as http:
        status, doc = await post(http, f"{api(lb_gtm)}/v1/runs", body, token="ops")
        assert status == 201, doc
        done = await followed(http, api(lb_gtm), doc)
    assert done.state is RunState.DONE, done.outcome
    assert done.who == "ops"
    assert [r.step for r in done.steps] == [
        Step.PREFLIGHT,
        Step.DRAIN,
        Step.SWITCH,
        Step.VERIFY,
        Step.HOLD,
    ]
    drain_start, drain_end = step(done, Step.DRAIN)
    _, switched = step(done, Step.SWITCH)
    await answered(client, after=done.steps[-1].finished_at or switched)
    answers = client.stop()

    assert client.failures() == [], client.failures()[:5]
    before = {a.site for a in answers if a.ended < drain_start}
    assert before == {OLD}
    during = client.sites_between(drain_start, drain_end)
    assert set(during) == {OLD, NEW}
    middle = (drain_start + drain_end) / 2
    early = client.sites_between(drain_start, middle)
    late = client.sites_between(middle, drain_end)
    # The ramp: the new site's share grows through the drain.
    assert early.count(NEW) / len(early) < late.count(NEW) / len(late)
    after = {a.site for a in answers if a.started > switched}
    assert after == {NEW}

    assert {"dns", "lb", "bind"} <= set(done.served)
    assert all(at >= drain_end for at in done.served.values())
    assert await weights(haproxy, "billing") == only(NEW)
    assert await bind_addresses(bind, "billing") == {SITES[NEW]}
    mapping = lb_gtm.registry.get("billing")
    assert mapping is not None and mapping.active_site == NEW
    assert lb_gtm.registry.intents() == []


async def test_a_dry_run_lists_the_changes_the_run_then_makes(
    lb_gtm: Runtime, haproxy: HaproxyServer, bind: BindServer
) -> None:
    look = RunOptions(hold=0.2, dry_run=True)
    dry = await lb_gtm.runbooks.begin(FAILOVER, "billing", NEW, "look", "alice", look)
    assert dry.preview is not None, dry.outcome
    planned = {p.name: {c.key: c for c in p.changes} for p in dry.preview.providers}
    record = f"billing.{ZONE} A"
    assert planned["bind"][record].after is not None
    assert SITES[NEW] in planned["bind"][record].after
    assert {f"billing.{ZONE} SRV", f"billing.{ZONE} TXT"} <= set(planned["bind"]), planned
    assert planned["lb"], "the load balancer's weights change too"
    assert f"bind: {len(planned['bind'])} change(s)" in dry.outcome

    options = RunOptions(hold=0.2)
    run = await lb_gtm.runbooks.begin(FAILOVER, "billing", NEW, "move", "alice", options)
    done = await lb_gtm.runbooks.finished(run, timeout=60)
    assert done.state is RunState.DONE, done.outcome
    assert await bind_addresses(bind, "billing") == {SITES[NEW]}
    assert await weights(haproxy, "billing") == only(NEW)


async def test_haproxy_unreachable_fails_verify_and_rolls_back(
    lb_gtm: Runtime, haproxy: HaproxyServer, bind: BindServer
) -> None:
    haproxy.stop()  # the load balancer cannot be moved: verify must not pass
    options = RunOptions(hold=0.2, verify_timeout=1.5)
    run = await lb_gtm.runbooks.begin(FAILOVER, "billing", NEW, "test", "alice", options)
    done = await lb_gtm.runbooks.finished(run, timeout=60)

    assert done.state is RunState.ROLLED_BACK, done.outcome
    verify = next(r for r in done.steps if r.step is Step.VERIFY)
    assert verify.ok is False and "lb" in verify.detail
    assert done.steps[-1].step is Step.ROLLBACK and done.steps[-1].ok
    assert "bind" in done.served and "lb" not in done.served
    mapping = lb_gtm.registry.get("billing")
    assert mapping is not None and mapping.active_site == OLD
    assert lb_gtm.registry.intents() == []
    # BIND, reachable all along, was moved and moved back.
    assert await bind_addresses(bind, "billing") == {SITES[OLD]}

    # HAProxy comes back with its configured weights (1 each); gtm sets the old site again.
    haproxy.start()
    await eventually(lambda: weights(haproxy, "billing"), lambda w: w == only(OLD), "haproxy")
    steady = SteadyClient(haproxy.frontend_port("billing"))
    steady.start()
    try:
        await answered(steady, after=0.0)
    finally:
        answers = steady.stop()
    assert {a.site for a in answers} == {OLD} and steady.failures() == []


async def test_target_failing_after_the_switch_rolls_back(
    lb_gtm: Runtime, fleet: SiteFleet, haproxy: HaproxyServer, bind: BindServer
) -> None:
    options = RunOptions(hold=5.0, verify_timeout=3.0)
    run = await lb_gtm.runbooks.begin(FAILOVER, "billing", NEW, "test", "alice", options)
    await in_step(lb_gtm, run, Step.HOLD)
    # The switch went through: both systems send traffic to the new site.
    assert await weights(haproxy, "billing") == only(NEW)
    assert await bind_addresses(bind, "billing") == {SITES[NEW]}
    fleet[NEW].kill()
    done = await lb_gtm.runbooks.finished(run, timeout=60)

    assert done.state is RunState.ROLLED_BACK, done.outcome
    assert "went down" in done.outcome
    mapping = lb_gtm.registry.get("billing")
    assert mapping is not None and mapping.active_site == OLD
    assert await weights(haproxy, "billing") == only(OLD)
    assert await bind_addresses(bind, "billing") == {SITES[OLD]}


async def test_gtm_killed_during_the_drain_rolls_back_haproxy(
    tmp_path: Path,
    ports: dict[str, int],
    fleet: SiteFleet,
    haproxy: HaproxyServer,
    bind: BindServer,
    tokens: None,
    client: SteadyClient,
    runtimes: Callable[[dict[str, Any]], Runtime],
) -> None:
    doc = planned_doc(tmp_path, ports, haproxy=haproxy, bind=bind)
    first = runtimes(doc)
    await first.start()
    await settled(first, haproxy, bind, OLD)
    client.start()
    options = RunOptions(drain=5.0, hold=0.2, verify_timeout=5.0)
    run = await first.runbooks.begin(FAILOVER, "billing", NEW, "test", "alice", options)
    await eventually(lambda: weights(haproxy, "billing"), lambda w: w[NEW] > 0, "a shift")
    # gtm dies mid-drain: HAProxy keeps the split it was given.
    await asyncio.wait_for(first.stop(), STOP_WITHIN)
    split = await weights(haproxy, "billing")
    assert split[OLD] > 0 and split[NEW] > 0, split

    second = runtimes(doc)
    await second.start()
    done = await second.runbooks.finished(second.runbooks.get(run.id), timeout=60)
    assert done.state is RunState.ROLLED_BACK, done.outcome
    assert "restarted during drain" in done.outcome
    back = done.steps[-1]
    assert back.step is Step.ROLLBACK and back.ok and back.finished_at is not None
    await eventually(lambda: weights(haproxy, "billing"), lambda w: w == only(OLD), "haproxy")
    await answered(client, after=back.finished_at)
    answers = client.stop()

    assert client.failures() == [], client.failures()[:5]
    assert {a.site for a in answers if a.started > back.finished_at} == {OLD}
    assert await bind_addresses(bind, "billing") == {SITES[OLD]}
    assert second.registry.intents() == []


async def test_cli_abort_rolls_back(
    lb_gtm: Runtime, haproxy: HaproxyServer, bind: BindServer, client: SteadyClient
) -> None:
    client.start()
    options = RunOptions(drain=30.0, hold=0.2, verify_timeout=5.0)
    run = await lb_gtm.runbooks.begin(FAILOVER, "billing", NEW, "window", "ops", options)
    await eventually(lambda: weights(haproxy, "billing"), lambda w: w[NEW] > 0, "a shift")

    code, out, err = await cli(
        "failover", "billing", "--abort", "--api", api(lb_gtm), token=secret("ops")
    )
    assert code == 0, (out, err)  # the abort did what was asked: the move rolled back
    assert "rolled-back" in out and "aborted" in out, out

    done = lb_gtm.runbooks.get(run.id)
    assert done.state is RunState.ROLLED_BACK and done.abort_requested
    back = done.steps[-1]
    assert back.step is Step.ROLLBACK and back.ok and back.finished_at is not None
    drain = next(r for r in done.steps if r.step is Step.DRAIN)
    assert drain.ok is False and "abort" in drain.detail
    assert await weights(haproxy, "billing") == only(OLD)
    assert await bind_addresses(bind, "billing") == {SITES[OLD]}
    await answered(client, after=back.finished_at)
    answers = client.stop()
    assert client.failures() == [], client.failures()[:5]
    assert {a.site for a in answers if a.started > back.finished_at} == {OLD}
    [event] = await lb_gtm.registry.events(service="billing", kind="run")
    assert "rolled-back" in event.reason and event.actor == "ops"


@pytest.mark.slow
async def test_evacuating_a_site_of_many_services_gives_one_summary(
    tmp_path: Path,
    many_ports: dict[str, int],
    many_fleet: SiteFleet,
    many_haproxy: HaproxyServer,
    bind: BindServer,
    tokens: None,
    runtimes: Callable[[dict[str, Any]], Runtime],
) -> None:
    # A timeout with room to spare: a preflight probe of 50 runs at once must not time out
    # on a busy machine and refuse a run.
    check = {"type": "tcp", "interval": "1s", "timeout": "800ms", "recheck_interval": "50ms"}
    doc = planned_doc(tmp_path, many_ports, haproxy=many_haproxy, bind=bind, check=check)
    runtime = runtimes(doc)
    await runtime.start()
    await wait_published(runtime, timeout=30)
    services = sorted(many_ports)

    async def everywhere() -> dict[str, dict[str, int]]:
        return {s: await weights(many_haproxy, s) for s in services}

    await eventually(everywhere, lambda w: all(v == only(OLD) for v in w.values()), "haproxy")

    code, out, err = await cli(
        "evacuate",
        OLD,
        "--reason",
        "datacentre power work",
        "--hold",
        "0.2",
        "--verify-timeout",
        "20",
        "--parallel",
        "8",
        "--api",
        api(runtime),
        token=secret("ops"),
        timeout=300,
    )
    assert code == 0, (out, err)
    lines = out.strip().splitlines()
    assert lines[-1] == f"{EVACUATED} run(s): {EVACUATED} done", out
    moved = [line for line in lines if line.strip().startswith("evacuate of ")]
    assert len(moved) == EVACUATED
    assert all(": done in " in line for line in moved), moved

    for service in services:
        mapping = runtime.registry.get(service)
        assert mapping is not None and mapping.active_site not in (None, OLD), mapping
    held = await everywhere()
    assert all(w[OLD] == 0 and sum(w.values()) > 0 for w in held.values()), held
    addresses = await asyncio.gather(*(bind_addresses(bind, s) for s in services))
    assert all(a and SITES[OLD] not in a for a in addresses), addresses
    assert runtime.registry.intents() == []
    runs = runtime.runbooks.runs()
    assert len(runs) == EVACUATED and {r.who for r in runs} == {"ops"}


# -- who may do what --------------------------------------------------------------------


@pytest.fixture
async def scoped_gtm(
    tmp_path: Path,
    ports: dict[str, int],
    fleet: SiteFleet,
    tokens: None,
    runtimes: Callable[[dict[str, Any]], Runtime],
) -> AsyncIterator[Runtime]:
    """gtm with a read, an operate and an admin token, and no providers."""
    runtime = runtimes(planned_doc(tmp_path, ports))
    await runtime.start()
    await wait_published(runtime)
    yield runtime


async def test_run_endpoints_enforce_token_scopes(scoped_gtm: Runtime) -> None:
    base = api(scoped_gtm)
    move = {"service": "billing", "to": NEW, "reason": "scope test", "drain": 30.0}
    forced = {"service": "search", "to": NEW, "reason": "scope test", "force": True, "hold": 0}
    evacuation = {"site": OLD, "reason": "scope test"}
    drill = {"service": "billing", "reason": "scope test"}
    async with aiohttp.ClientSession() as http:
        assert (await post(http, f"{base}/v1/runs", move))[0] == 401
        status, error = await post(http, f"{base}/v1/runs", move, token="viewer")
        assert status == 403 and "operate" in str(error)
        assert (await post(http, f"{base}/v1/evacuations", evacuation, "viewer"))[0] == 403
        assert (await post(http, f"{base}/v1/drills", drill, "viewer"))[0] == 403
        assert scoped_gtm.runbooks.runs() == []  # refused requests started nothing

        status, run = await post(http, f"{base}/v1/runs", move, token="ops")
        assert status == 201 and run["who"] == "ops" and run["state"] == "running"
        status, error = await post(http, f"{base}/v1/runs", forced, token="ops")
        assert status == 403 and "admin" in str(error)
        status, other = await post(http, f"{base}/v1/runs", forced, token="root")
        assert status == 201 and other["who"] == "root"

        abort = f"{base}/v1/runs/{run['id']}/abort"
        assert (await post(http, abort, {}, token="viewer"))[0] == 403
        status, aborting = await post(http, abort, {}, token="ops")
        assert status == 200 and aborting["abort_requested"]
        ended = await followed(http, base, aborting)
        assert ended.state is RunState.ROLLED_BACK

        async with http.get(f"{base}/v1/runs") as answer:  # reads need no token
            assert answer.status == 200
            listed = {r["id"]: r["who"] for r in (await answer.json())["runs"]}
    assert listed == {run["id"]: "ops", other["id"]: "root"}
