"""The README's examples are true: its commands run, its reference matches the models."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gtm.config.reference import render_reference

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BIN = Path(sys.executable).parent


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


def reader_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a reader who ran ``make``: the venv's tools on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("GTM_API", None)
    env["GTM_TOKEN"] = "demo-token"
    env["HOME"] = str(tmp_path)
    return env


def demo_config(tmp_path: Path) -> Path:
    """The demo config with its store in a temporary folder (same ports as the README)."""
    doc = yaml.safe_load((ROOT / "config/demo.yaml").read_text())
    doc["store"]["path"] = str(tmp_path / "demo.db")
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


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
def demo(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """``gtm demo`` running in the background, as in the tour; stopped by PID afterwards."""
    process = subprocess.Popen(
        [str(BIN / "gtm"), "demo", "-c", str(demo_config(tmp_path))],
        cwd=ROOT,
        env=reader_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                with urllib.request.urlopen("http://127.0.0.1:18080/v1/services", timeout=1) as a:
                    if a.read().count(b'"active_site": "') >= 3:
                        break
            except OSError:
                pass
            time.sleep(0.1)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_tour_commands_run_against_the_demo(demo: subprocess.Popen[str], tmp_path: Path) -> None:
    env = reader_env(tmp_path)
    for block in console_blocks()[1:]:
        for command, expected in block:
            if command.startswith("dig ") and shutil.which("dig") is None:
                continue  # make test installs dig; a bare pytest run may not have it
            if command.startswith("export "):
                name, _, value = command.removeprefix("export ").partition("=")
                env[name] = value.strip("\"'")
                continue
            result = run(command, env)
            assert result.returncode == 0, f"{command}: {result.stderr}"
            if command.startswith("dig ") and " A " in command:
                assert re.fullmatch(r"127\.0\.\d\.1", result.stdout.strip()), result.stdout
            if expected:
                assert result.stdout.splitlines() == expected, command
    assert demo.poll() is None


def test_demo_scenario_plays_and_exits_zero(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "gtm"), "demo", "--scenario", "whack-a-mole", "-c", str(demo_config(tmp_path))],
        cwd=ROOT,
        env=reader_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "whack-a-mole done" in result.stdout
    assert result.stdout.count("DNS answers new site") == 2
