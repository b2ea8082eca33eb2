"""The ``gtm`` command against a running gtm: what an operator types and reads."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from gtm.cli import main
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
    header, *rows = out.splitlines()
    assert header.split()[:4] == ["SERVICE", "ACTIVE", "EPOCH", "VERSION"]
    assert {row.split()[0]: row.split()[1] for row in rows} == {
        "billing": "aws-use1",
        "search": "aws-use1",
    }
    code, out, _ = await gtm_cli("resolve", "billing", "--api", api)
    assert code == 0
    assert out.startswith("billing -> 127.0.1.1:")


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
