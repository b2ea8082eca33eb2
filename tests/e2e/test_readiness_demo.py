"""``gtm demo --scenario release`` plays as the README tells it, and exits 0."""

from __future__ import annotations

import subprocess
from pathlib import Path

from demo_process import BIN, ROOT, DemoConfig, reader_env


def test_release_scenario_refuses_then_avoids_the_older_release(
    demo_config: DemoConfig, tmp_path: Path
) -> None:
    result = subprocess.run(
        [str(BIN / "gtm"), "demo", "--scenario", "release", "-c", str(demo_config.path)],
        cwd=ROOT,
        env=reader_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "release drift (strict): aws-use1 2.4.0 (active), gcp-euw1 2.3.0, dc-paris 2.4.0" in out
    both = "gcp-euw1 runs release 2.3.0, the active site aws-use1 runs release 2.4.0"
    assert (
        f"dry run refused: runbook: run of billing to gcp-euw1 refused: readiness strict: {both}"
        in out
    )
    assert (
        f"  run refused: runbook: run of billing to gcp-euw1 refused: readiness strict: {both}"
        in out
    )
    assert "DNS now answers 127.0.3.1 (dc-paris)" in out
    assert "billing skipped gcp-euw1 (2.3.0) for dc-paris (2.4.0)" in out
    assert "release 2.4.0 everywhere" in out
    assert "[end] billing -> gcp-euw1 (127.0.2.1), epoch 3" in out
    assert not demo_config.store.exists()
