"""What the runnable examples share: arguments, waiting for convergence, a clean stop on Ctrl-C.

Each example under ``examples/`` brings its own systems (BIND and HAProxy, or a local AWS);
this module keeps the plumbing around them in one place.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

from gtm.runtime import Runtime


async def wait_converged(
    runtime: Runtime, following: Callable[[str, str], Awaitable[object]], timeout: float
) -> None:
    """Wait until gtm decided every service's active site and ``following`` saw it served.

    Args:
        runtime: The running gtm.
        following: Waits until the example's systems serve ``(service, site)``.
        timeout: Longest wait for gtm's decisions.
    """
    async with asyncio.timeout(timeout):
        while any(
            (m := runtime.registry.get(s)) is None or m.active_site is None
            for s in runtime.config.services
        ):
            await asyncio.sleep(0.05)
    for service in runtime.config.services:
        mapping = runtime.registry.get(service)
        assert mapping is not None and mapping.active_site is not None
        await following(service, mapping.active_site)


def run_example(
    run: Callable[[argparse.Namespace], Awaitable[int]],
    description: str,
    workdir: Path,
    stopped: str,
) -> int:
    """Parse the examples' common arguments and run ``run`` until done or Ctrl-C/SIGTERM.

    Args:
        run: The example; returns the exit code.
        description: ``--help``'s first line.
        workdir: The default scratch directory.
        stopped: What to print after a stop by signal.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--scenario", action="store_true", help="kill billing's site, show the move, exit"
    )
    parser.add_argument(
        "--free-ports", action="store_true", help="use free ports instead of gtm.yaml's"
    )
    parser.add_argument("--workdir", default=str(workdir), help="scratch directory (emptied first)")
    args = parser.parse_args()

    async def main() -> int:
        task = asyncio.current_task()
        assert task is not None
        signalled = asyncio.Event()

        def stop() -> None:
            signalled.set()
            task.cancel()

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
        try:
            return await run(args)
        except asyncio.CancelledError:
            if not signalled.is_set():
                raise
            print(f"\n{stopped}")
            return 130 if args.scenario else 0

    return asyncio.run(main())
