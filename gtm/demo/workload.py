"""A simulated site: one small HTTP process serving the replicas of several services.

Demos, tests and benchmarks start one of these per site and then kill it, or tell it to
answer ``/health`` with 503, to fail a random share of probes, to answer slowly (an
overloaded site, for bursting), to hang, or to drop the probes of some vantages (by their
source address), so that gtm is exercised against real sockets and real processes rather
than mocks. Every answer names the release the site runs (header ``X-Release``, and
``release`` in the JSON of ``/``), which an operator changes at runtime as a deployment
would.

Run as ``python -m gtm.demo.workload --site aws-use1 --address 127.0.1.1 billing=18081``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
from dataclasses import dataclass, field

from aiohttp import web

MODES = ("up", "down", "flaky", "hang", "slow")
RELEASE_HEADER = "X-Release"
"""The header every answer carries the site's release in."""
DEFAULT_RELEASE = "2.4.0"
"""The release a site runs unless told otherwise."""


@dataclass(slots=True)
class Health:
    """How this site answers ``/health`` right now; shared by all its listeners."""

    mode: str = "up"
    fail_ratio: float = 0.2
    delay: float = 0.4
    """Seconds ``/health`` takes to answer in mode ``slow``."""
    rng: random.Random = field(default_factory=random.Random)
    probes: int = 0
    failed: int = 0
    release: str = DEFAULT_RELEASE
    refused: frozenset[str] = frozenset()
    """Peer addresses whose probes are cut off: the connection is dropped unanswered, as
    when the network path from one vantage to this site is broken."""

    def set(
        self, mode: str, fail_ratio: float | None, seed: int | None, delay: float | None = None
    ) -> None:
        """Switch mode; a seed makes the flaky pattern repeatable."""
        if mode not in MODES:
            raise ValueError(f"workload: mode {mode!r} is not one of {', '.join(MODES)}")
        self.mode = mode
        if fail_ratio is not None:
            self.fail_ratio = fail_ratio
        if seed is not None:
            self.rng = random.Random(seed)
        if delay is not None:
            self.delay = delay
        self.probes = self.failed = 0


def make_app(site: str, service: str, health: Health) -> web.Application:
    """The HTTP app of one replica: ``/`` says who answered (``?wait=S`` after S seconds),
    ``/health`` obeys the mode."""

    async def index(request: web.Request) -> web.Response:
        # ``?wait=SECONDS`` holds the answer: a long request, as a load balancer counts it.
        wait = request.query.get("wait")
        if wait is not None:
            try:
                await asyncio.sleep(min(float(wait), 60.0))
            except ValueError:
                return web.json_response({"error": f"wait={wait!r} is not seconds"}, status=400)
        return web.json_response({"site": site, "service": service, "release": health.release})

    async def check(request: web.Request) -> web.Response:
        if request.remote in health.refused:
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=503, text="cut off\n")
        health.probes += 1
        released = {RELEASE_HEADER: health.release}
        if health.mode == "hang":
            await asyncio.sleep(3600)
        if health.mode == "slow":
            await asyncio.sleep(health.delay)
        failing = health.mode == "down" or (
            health.mode == "flaky" and health.rng.random() < health.fail_ratio
        )
        if failing:
            health.failed += 1
            return web.Response(status=503, text="unhealthy\n", headers=released)
        return web.Response(text="ok\n", headers=released)

    async def control(request: web.Request) -> web.Response:
        query = request.query
        try:
            health.set(
                query.get("m", "up"),
                float(query["p"]) if "p" in query else None,
                int(query["seed"]) if "seed" in query else None,
                float(query["d"]) if "d" in query else None,
            )
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"site": site, "mode": health.mode})

    async def deploy(request: web.Request) -> web.Response:
        release = request.query.get("r", "").strip()
        if not release:
            return web.json_response(
                {"error": "workload: give the release as ?r=2.4.1"}, status=400
            )
        health.release = release
        return web.json_response({"site": site, "release": health.release})

    async def refuse(request: web.Request) -> web.Response:
        addresses = request.query.get("from", "")
        health.refused = frozenset(a for a in addresses.split(",") if a)
        return web.json_response({"site": site, "refused": sorted(health.refused)})

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response(
            {
                "site": site,
                "mode": health.mode,
                "probes": health.probes,
                "failed": health.failed,
                "release": health.release,
            }
        )

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/health", check)
    app.router.add_post("/_ctl/mode", control)
    app.router.add_post("/_ctl/release", deploy)
    app.router.add_post("/_ctl/refuse", refuse)
    app.router.add_get("/_ctl/stats", stats)
    return app


async def serve(
    site: str, address: str, ports: dict[str, int], release: str = DEFAULT_RELEASE
) -> None:
    """Serve every service's replica of ``site``, running ``release``, until SIGTERM or SIGINT."""
    health = Health(release=release)
    runners: list[web.AppRunner] = []
    for service, port in ports.items():
        runner = web.AppRunner(make_app(site, service, health), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, address, port, reuse_address=True).start()
        runners.append(runner)
    print(json.dumps({"site": site, "address": address, "ports": ports}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for runner in runners:
        with contextlib.suppress(Exception):
            await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    """Parse ``--site``, ``--address`` and ``SERVICE=PORT`` pairs, then serve."""
    parser = argparse.ArgumentParser(description="A simulated site serving service replicas.")
    parser.add_argument("--site", required=True, help="site name, e.g. aws-use1")
    parser.add_argument("--address", required=True, help="loopback address, e.g. 127.0.1.1")
    parser.add_argument(
        "--release", default=DEFAULT_RELEASE, help=f"release it runs (default {DEFAULT_RELEASE})"
    )
    parser.add_argument("services", nargs="+", metavar="SERVICE=PORT")
    args = parser.parse_args(argv)
    ports: dict[str, int] = {}
    for item in args.services:
        name, _, port = item.partition("=")
        if not port.isdigit():
            parser.error(f"{item!r}: expected SERVICE=PORT, e.g. billing=18081")
        ports[name] = int(port)
    try:
        asyncio.run(serve(args.site, args.address, ports, args.release))
    except OSError as exc:  # a port taken: one line for whoever started the site
        raise SystemExit(f"workload {args.site}: {exc}") from None


if __name__ == "__main__":
    main()
