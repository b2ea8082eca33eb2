"""gtm starts with every descriptor the system lets it have, once per process."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = textwrap.dedent(
    """
    import json, resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
    from gtm.runtime import describe_limit, raise_descriptor_limit
    first = raise_descriptor_limit()
    second = raise_descriptor_limit()
    print(json.dumps({"first": first, "second": second,
                      "now": resource.getrlimit(resource.RLIMIT_NOFILE)[0], "hard": hard,
                      "figure": describe_limit(first)}))
    """
)


def test_the_soft_descriptor_limit_is_raised_to_the_hard_one() -> None:
    child = subprocess.run(
        [sys.executable, "-c", CHILD],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    report = json.loads(child.stdout)
    hard = report["hard"]
    assert report["now"] == hard
    assert report["first"] == report["second"] == hard
    assert report["figure"] == ("unlimited" if hard == resource.RLIM_INFINITY else str(hard))
