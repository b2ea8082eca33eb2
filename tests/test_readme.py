"""The README's examples are true: its commands run, its reference matches the models."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from demo_process import BIN, DEMO_CONFIG, ROOT, DemoConfig, DemoProcess, reader_env

from gtm.config.reference import render_reference

README = (ROOT / "README.md").read_text()
DEMO_PORTS = re.compile(r"(?<![\d.])(\d{4,5})(?![\d.])")
"""A port number in a command: 4 or 5 digits, not part of an address or a longer number."""


def console_blocks() -> list[list[tuple[str, list[str]]]]:
    """Each ```console block as (command, expected output lines) pairs."""
    blocks = []
    for body in re.findall(r"```console\n(.*?)```", README, flags=re.S):
        steps: list[tuple[str, list[str]]] = []
        for line in body.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif steps and line.strip():
                steps[-1][1].append(line)
        blocks.append(steps)
    return blocks


def run(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run one README command the way a reader would, from the repository root."""
    return subprocess.run(
        ["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def retarget(command: str, ports: dict[int, int]) -> str:
    """``command`` with each of the demo config's ports replaced by the one this run uses."""
    return DEMO_PORTS.sub(lambda found: str(ports.get(int(found[1]), found[1])), command)


def test_retarget_replaces_ports_not_addresses() -> None:
    ports = {15353: 40001, 18080: 40002, 18081: 40003}
    assert retarget("dig @127.0.0.1 -p 15353 b A", ports) == "dig @127.0.0.1 -p 40001 b A"
    assert retarget("curl http://127.0.0.1:18080/v1", ports) == "curl http://127.0.0.1:40002/v1"
    assert retarget("curl 'http://127.0.2.1:18081/x?m=1'", ports) == (
        "curl 'http://127.0.2.1:40003/x?m=1'"
    )
    assert retarget("gtm pin b d --ttl 10m; sleep 2", ports) == "gtm pin b d --ttl 10m; sleep 2"


def test_config_reference_is_current() -> None:
    assert render_reference().rstrip("\n") in README, (
        "README's configuration reference is stale: run "
        "'.venv/bin/python -m gtm.config.reference --write README.md'"
    )


def test_config_check_example_prints_what_the_readme_says(tmp_path: Path) -> None:
    command, expected = console_blocks()[0][0]
    assert "config check" in command
    result = run(command.replace(".venv/bin/", ""), reader_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == expected


def test_example_config_is_valid(tmp_path: Path) -> None:
    result = run("gtm config check config/gtm.example.yaml", reader_env(tmp_path))
    assert result.returncode == 0, result.stderr


@pytest.fixture
def demo(demo_config: DemoConfig, start_demo: Callable[[DemoConfig], DemoProcess]) -> DemoProcess:
    """``gtm demo`` running in the background on ports this test chose, every service placed."""
    process = start_demo(demo_config)
    process.wait_serving()
    return process


def test_tour_commands_run_against_the_demo(
    demo: DemoProcess, demo_config: DemoConfig, tmp_path: Path
) -> None:
    # The README's commands name config/demo.yaml's ports; this demo listens on others.
    shipped = yaml.safe_load(DEMO_CONFIG.read_text())
    ports = demo_config.ports()
    ports[int(shipped["dns"]["listen"].rpartition(":")[2])] = demo.dns_port
    ports[int(shipped["api"]["listen"].rpartition(":")[2])] = int(demo.api.rpartition(":")[2])
    env = reader_env(tmp_path)
    env["GTM_API"] = demo.api  # what `gtm status` and friends reach without --api
    ran = 0
    for block in console_blocks()[1:]:
        for command, expected in block:
            if command.startswith("dig ") and shutil.which("dig") is None:
                continue  # make test installs dig; a bare pytest run may not have it
            if command.startswith("export "):
                name, _, value = command.removeprefix("export ").partition("=")
                env[name] = value.strip("\"'")
                continue
            result = run(retarget(command, ports), env)
            ran += 1
            assert result.returncode == 0, f"{command}: {result.stderr}"
            if command.startswith("dig ") and " A " in command:
                assert re.fullmatch(r"127\.0\.\d\.1", result.stdout.strip()), result.stdout
            if expected:
                assert result.stdout.splitlines() == expected, command
    assert ran > 0, "the README's tour has no commands"
    assert demo.process.poll() is None, demo.output()


def test_demo_scenario_plays_and_exits_zero(demo_config: DemoConfig, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "gtm"), "demo", "--scenario", "whack-a-mole", "-c", str(demo_config.path)],
        cwd=ROOT,
        env=reader_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "whack-a-mole done" in result.stdout
    assert result.stdout.count("DNS answers new site") == 2
    # A fresh registry every run: the story starts on billing's first site, at epoch 1,
    # and the store the config names is neither read nor written.
    assert "[start] billing -> aws-use1 (127.0.1.1), epoch 1, version 1" in result.stdout
    assert not demo_config.store.exists()
    assert not demo_config.store.parent.exists()
