"""The ``gtm`` command against a running gtm: what an operator types and reads."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gtm.cli import main
from gtm.core.model import Intent, IntentKind, Mapping
from gtm.core.runbook import Run, RunKind, RunState
from gtm.runtime import Runtime

from .support import TOKEN

GTM = [sys.executable, "-m", "gtm"]


async def gtm_cli(*args: str, token: str | None = None) -> tuple[int, str, str]:
    """Run ``gtm ARGS`` as a child process without blocking the event loop."""
    env = {"PATH": "/usr/bin:/bin"}
    if token:
        env["GTM_TOKEN"] = token
    process = await asyncio.create_subprocess_exec(
        *GTM, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def test_help_explains_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("run", "config", "status", "resolve", "pin", "drain", "freeze", "events"):
        assert f"    {command}" in out


def test_config_check_lists_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "zone: gtm.example.test.\n"
        "sites: {aws-use1: {}}\n"
        "services:\n"
        "  billing:\n"
        "    check: {interval: 1 sec}\n"
        "    locators:\n"
        "      - {site: gcp-eu, address: 127.0.1.1, port: 70000}\n"
    )
    assert main(["config", "check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "services.billing.locators[0].site: 'gcp-eu' is not a site" in err
    assert "services.billing.locators[0].port: 70000" in err
    assert "services.billing.check.interval: '1 sec'" in err
    assert f"{bad}: 3 problem(s)" in err


async def test_status_and_resolve_show_the_active_site(gtm: Runtime) -> None:
    api = f"http://127.0.0.1:{gtm.api_port}"
    code, out, _ = await gtm_cli("status", "--api", api)
    assert code == 0
    header, *lines = out.splitlines()
    assert header.split()[:5] == ["SERVICE", "ACTIVE", "EPOCH", "VERSION", "TRAFFIC"]
    rows = [line for line in lines if line and not line.startswith(" ")]
    assert {row.split()[0]: row.split()[1] for row in rows} == {
        "billing": "aws-use1",
        "search": "aws-use1",
    }
    code, out, _ = await gtm_cli("resolve", "billing", "--api", api)
    assert code == 0
    assert out.startswith("billing -> 127.0.1.1:")


async def test_status_says_when_this_instance_distrusts_itself(
    gtm: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = f"http://127.0.0.1:{gtm.api_port}"
    code, out, _ = await gtm_cli("status", "--api", api)
    assert code == 0 and "DEGRADED" not in out
    # The store says a call has been in flight for 2 s, as it would while another process
    # holds its lock; the runtime's own periodic look at the store must notice it.
    # (A loaded machine may add an event-loop lag to the reasons: only the stall is asserted.)
    assert gtm._store is not None
    monkeypatch.setattr(gtm._store, "busy_for", lambda: 2.0)
    stalled = "a store call in flight for 2.000s (bound 0.500s)"
    deadline = time.monotonic() + 30
    while stalled not in gtm.controller.vantage().reasons:
        assert time.monotonic() < deadline, "the stalled store was never noticed"
        await asyncio.sleep(0.05)
    code, out, _ = await gtm_cli("status", "--api", api)
    assert code == 0
    first = out.splitlines()[0]
    assert " DEGRADED since " in first
    assert stalled in first and first.endswith("(no automatic move until it recovers)")
    code, out, _ = await gtm_cli("status", "--json", "--api", api)
    vantage = json.loads(out)["vantage"]
    assert vantage["degraded"] is True
    assert stalled in vantage["reasons"]


async def test_runs_lists_the_latest_ones_up_to_the_limit(gtm: Runtime) -> None:
    for n in range(3):
        await gtm.registry.save_run(
            Run(
                f"r{n}", RunKind.FAILOVER, "billing", "aws-use1", "gcp-euw1", "patch", "alice",
                1000.0 + n, state=RunState.DONE,
            )
        )  # fmt: skip
    api = f"http://127.0.0.1:{gtm.api_port}"
    code, out, err = await gtm_cli("runs", "--limit", "2", "--json", "--api", api)
    assert code == 0, err
    assert [run["id"] for run in json.loads(out)["runs"]] == ["r1", "r2"]
    code, _, err = await gtm_cli("runs", "--limit", "0", "--api", api)
    assert code == 2 and "'0' is not a whole number of at least 1" in err


async def published(gtm: Runtime, ready: Callable[[Mapping], bool], what: str) -> Mapping:
    """The billing mapping once ``ready`` holds for it."""
    for _ in range(250):
        mapping = gtm.registry.get("billing")
        if mapping is not None and ready(mapping):
            return mapping
        await asyncio.sleep(0.02)
    pytest.fail(f"billing was not published {what}: {gtm.registry.get('billing')}")


async def test_status_shows_the_split_the_intents_and_locators_by_priority(gtm: Runtime) -> None:
    # A run's shift and TTL cap, as a planned failover leaves them while it drains, and an
    # operator's drain of dc-paris for billing.
    made = []
    for intent in (
        Intent("", IntentKind.SHIFT, "billing", "gcp-euw1", share=30),
        Intent("", IntentKind.TTL, "billing", ttl=3),
    ):
        made.append(
            await gtm.registry.add_intent(
                Intent(
                    **{
                        **_fields(intent),
                        **{"who": "alice", "why": "run r1: patch", "created_at": time.time()},
                    }
                )
            )
        )
    run = Run(
        "r1", RunKind.FAILOVER, "billing", "aws-use1", "gcp-euw1", "patch", "alice", time.time(),
        state=RunState.DONE, intents=tuple(i.id for i in made),
    )  # fmt: skip
    await gtm.registry.save_run(run)
    api = f"http://127.0.0.1:{gtm.api_port}"
    code, out, err = await gtm_cli(
        "drain", "dc-paris", "--service", "billing", "--why", "racks", "--api", api, token=TOKEN
    )
    assert code == 0, err
    drain = out.split(":")[0].removeprefix("intent ")

    def applied(m: Mapping) -> bool:
        return m.ttl == 3 and all(loc.priority == 1 for loc in m.locators if loc.site != "dc-paris")

    await published(gtm, applied, "with the shift, the TTL cap and the drain")

    code, out, err = await gtm_cli("status", "--api", api)
    assert code == 0, err
    lines = out.splitlines()
    row = next(line for line in lines if line.startswith("billing "))
    assert row.split()[1] == "aws-use1"
    assert "aws-use1 70% → gcp-euw1 30%" in row
    details = lines[lines.index(row) + 1 : lines.index(row) + 6]
    assert details[0].startswith("    reason: aws-use1 is healthy")
    assert "30% of traffic shifted to gcp-euw1 by alice: run r1: patch" in details[0]
    shift, ttl = made
    assert details[1:4] == [
        f"    intent {shift.id}: shift 30% of billing to gcp-euw1 (run r1), by alice, until never",
        f"    intent {ttl.id}: cap the ttl of billing at 3s (run r1), by alice, until never",
        f"    intent {drain}: drain dc-paris for billing, by default, until never",
    ]
    assert details[4] == ("    locators: aws-use1:up/p1/w70 gcp-euw1:up/p1/w30 dc-paris:up/p255/w0")

    code, out, err = await gtm_cli("status", "--json", "--api", api)
    assert code == 0, err
    billing = next(s for s in json.loads(out)["services"] if s["service"] == "billing")
    assert billing["active_site"] == "aws-use1"
    assert billing["traffic"] == [
        {"site": "aws-use1", "percent": 70.0},
        {"site": "gcp-euw1", "percent": 30.0},
    ]
    assert [(i["kind"], i["run"]) for i in billing["intents"]] == [
        ("shift", "r1"),
        ("ttl", "r1"),
        ("drain", None),
    ]
    assert "30% of traffic shifted to gcp-euw1" in billing["reason"]
    assert [loc["priority"] for loc in billing["locators"]] == [1, 1, 255]
    assert billing["last_move"] is None and billing["seconds_since_move"] is None

    code, out, err = await gtm_cli("intents", "--api", api)
    assert code == 0, err
    assert "shift 30% of billing to gcp-euw1 (run r1)" in out
    assert "cap the ttl of billing at 3s (run r1)" in out
    assert "freeze" not in out
    code, out, err = await gtm_cli("intents", "--json", "--api", api)
    assert code == 0, err
    assert {i["id"]: i["run"] for i in json.loads(out)["intents"]} == {
        shift.id: "r1",
        ttl.id: "r1",
        drain: None,
    }


def _fields(intent: Intent) -> dict[str, object]:
    return {name: getattr(intent, name) for name in intent.__slots__}


async def test_resolve_unknown_service_says_which_exist(gtm: Runtime) -> None:
    code, _, err = await gtm_cli("resolve", "nope", "--api", f"http://127.0.0.1:{gtm.api_port}")
    assert code == 1
    assert "nope" in err and "billing" in err


async def test_pin_needs_the_token_and_then_moves_the_service(gtm: Runtime) -> None:
    api = f"http://127.0.0.1:{gtm.api_port}"
    args = ("pin", "billing", "dc-paris", "--why", "drill", "--api", api)
    code, _, err = await gtm_cli(*args)
    assert code == 1
    assert err == (
        "gtm: gtm pin needs a token of scope operate: pass --token TOKEN or set GTM_TOKEN "
        "(tokens are the api.tokens of the gtm config)\n"
    )
    code, _, err = await gtm_cli(*args, token="wrong")
    assert code == 1
    assert err.startswith("gtm: the token given (--token or GTM_TOKEN) is not one of the ")
    code, out, err = await gtm_cli(*args, token=TOKEN)
    assert code == 0, err
    assert "pin billing to dc-paris" in out
    for _ in range(100):
        mapping = gtm.registry.get("billing")
        if mapping is not None and mapping.active_site == "dc-paris":
            break
        await asyncio.sleep(0.02)
    else:
        pytest.fail("billing did not move to dc-paris")
    code, out, _ = await gtm_cli("events", "--service", "billing", "--api", api)
    assert code == 0
    assert "aws-use1 -> dc-paris" in out
    code, out, _ = await gtm_cli("intents", "--api", api)
    assert "pin billing to dc-paris" in out
    code, out, _ = await gtm_cli("status", "--api", api)
    row = next(line for line in out.splitlines() if line.startswith("billing "))
    assert row.split()[1] == "dc-paris" and row.endswith(" ago")  # the pin's move, journaled
    assert next(line for line in out.splitlines() if line.startswith("search ")).endswith("never")


async def test_failover_command_shows_progress_and_moves(gtm: Runtime) -> None:
    api = f"http://127.0.0.1:{gtm.api_port}"
    base = ("--api", api, "--hold", "200ms")
    code, out, err = await gtm_cli(
        "failover",
        "billing",
        "--to",
        "gcp-euw1",
        "--reason",
        "patch",
        "--drain",
        "1s",
        *base,
        token=TOKEN,
    )
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0].startswith("run ") and "aws-use1 -> gcp-euw1" in lines[0]
    for step in ("preflight", "drain", "switch", "verify", "hold"):
        assert any(line.strip().startswith(f"{step} ") and " ok in " in line for line in lines)
    assert any("% on gcp-euw1" in line for line in lines)  # drain progress
    assert lines[-1].startswith("done: billing moved to gcp-euw1")
    code, out, _ = await gtm_cli("events", "--kind", "run", "--site", "gcp-euw1", "--api", api)
    assert code == 0 and "run " in out and "by default" in out


async def test_failover_needs_a_reason_and_operate_scope(gtm: Runtime) -> None:
    api = f"http://127.0.0.1:{gtm.api_port}"
    code, _, err = await gtm_cli("failover", "billing", "--to", "dc-paris", "--api", api)
    assert code == 2 and "required: --reason/--why" in err
    code, _, err = await gtm_cli(
        "failover", "billing", "--to", "dc-paris", "--reason", "x", "--api", api
    )
    assert code == 1 and "gtm failover needs a token of scope operate: pass --token" in err


async def test_dry_run_prints_the_plan(gtm: Runtime) -> None:
    api = f"http://127.0.0.1:{gtm.api_port}"
    code, out, err = await gtm_cli(
        "failover",
        "billing",
        "--to",
        "dc-paris",
        "--reason",
        "look",
        "--dry-run",
        "--api",
        api,
        token=TOKEN,
    )
    assert code == 0, err
    assert "would move billing from aws-use1 to dc-paris" in out
    mapping = gtm.registry.get("billing")
    assert mapping is not None and mapping.active_site == "aws-use1"


async def test_evacuate_moves_every_service_with_one_summary(gtm: Runtime) -> None:
    api = f"http://127.0.0.1:{gtm.api_port}"
    code, out, err = await gtm_cli(
        "evacuate", "aws-use1", "--reason", "maintenance", "--hold", "0", "--api", api, token=TOKEN
    )
    assert code == 0, out + err
    assert out.splitlines()[-1] == "2 run(s): 2 done"
    for service in ("billing", "search"):
        mapping = gtm.registry.get(service)
        assert mapping is not None and mapping.active_site == "gcp-euw1"


async def test_dry_run_with_json_prints_the_preview_as_fields(gtm: Runtime) -> None:
    api = f"http://127.0.0.1:{gtm.api_port}"
    code, out, err = await gtm_cli(
        "failover", "billing", "--to", "dc-paris", "--reason", "look", "--dry-run", "--json",
        "--api", api, token=TOKEN,
    )  # fmt: skip
    assert code == 0, err
    run = json.loads(out)
    assert (run["service"], run["from_site"], run["to_site"]) == ("billing", "aws-use1", "dc-paris")
    preview = run["preview"]
    assert preview["steps"] == ["preflight", "switch", "verify", "hold"]
    assert preview["mapping"]["active_site"] == "dc-paris"
    current = gtm.registry.get("billing")
    assert current is not None and preview["mapping"]["epoch"] == current.epoch + 1
    assert preview["providers"] == [] and preview["replaces"] == []

    # failback takes the same path as failover; billing is on its first site already.
    for command in (["evacuate", "aws-use1"], ["drill", "billing"]):
        code, out, err = await gtm_cli(
            *command, "--reason", "look", "--dry-run", "--json", "--api", api, token=TOKEN
        )
        assert code == 0, err
        runs = json.loads(out)["runs"]
        assert runs and all(run["state"] == "done" for run in runs), (command, runs)
        for run in runs:
            assert run["preview"]["mapping"]["service"] == run["service"], command
            assert run["preview"]["mapping"]["active_site"] == "gcp-euw1", command
    mapping = gtm.registry.get("billing")
    assert mapping is not None and mapping.active_site == "aws-use1"
