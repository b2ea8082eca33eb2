"""What went wrong talking to a gtm, said in the command line's terms: one line, what to do.

The client raises gtm's exceptions with the details kept (the address tried, the scope a
change needs, the token's scope); these turn them into messages that name the flag or
variable to change.
"""

from __future__ import annotations

import argparse

from gtm.errors import ApiUnreachable, Unauthorized


def unreachable_hint(exc: ApiUnreachable, source: str) -> str:
    """No gtm answers at the address: where it came from, and how to start or name one."""
    return (
        f"no gtm answers at {exc.url} ({source}; {exc.reason}): start one with "
        "'gtm run -c FILE' or 'make demo', or point at one with --api URL or GTM_API=URL"
    )


def token_hint(args: argparse.Namespace, url: str, exc: Unauthorized) -> str:
    """What to do about a refused token, in terms of ``--token`` and ``GTM_TOKEN``."""
    flags = [flag for flag in ("abort", "delete", "force") if getattr(args, flag, None)]
    what = " ".join(["gtm", args.command, *(f"--{flag}" for flag in flags)])
    needed = exc.needed or "operate"
    if exc.code == "read_only":
        return (
            f"the gtm at {url} is read-only: its config has no api.tokens; add a token of "
            f"scope {needed} there to allow {what}"
        )
    if exc.code == "insufficient_scope":
        return (
            f"{what} needs a token of scope {needed}; token {exc.token!r} has scope "
            f"{exc.scope}: pass one of scope {needed} with --token or GTM_TOKEN"
        )
    if exc.code == "forbidden":
        return (
            f"the token given (--token or GTM_TOKEN) is not one of the api.tokens of the gtm "
            f"at {url}; {what} needs a token of scope {needed}"
        )
    return (
        f"{what} needs a token of scope {needed}: pass --token TOKEN or set GTM_TOKEN "
        "(tokens are the api.tokens of the gtm config)"
    )
