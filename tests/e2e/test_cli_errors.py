"""The ``gtm`` command explains mistakes: one line that says what is wrong and what to do."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from gtm.cli import main
from gtm.cli.parser import REASON_HELP
from gtm.cli.parser import build_parser as _parser
from gtm.cli.render import describe_intent as _describe_intent
from gtm.cli.render import duration_text as _duration_text
from gtm.cli.render import run_line as _run_line
from gtm.client import GtmClient
from gtm.config.loader import check_config
from gtm.core.journal import EVENT_KINDS
from gtm.core.model import Intent, IntentKind
from gtm.core.runbook import Run, RunKind, RunState, Step
from gtm.demo.sites import SiteFleet
from gtm.runtime import Runtime
from testbed.ports import free_port

from .support import TOKEN, config_doc
from .test_cli import gtm_cli

REASONED = ("failover", "failback", "evacuate", "drill", "maintenance", "pin", "drain", "freeze")
"""Every command that asks why, with the positional arguments each needs."""
POSITIONAL = {
    "failover": ["billing"],
    "failback": ["billing"],
    "evacuate": ["aws-use1"],
    "drill": ["billing"],
    "maintenance": ["aws-use1", "--for", "2h"],
    "pin": ["billing", "dc-paris"],
    "drain": ["aws-use1"],
    "freeze": [],
}
HINT = (
    "start one with 'gtm run -c FILE' or 'make demo', or point at one with --api URL or GTM_API=URL"
)


def subcommands() -> dict[str, argparse.ArgumentParser]:
    """Every ``gtm`` subcommand's parser, by name."""
    parser = _parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("gtm has no subcommands")


def usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run ``gtm ARGV``, expecting a usage error; its stderr."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    assert exit_info.value.code == 2
    return capsys.readouterr().err


# -- arguments ------------------------------------------------------------------------


def test_an_unknown_log_level_is_a_usage_error_naming_the_levels(
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = usage_error(capsys, "run", "--log-level", "verbose")

    assert "argument --log-level: invalid choice: 'VERBOSE'" in err
    assert "'DEBUG', 'INFO', 'WARNING', 'ERROR'" in err
    assert "ValueError" not in err


@pytest.mark.parametrize("given", ["debug", "Warning", "ERROR"])
def test_log_levels_are_taken_in_any_case(given: str) -> None:
    assert _parser().parse_args(["run", "--log-level", given]).log_level == given.upper()


@pytest.mark.parametrize("command", REASONED)
@pytest.mark.parametrize("flag", ["--why", "--reason"])
def test_every_command_that_asks_why_takes_why_and_reason(command: str, flag: str) -> None:
    args = _parser().parse_args([command, *POSITIONAL[command], flag, "patch night"])

    assert args.reason == "patch night"


def test_the_reason_reads_the_same_everywhere() -> None:
    parsers = subcommands()
    for command in REASONED:
        (action,) = [a for a in parsers[command]._actions if a.dest == "reason"]
        assert (action.option_strings, action.help) == (["--reason", "--why"], REASON_HELP)


def test_a_bad_maintenance_length_names_for(capsys: pytest.CaptureFixture[str]) -> None:
    err = usage_error(capsys, "maintenance", "aws-use1", "--for", "2 hours", "--reason", "x")

    assert "argument --for: '2 hours' is not a duration; expected a number of seconds" in err
    assert "--ttl" not in err


def test_an_unknown_event_kind_lists_the_kinds(capsys: pytest.CaptureFixture[str]) -> None:
    err = usage_error(capsys, "events", "--kind", "bogus")

    listed = ", ".join(repr(kind) for kind in EVENT_KINDS)
    assert f"argument --kind: invalid choice: 'bogus' (choose from {listed})" in err


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["events", "--since", "yesterday"], "argument --since: 'yesterday' is not a moment"),
        (["events", "--until", "-5"], "argument --until: '-5' is not a moment"),
        (["events", "--limit", "0"], "argument --limit: '0' is not a whole number of at least 1"),
        (["failover", "billing", "--why", "x", "--hold", "2 s"], "argument --hold: '2 s'"),
    ],
)
def test_bad_values_are_usage_errors_naming_the_option(
    capsys: pytest.CaptureFixture[str], argv: list[str], complaint: str
) -> None:
    assert complaint in usage_error(capsys, *argv)


