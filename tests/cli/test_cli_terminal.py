"""Text others stored (reasons, why, outcomes) cannot steer an operator's terminal."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from gtm.cli import main
from gtm.cli.terminal import EscapingWriter, escape_controls


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("moved to aws-use1", "moved to aws-use1"),
        ("two\nlines\tand a tab", "two\nlines\tand a tab"),
        ("\x1b[2Jcleared", "\\x1b[2Jcleared"),
        ("bell\x07 and nul\x00", "bell\\x07 and nul\\x00"),
        ("carriage\rreturn", "carriage\\x0dreturn"),
        ("right-to-left \u202e override", "right-to-left \\u202e override"),
        ("café, 東京", "café, 東京"),
    ],
)
def test_control_characters_are_shown_as_escapes(text: str, shown: str) -> None:
    assert escape_controls(text) == shown


def test_the_writer_escapes_what_it_writes_and_reports_the_length_given() -> None:
    out = io.StringIO()
    writer = EscapingWriter(out)
    assert writer.write("a\x1b]0;owned\x07b\n") == len("a\x1b]0;owned\x07b\n")
    writer.flush()
    assert out.getvalue() == "a\\x1b]0;owned\\x07b\n"


def test_the_command_escapes_what_it_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "title\x1b]0;owned\x07.yaml"
    bad.write_text("not: [valid\n")

    assert main(["config", "check", str(bad)]) == 1

    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err
    assert "title\\x1b]0;owned\\x07.yaml" in err
