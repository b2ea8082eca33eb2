"""Fixtures for the configuration tests: configuration files written on the fly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    """Write YAML text to ``gtm.yaml`` in a temporary directory and return its path."""

    def write(text: str) -> Path:
        path = tmp_path / "gtm.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    return write
