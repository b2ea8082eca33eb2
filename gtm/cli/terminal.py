"""Output an operator's terminal can trust: text stored by others cannot steer it.

Reasons, intents' ``why`` and run outcomes come from whoever wrote them; an escape sequence
in one could rewrite the screen, hide a line or retitle the window. Every control
character except newline and tab is shown as a visible escape instead.
"""

from __future__ import annotations

import unicodedata
from typing import TextIO

KEPT = frozenset("\n\t")


def escape_controls(text: str) -> str:
    r"""``text`` with each control or format character shown as ``\xNN`` or ``\uNNNN``."""
    # Both tests run in C: a log line ends in a newline, which ``isprintable`` refuses,
    # and looking at it one character at a time cost more than the rest of the logging.
    if text.isprintable() or text.replace("\n", "").replace("\t", "").isprintable():
        return text
    return "".join(
        c if c in KEPT or unicodedata.category(c)[0] != "C" else _visible(c) for c in text
    )


def _visible(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


class EscapingWriter:
    """A text stream that writes to ``out`` with control characters escaped.

    Args:
        out: The stream written to (the real standard output).
    """

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def write(self, text: str) -> int:
        """Write ``text``, escaped; returns its length as given."""
        self._out.write(escape_controls(text))
        return len(text)

    def flush(self) -> None:
        """Flush the underlying stream."""
        self._out.flush()

    def __getattr__(self, name: str) -> object:
        return getattr(self._out, name)
