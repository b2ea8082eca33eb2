"""How long does a planned move take, and does any request fail while it runs?

gtm runs as its own process, pinned to one core, with a real HAProxy and a real BIND as
providers in front of three simulated sites. A steady client sends requests back to back
through HAProxy's frontend, each on a fresh connection, while the service is moved to its
next site by a run (POST /v1/runs), once with no drain and once with a drain ramp; each
repeated. For every run: the duration of each step and the total (from the run document),
the requests that failed during the move (target: 0), and when gtm's own DNS, BIND and
HAProxy first served the new site (the run's ``served``), counted from the start of the
switch. BIND is also polled from outside every 10 ms. Prints one JSON line.

    .venv/bin/python benchmarks/planned.py [--trials 5] [--drain 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    SITES,
    ZONE,
    GtmProcess,
    bench_config,
    fleet,
    percentile,
    pin_self,
    site_ports,
)

from gtm.demo.scenario import dns_addresses
from gtm.providers.haproxy_settings import parse_servers_state
from testbed.bind import BindServer
from testbed.haproxy import HaproxyServer, find_haproxy

SERVICE = "app"
TOKEN_ENV, TOKEN = "GTM_BENCH_TOKEN", "bench-planned-token"
TSIG_ENV = "GTM_BENCH_TSIG"
HOLD = 1.0
CHECK = {"type": "http", "path": "/health", "interval": "500ms", "timeout": "250ms"}


@dataclass
class Client:
    """Requests back to back through the frontend: (sent, answered, ok, site) of each."""

    port: int
    answers: list[tuple[float, float, bool, str | None]] = field(default_factory=list)
    running: bool = True

    async def run(self) -> None:
        """Send until ``running`` is cleared."""
        url = f"http://127.0.0.1:{self.port}/"
        connector = aiohttp.TCPConnector(force_close=True)
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            while self.running:
                sent = time.time()
                try:
                    async with session.get(url) as answer:
                        body = await answer.read()
                        ok = answer.status == 200
                        site = json.loads(body)["site"] if ok else None
                except (aiohttp.ClientError, TimeoutError, ValueError, KeyError):
                    ok, site = False, None
                self.answers.append((sent, time.time(), ok, site))

    def between(self, start: float, end: float) -> list[tuple[float, float, bool, str | None]]:
        """The requests sent at or after ``start`` and answered by ``end``."""
        return [a for a in self.answers if a[0] >= start and a[1] <= end]


def haproxy_weights(haproxy: HaproxyServer) -> dict[str, int]:
    """Each server's weight in the service's backend (0 when not ready)."""
    text = haproxy.command(f"show servers state {SERVICE}")
    return {s.server: s.weight if s.state == "ready" else 0 for s in parse_servers_state(text)}


async def steady(gtm: GtmProcess, haproxy: HaproxyServer, bind: BindServer) -> str:
    """Wait until every locator is up and gtm, HAProxy and BIND agree; the active site."""
    name = f"{SERVICE}.{ZONE}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        mapping = gtm.get(f"/v1/services/{SERVICE}")
        active = mapping["active_site"]
        if active and {loc["state"] for loc in mapping["locators"]} == {"up"}:
            weights = await asyncio.to_thread(haproxy_weights, haproxy)
            want = {site: 100 if site == active else 0 for site in SITES}
            if weights == want and await dns_addresses(bind.address, bind.port, name) == {
                SITES[active]
            }:
                return str(active)
        await asyncio.sleep(0.05)
    raise TimeoutError("gtm, HAProxy and BIND never agreed on the active site")


async def move(
    http: aiohttp.ClientSession, gtm: GtmProcess, bind: BindServer, drain: float
) -> dict[str, Any]:
    """One run to the next site; the run document once it ended, and BIND seen from outside."""
    body = {"service": SERVICE, "reason": "benchmark", "drain": drain, "hold": HOLD}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with http.post(f"{gtm.api}/v1/runs", json=body, headers=headers) as answer:
        run: dict[str, Any] = await answer.json()
        if answer.status != 201:
            raise RuntimeError(f"POST /v1/runs: {answer.status} {run}")
    new = SITES[run["to_site"]]
    bind_seen: list[float] = []

    async def watch_bind() -> None:
        while True:
            if await dns_addresses(bind.address, bind.port, f"{SERVICE}.{ZONE}") == {new}:
                bind_seen.append(time.time())
                return
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch_bind())
    deadline = time.monotonic() + 120
    try:
        while run["state"] == "running":
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run['id']} did not end: {run}")
            url = f"{gtm.api}/v1/runs/{run['id']}?revision={run['revision']}&wait=10"
            async with http.get(url) as answer:
                run = await answer.json()
        await asyncio.wait_for(asyncio.shield(watcher), timeout=10)
    finally:
        watcher.cancel()
    run["bind_polled_at"] = bind_seen[0] if bind_seen else None
    return run


def figures(run: dict[str, Any], client: Client, started: float) -> dict[str, Any]:
    """Step durations, total, failed requests and serve times of one finished run."""
    if run["state"] != "done":
        raise RuntimeError(f"run ended {run['state']}: {run['outcome']}")
    steps = {s["step"]: s for s in run["steps"]}
    switch = steps["switch"]["started_at"]
    ended = run["steps"][-1]["finished_at"]
    window = client.between(started, ended)
    after = [a for a in client.answers if a[0] >= steps["switch"]["finished_at"] and a[1] <= ended]
    result = {
        "steps": {name: s["seconds"] for name, s in steps.items()},
        "total": ended - run["steps"][0]["started_at"],
        "requests": len(window),
        "failed": sum(1 for a in window if not a[2]),
        "old_site_after_switch": sum(1 for a in after if a[3] == run["from_site"]),
        "served": {name: at - switch for name, at in run["served"].items()},
    }
    if run.get("bind_polled_at") is not None:
        result["served"]["bind_polled"] = run["bind_polled_at"] - switch
    return result


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians and maxima over the runs of one mode."""

    def stat(values: list[float]) -> dict[str, float]:
        return {"p50": round(percentile(values, 50), 3), "max": round(max(values), 3)}

    step_names = list(results[0]["steps"])
    served_names = sorted({name for r in results for name in r["served"]})
    return {
        "runs": len(results),
        "total_s": stat([r["total"] for r in results]),
        "steps_s": {n: stat([r["steps"][n] for r in results]) for n in step_names},
        "served_after_switch_start_s": {
            n: stat([r["served"][n] for r in results if n in r["served"]]) for n in served_names
        },
        "requests": sum(r["requests"] for r in results),
        "failed_requests": sum(r["failed"] for r in results),
        "old_site_answers_after_switch": sum(r["old_site_after_switch"] for r in results),
    }


