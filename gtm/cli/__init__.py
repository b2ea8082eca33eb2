"""The ``gtm`` command: thin wrappers that parse arguments, load config and call the parts.

Commands that read or change a running gtm (status, resolve, pin, drain, freeze, intents,
events, runs) talk to its sidecar API through :class:`gtm.client.GtmClient`, so they work
the same against a local or a remote gtm. The package holds the argument tree
(``parser``), one module per family of commands, the rendering of typed values as text
(``render``) and the translation of client errors into one-line messages (``errors``).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import TextIO, cast

from gtm.cli.parser import Handler, build_parser
from gtm.cli.terminal import EscapingWriter
from gtm.errors import ConfigError, GtmError


def main(argv: list[str] | None = None) -> int:
    """Run the ``gtm`` command; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    handler: Handler = args.func
    out = cast(TextIO, EscapingWriter(sys.stdout))
    err = cast(TextIO, EscapingWriter(sys.stderr))
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        return _handle(handler, args)


def _handle(handler: Handler, args: argparse.Namespace) -> int:
    try:
        return handler(args)
    except ConfigError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return 1
    except GtmError as exc:
        print(f"gtm: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