def test_since_takes_a_duration_ago_or_unix_seconds() -> None:
    args = _parser().parse_args(["events", "--since", "2h", "--until", "1700000000"])

    assert args.until == 1_700_000_000.0
    assert abs(args.since - (time.time() - 7200)) < 60


def test_every_command_and_option_explains_itself() -> None:
    for name, parser in subcommands().items():
        assert parser.description, f"gtm {name} has no description"
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help, f"gtm {name} {action.option_strings or action.dest} has no help"


@pytest.mark.parametrize("command", ["config", "config check"])
def test_config_help_lists_its_subcommand(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code = None
    try:
        code = main([*command.split()])
    except SystemExit as exit_info:
        code = int(exit_info.code or 0)
    assert code == 2
    assert "check" in capsys.readouterr().err


def test_the_state_is_not_said_twice() -> None:
    run = Run("r-1", RunKind.FAILOVER, "billing", "aws-use1", "gcp-euw1", "x", "ann", 0.0)
    refused = replace(
        run, state=RunState.REFUSED, outcome="refused: dc-paris has 0/1 locators up, 1 needed"
    )
    done = replace(run, state=RunState.DONE, outcome="billing moved to gcp-euw1")

    assert _run_line(refused) == "refused: dc-paris has 0/1 locators up, 1 needed"
    assert _run_line(done) == "done: billing moved to gcp-euw1"


@pytest.mark.parametrize(
    ("intent", "run", "expected"),
    [
        (Intent("i", IntentKind.PIN, "billing", "dc-paris"), None, "pin billing to dc-paris"),
        (
            Intent("i", IntentKind.PIN, "billing", "dc-paris", force=True),
            "r1",
            "pin billing to dc-paris (forced) (run r1)",
        ),
        (Intent("i", IntentKind.DRAIN, None, "aws-use1"), None, "drain aws-use1 for every service"),
        (Intent("i", IntentKind.FREEZE), None, "freeze every service"),
        (
            Intent("i", IntentKind.SHIFT, "billing", "gcp-euw1", share=30),
            "r1",
            "shift 30% of billing to gcp-euw1 (run r1)",
        ),
        (
            Intent("i", IntentKind.TTL, "billing", ttl=5),
            "r1",
            "cap the ttl of billing at 5s (run r1)",
        ),
    ],
)
def test_every_intent_kind_is_described_as_what_it_does(
    intent: Intent, run: str | None, expected: str
) -> None:
    assert _describe_intent(intent, run) == expected


def test_every_intent_kind_has_its_own_description() -> None:
    described = {
        kind: _describe_intent(Intent("i", kind, "billing", "gcp-euw1", share=30, ttl=5))
        for kind in IntentKind
    }
    assert all(
        text.startswith(kind.value) or kind is IntentKind.TTL for kind, text in described.items()
    )
    assert len(set(described.values())) == len(IntentKind)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(-1.0, "0s"), (45.9, "45s"), (192.0, "3m12s"), (7500.0, "2h05m"), (273600.0, "3d04h")],
)
def test_durations_read_as_people_say_them(seconds: float, expected: str) -> None:
    assert _duration_text(seconds) == expected


# -- no gtm running -------------------------------------------------------------------