async def measure(trials: int, drain: float) -> dict[str, Any]:
    """Start everything, run ``trials`` moves per mode, stop everything (by pid)."""
    haproxy_binary = find_haproxy()
    if haproxy_binary is None:
        raise RuntimeError("haproxy is not installed (Debian package haproxy)")
    with tempfile.TemporaryDirectory(prefix="gtm-planned-") as work:
        return await measure_in(Path(work), haproxy_binary, trials, drain)


async def measure_in(work: Path, haproxy_binary: str, trials: int, drain: float) -> dict[str, Any]:
    """:func:`measure` with its files in ``work``."""
    [port] = site_ports(1)
    sites = fleet({SERVICE: port})
    bind = BindServer(work / "bind", ZONE)
    haproxy = HaproxyServer(
        work / "haproxy",
        {SERVICE: [(site, address, port) for site, address in SITES.items()]},
        stats_socket="tcp",
        executable=haproxy_binary,
    )
    gtm: GtmProcess | None = None
    client: Client | None = None
    sender: asyncio.Task[None] | None = None
    modes = {"no_drain": 0.0, f"drain_{drain:g}s": drain}
    results: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    try:
        sites.start()
        bind.start()
        haproxy.start()
        # gtm reads its secrets from the environment it inherits.
        os.environ[TOKEN_ENV] = TOKEN
        os.environ[TSIG_ENV] = bind.key_secret
        config = bench_config({SERVICE: port}, check=CHECK)
        config["api"]["token"] = f"env:{TOKEN_ENV}"
        config["providers"] = {
            "lb": {"type": "haproxy", "socket": haproxy.socket},
            "bind": {
                "type": "rfc2136",
                "server": f"{bind.address}:{bind.port}",
                "tsig": {"name": bind.key_name, "secret": f"env:{TSIG_ENV}"},
            },
        }
        gtm = GtmProcess(config)
        gtm.start()
        await steady(gtm, haproxy, bind)
        client = Client(haproxy.frontend_port(SERVICE))
        sender = asyncio.create_task(client.run())
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            for mode, seconds in modes.items():
                for number in range(trials):
                    await steady(gtm, haproxy, bind)
                    started = time.time()
                    run = await move(http, gtm, bind, seconds)
                    outcome = figures(run, client, started)
                    results[mode].append(outcome)
                    print(
                        f"{mode} #{number + 1}: {run['from_site']} -> {run['to_site']} "
                        f"total {outcome['total']:.3f} s, {outcome['failed']} failed of "
                        f"{outcome['requests']}, served {outcome['served']}",
                        file=sys.stderr,
                    )
    finally:
        if client is not None:
            client.running = False
        if sender is not None:
            await asyncio.wait_for(sender, timeout=10)
        if gtm is not None:
            gtm.stop()
        haproxy.stop()
        bind.stop()
        sites.stop()
    return {
        "benchmark": "planned",
        "hold_s": HOLD,
        "probe_interval_s": 0.5,
        **{mode: summarize(values) for mode, values in results.items()},
        "target": {"failed_requests": 0},
    }


def main() -> None:
    """Parse arguments, run, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=5, help="runs per mode (default 5)")
    parser.add_argument("--drain", type=float, default=5.0, help="drain of the second mode, s")
    args = parser.parse_args()
    pin_self()
    print(json.dumps(asyncio.run(measure(args.trials, args.drain))))


if __name__ == "__main__":
    main()
