"""Planned failovers in front of a real HAProxy and BIND: config, steady client, observers."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import dns.asyncquery
import dns.message
import dns.rdatatype

from gtm.providers.haproxy_settings import parse_servers_state
from testbed.bind import BindServer
from testbed.haproxy import HaproxyServer
from testbed.ports import free_ports

from .support import SITES, ZONE, config_doc

T = TypeVar("T")

TOKENS = {
    "viewer": ("GTM_READ_TOKEN", "read", "read-secret-1"),
    "ops": ("GTM_OPERATE_TOKEN", "operate", "operate-secret-2"),
    "root": ("GTM_ADMIN_TOKEN", "admin", "admin-secret-3"),
}
"""API tokens of every scope: name -> (environment variable, scope, secret)."""

TSIG_ENV = "GTM_TEST_TSIG"
"""The environment variable the BIND provider's TSIG secret is read from."""


def secret(name: str) -> str:
    """The bearer secret of one of :data:`TOKENS`."""
    return TOKENS[name][2]


def token_env() -> dict[str, str]:
    """Every token's environment variable and secret."""
    return {env: value for env, _, value in TOKENS.values()}


def shared_ports(names: list[str]) -> dict[str, int]:
    """A port per service, free on every site address, all distinct."""
    return dict(zip(names, free_ports(len(names), *SITES.values()), strict=True))


def backends(ports: dict[str, int]) -> dict[str, list[tuple[str, str, int]]]:
    """HAProxy backends for ``ports``: one per service, a server per site named after it."""
    return {
        service: [(site, address, port) for site, address in SITES.items()]
        for service, port in ports.items()
    }


def planned_doc(
    tmp_path: Path,
    ports: dict[str, int],
    *,
    haproxy: HaproxyServer | None = None,
    bind: BindServer | None = None,
    check: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A config with fast probes, scoped tokens, and HAProxy and BIND as providers."""
    doc = config_doc(tmp_path, ports)
    doc["api"] = {
        "listen": "127.0.0.1:0",
        "tokens": {
            name: {"secret": f"env:{env}", "scope": scope}
            for name, (env, scope, _) in TOKENS.items()
        },
    }
    if check is not None:
        for service in doc["services"].values():
            service["check"] = check
    providers: dict[str, Any] = {}
    if haproxy is not None:
        providers["lb"] = {
            "type": "haproxy",
            "socket": haproxy.socket,
            # Verification sends a request through each frontend and checks who took it.
            "frontends": {b: f"127.0.0.1:{haproxy.frontend_port(b)}" for b in haproxy.backends},
        }
    if bind is not None:
        providers["bind"] = {
            "type": "rfc2136",
            "server": f"{bind.address}:{bind.port}",
            "tsig": {
                "name": bind.key_name,
                "secret": f"env:{TSIG_ENV}",
                "algorithm": bind.algorithm,
            },
        }
    if providers:
        doc["providers"] = providers
        # A provider that was down is retried soon after it is back.
        doc["reconcile"] = {"retry_max": "500ms"}
    return doc


@dataclass(frozen=True, slots=True)
class Answer:
    """One request through the load balancer: when, its status, and which site answered."""

    started: float
    ended: float
    status: int | None
    site: str | None
    error: str = ""


@dataclass
class SteadyClient:
    """Requests sent back to back through a frontend, each on a fresh connection.

    It runs on a thread of its own with its own event loop, so gtm's probes in the test's
    loop are not delayed by the load, and the load is not paused by gtm's work.
    """

    port: int
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """Start sending."""
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._send()), name="steady-client", daemon=True
        )
        self._thread.start()

    def stop(self) -> list[Answer]:
        """Stop sending and return every answer, in order."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            assert not self._thread.is_alive(), "the steady client did not stop"
        return list(self.answers)

    def failures(self) -> list[Answer]:
        """Requests that did not get a 200 from a site."""
        return [a for a in list(self.answers) if a.status != 200 or a.site is None]

    def sites_between(self, start: float, end: float) -> list[str | None]:
        """Which site answered each request that was sent and answered within [start, end]."""
        return [a.site for a in list(self.answers) if start <= a.started and a.ended <= end]

    async def _send(self) -> None:
        url = f"http://127.0.0.1:{self.port}/"
        # A new connection per request, so each one is placed by HAProxy's weights alone.
        connector = aiohttp.TCPConnector(force_close=True)
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            while not self._stop.is_set():
                started = time.time()
                try:
                    async with session.get(url) as answer:
                        body = await answer.read()
                        site = json.loads(body)["site"] if answer.status == 200 else None
                        self.answers.append(Answer(started, time.time(), answer.status, site))
                except (aiohttp.ClientError, TimeoutError, ValueError, KeyError) as exc:
                    self.answers.append(Answer(started, time.time(), None, None, repr(exc)))


async def eventually(
    probe: Callable[[], Awaitable[T]], ready: Callable[[T], bool], what: str, timeout: float = 20.0
) -> T:
    """Poll ``probe`` until ``ready`` holds for its value; fail with the last value seen."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if ready(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: still {value!r} after {timeout:g}s")
        await asyncio.sleep(0.05)


async def weights(haproxy: HaproxyServer, backend: str) -> dict[str, int]:
    """Each server's weight in ``backend`` as HAProxy holds it now (0 for a server not ready)."""
    text = await asyncio.to_thread(haproxy.command, f"show servers state {backend}")
    return {s.server: s.weight if s.state == "ready" else 0 for s in parse_servers_state(text)}


def only(site: str) -> dict[str, int]:
    """The weights that send every request to ``site``."""
    return {name: 100 if name == site else 0 for name in SITES}


async def bind_addresses(bind: BindServer, service: str) -> set[str]:
    """The A records BIND answers for ``service`` (empty when it has none)."""
    query = dns.message.make_query(f"{service}.{ZONE}", dns.rdatatype.A)
    answer = await dns.asyncquery.udp(query, bind.address, port=bind.port, timeout=2)
    return {rr.address for rrset in answer.answer for rr in rrset if rrset.rdtype == 1}


async def cli(*args: str, token: str | None = None, timeout: float = 120) -> tuple[int, str, str]:
    """Run ``python -m gtm ARGS`` as a child process; it is killed if it overruns."""
    env = {"PATH": "/usr/bin:/bin"}
    if token:
        env["GTM_TOKEN"] = token
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gtm",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=timeout)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
