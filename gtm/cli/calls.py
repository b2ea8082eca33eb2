"""How a command reaches the API: which address, which token, and errors in CLI terms."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import TypeVar

from gtm.cli.errors import token_hint, unreachable_hint
from gtm.client import GtmClient
from gtm.errors import ApiUnreachable, GtmError, Unauthorized

T = TypeVar("T")

DEFAULT_API = "http://127.0.0.1:18080"


def api_url(args: argparse.Namespace) -> tuple[str, str]:
    """The API's base URL, and where it was taken from (for messages).

    An address given on the command line (``--api``, or ``-c FILE``) beats ``$GTM_API``.
    """
    if args.api:
        return str(args.api), "from --api"
    if args.config:
        from gtm.config.loader import load_config

        listen = load_config(args.config).api.listen
        host = f"[{listen.host}]" if ":" in listen.host else listen.host
        return f"http://{host}:{listen.port}", f"the api.listen of {args.config}"
    if os.environ.get("GTM_API"):
        return os.environ["GTM_API"], "from GTM_API"
    return DEFAULT_API, "the default address"


def call(args: argparse.Namespace, action: Callable[[GtmClient], Awaitable[T]]) -> T:
    """Run ``action`` with a client of the API; its refusals are explained in CLI terms."""
    token = getattr(args, "token", None)
    url, source = api_url(args)

    async def run() -> T:
        async with GtmClient(url, token=token) as client:
            return await action(client)

    try:
        return asyncio.run(run())
    except ApiUnreachable as exc:
        raise GtmError(unreachable_hint(exc, source)) from exc
    except Unauthorized as exc:
        raise GtmError(token_hint(args, url, exc)) from exc