def test_status_without_a_gtm_says_where_it_looked_and_what_to_do(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GTM_API", raising=False)
    url = f"http://127.0.0.1:{free_port('127.0.0.1')}"

    assert main(["status", "--api", url]) == 1

    err = capsys.readouterr().err
    assert err == f"gtm: no gtm answers at {url} (from --api; connection refused): {HINT}\n"


def test_a_watch_without_a_gtm_does_not_wait_in_silence(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GTM_API", raising=False)
    url = f"http://127.0.0.1:{free_port('127.0.0.1')}"

    assert main(["resolve", "billing", "--watch", "--api", url]) == 1

    assert capsys.readouterr().err.startswith(f"gtm: no gtm answers at {url} (from --api; ")


def test_the_address_from_gtm_api_is_named_as_such(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://127.0.0.1:{free_port('127.0.0.1')}"
    monkeypatch.setenv("GTM_API", url)

    assert main(["events"]) == 1

    err = capsys.readouterr().err
    assert err == f"gtm: no gtm answers at {url} (from GTM_API; connection refused): {HINT}\n"


def test_the_address_from_a_config_is_named_with_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GTM_API", "http://127.0.0.1:1")  # a config on the command line wins
    port = free_port("127.0.0.1")
    doc = config_doc(tmp_path, {"billing": free_port("127.0.0.1")})
    doc["api"]["listen"] = f"127.0.0.1:{port}"
    path = tmp_path / "gtm.yaml"
    path.write_text(yaml.safe_dump(doc))

    assert main(["resolve", "billing", "-c", str(path)]) == 1

    err = capsys.readouterr().err
    assert err.startswith(
        f"gtm: no gtm answers at http://127.0.0.1:{port} (the api.listen of {path}; "
        "connection refused): "
    )
    assert "ssl:default" not in err and len(err.splitlines()) == 1


# -- config check --secrets -----------------------------------------------------------

HAS_SECRETS = "secrets" in inspect.signature(check_config).parameters


@pytest.mark.skipif(not HAS_SECRETS, reason="check_config does not resolve secrets yet")
def test_config_check_with_secrets_reports_a_missing_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GTM_TEST_ABSENT_TOKEN", raising=False)
    doc = config_doc(tmp_path, {"billing": free_port("127.0.0.1")})
    doc["api"]["token"] = "env:GTM_TEST_ABSENT_TOKEN"
    path = tmp_path / "gtm.yaml"
    path.write_text(yaml.safe_dump(doc))

    assert main(["config", "check", str(path)]) == 0
    capsys.readouterr()
    assert main(["config", "check", "--secrets", str(path)]) == 1
    assert "GTM_TEST_ABSENT_TOKEN" in capsys.readouterr().err


def test_config_check_passes_secrets_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[dict[str, Any]] = []

    def check(path: str, **options: Any) -> list[str]:
        asked.append(options)
        return ["config: api.token: environment variable GTM_X is not set"]

    monkeypatch.setattr("gtm.config.loader.check_config", check)

    assert main(["config", "check", "--secrets", str(tmp_path / "gtm.yaml")]) == 1
    assert main(["config", "check", str(tmp_path / "gtm.yaml")]) == 1
    assert asked == [{"secrets": True}, {"secrets": False}]
    assert "GTM_X is not set" in capsys.readouterr().err


# -- tokens ---------------------------------------------------------------------------

SCOPED = {
    "viewer": ("GTM_TEST_VIEWER", "read", "viewer-s3cret"),
    "ops": ("GTM_TEST_OPS", "operate", "ops-s3cret"),
}


@pytest.fixture
async def scoped_gtm(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    make_runtime: Callable[[dict[str, Any]], Runtime],
) -> Runtime:
    """A gtm with a read token and an operate token, and no sites answering."""
    for env, _, secret in SCOPED.values():
        monkeypatch.setenv(env, secret)
    doc = config_doc(tmp_path, {"billing": free_port("127.0.1.1")})
    doc["api"] = {
        "listen": "127.0.0.1:0",
        "tokens": {
            name: {"secret": f"env:{env}", "scope": scope}
            for name, (env, scope, _) in SCOPED.items()
        },
    }
    runtime = make_runtime(doc)
    await runtime.start()
    return runtime


async def test_a_missing_token_says_to_pass_one_and_which_scope(scoped_gtm: Runtime) -> None:
    api = f"http://127.0.0.1:{scoped_gtm.api_port}"

    code, _, err = await gtm_cli("drain", "aws-use1", "--why", "x", "--api", api)

    assert code == 1
    assert err == (
        "gtm: gtm drain needs a token of scope operate: pass --token TOKEN or set GTM_TOKEN "
        "(tokens are the api.tokens of the gtm config)\n"
    )
    assert "Authorization" not in err


async def test_a_weak_token_is_told_the_scope_needed(scoped_gtm: Runtime) -> None:
    api = f"http://127.0.0.1:{scoped_gtm.api_port}"
    viewer, ops = SCOPED["viewer"][2], SCOPED["ops"][2]

    code, _, err = await gtm_cli("freeze", "--why", "x", "--api", api, "--token", viewer)
    assert code == 1
    assert err == (
        "gtm: gtm freeze needs a token of scope operate; token 'viewer' has scope read: "
        "pass one of scope operate with --token or GTM_TOKEN\n"
    )

    code, _, err = await gtm_cli(
        "pin", "billing", "dc-paris", "--force", "--why", "x", "--api", api, token=ops
    )
    assert code == 1
    assert err == (
        "gtm: gtm pin --force needs a token of scope admin; token 'ops' has scope operate: "
        "pass one of scope admin with --token or GTM_TOKEN\n"
    )


async def test_an_unknown_token_is_told_apart_from_a_missing_one(scoped_gtm: Runtime) -> None:
    api = f"http://127.0.0.1:{scoped_gtm.api_port}"

    code, _, err = await gtm_cli("intents", "--delete", "i-1", "--api", api, token="guessed")
    assert code == 1
    assert err.endswith("; gtm intents --delete needs a token of scope operate\n")
    code, _, err = await gtm_cli("freeze", "--why", "x", "--api", api, token="guessed")
    assert code == 1
    assert err == (
        f"gtm: the token given (--token or GTM_TOKEN) is not one of the api.tokens of the gtm "
        f"at {api}; gtm freeze needs a token of scope operate\n"
    )
    assert "guessed" not in err


# -- runs -----------------------------------------------------------------------------


async def test_a_refusal_says_refused_once(gtm: Runtime, fleet: SiteFleet) -> None:
    api = f"http://127.0.0.1:{gtm.api_port}"
    fleet["dc-paris"].set_mode("down")

    code, out, err = await gtm_cli(
        "failover", "billing", "--to", "dc-paris", "--why", "x", "--api", api, token=TOKEN
    )

    assert code == 1, out + err
    assert out.splitlines()[-1].startswith("refused: dc-paris ")
    assert "refused: refused" not in out


async def test_an_abort_that_rolls_back_succeeds(gtm: Runtime) -> None:
    api = f"http://127.0.0.1:{gtm.api_port}"
    moving = asyncio.ensure_future(
        gtm_cli(
            "failover",
            "billing",
            "--to",
            "gcp-euw1",
            "--why",
            "x",
            "--drain",
            "20s",
            "--hold",
            "0",
            "--api",
            api,
            token=TOKEN,
        )
    )
    try:
        async with GtmClient(api) as client:
            for _ in range(500):
                runs = [r for r in await client.runs() if r.state is RunState.RUNNING]
                if runs and any(step.step is Step.DRAIN for step in runs[0].steps):
                    break
                await asyncio.sleep(0.02)
            else:
                pytest.fail("the failover never started draining")

        code, out, err = await gtm_cli("failover", "billing", "--abort", "--api", api, token=TOKEN)

        assert code == 0, out + err
        assert out.splitlines()[-1].startswith("rolled-back: rolled back (aborted")
        code, out, _ = await moving
        assert code == 1  # the move itself did not happen
    finally:
        if not moving.done():
            moving.cancel()
    mapping = gtm.registry.get("billing")
    assert mapping is not None and mapping.active_site == "aws-use1"


async def test_an_abort_with_nothing_running_says_so(gtm: Runtime) -> None:
    api = f"http://127.0.0.1:{gtm.api_port}"

    code, _, err = await gtm_cli("failover", "billing", "--abort", "--api", api, token=TOKEN)

    assert (code, err) == (1, "gtm: no running move of billing to abort\n")


async def test_runs_id_shows_one_run_step_by_step(gtm: Runtime) -> None:
    api = f"http://127.0.0.1:{gtm.api_port}"
    code, out, err = await gtm_cli(
        "failover",
        "billing",
        "--to",
        "gcp-euw1",
        "--why",
        "patch",
        "--hold",
        "0",
        "--api",
        api,
        token=TOKEN,
    )
    assert code == 0, out + err
    code, out, _ = await gtm_cli("runs", "--json", "--api", api)
    (run,) = json.loads(out)["runs"]

    code, out, err = await gtm_cli("runs", run["id"], "--api", api)

    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"run {run['id']}: failover of billing aws-use1 -> gcp-euw1"
    assert lines[1].endswith(": patch")
    assert lines[2].split()[:3] == ["STEP", "RESULT", "SECONDS"]
    assert [line.split()[:2] for line in lines[3:-1]] == [
        [step["step"], "ok"] for step in run["steps"]
    ]
    assert lines[-1] == "done: billing moved to gcp-euw1"
    code, out, _ = await gtm_cli("runs", run["id"], "--json", "--api", api)
    assert code == 0 and json.loads(out)["id"] == run["id"]
    code, _, err = await gtm_cli("runs", "r-none", "--api", api)
    assert code == 1 and "r-none" in err
