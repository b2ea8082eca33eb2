"""A real BIND and a real HAProxy in front of the simulated sites, for gtm's providers end to end.

Helpers to build the config that points gtm's rfc2136 and haproxy providers at them, to
read what clients of each get (DNS answers from BIND, responses through HAProxy), and to
wait for behaviour without timing thresholds.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import dns.asyncquery
import dns.exception
import dns.message
import dns.rdatatype
import pytest

from gtm.runtime import Runtime
from testbed.bind import BindServer
from testbed.haproxy import SUN_PATH_MAX, HaproxyServer, find_haproxy

from .support import SITES, ZONE, config_doc

T = TypeVar("T")

TSIG_ENV = "GTM_TEST_TSIG"
"""The environment variable the config's ``tsig.secret`` (``env:``) reads the key from."""

BIND_PROVIDER = "bind"
HAPROXY_PROVIDER = "lb"


def named_or_skip() -> None:
    """Skip with the reason when BIND is not installed."""
    if shutil.which("named") is None and not Path("/usr/sbin/named").exists():
        pytest.skip("named is not installed (Debian package bind9)")


def start_haproxy(workdir: Path, ports: dict[str, int]) -> HaproxyServer:
    """An HAProxy with a backend per service and a server per site, named as gtm names them.

    Each service has one locator per site, so :func:`gtm.providers.haproxy_settings.
    server_names` names each server after its site. The runtime API is a unix socket,
    unless the path would be too long for one.
    """
    executable = find_haproxy()
    if executable is None:
        pytest.skip("haproxy is not installed (Debian package haproxy)")
    backends = {
        service: [(site, address, port) for site, address in SITES.items()]
        for service, port in ports.items()
    }
    too_long = len(os.fsencode(workdir / "admin.sock")) > SUN_PATH_MAX
    server = HaproxyServer(
        workdir, backends, stats_socket="tcp" if too_long else "unix", executable=executable
    )
    server.start()
    return server


def provider_doc(
    tmp_path: Path,
    ports: dict[str, int],
    bind: BindServer,
    haproxy: HaproxyServer,
    *,
    bind_services: list[str] | None = None,
    lb_services: list[str] | None = None,
) -> dict[str, Any]:
    """The e2e config (fast probes) plus an rfc2136 and an haproxy provider.

    The TSIG secret is a reference to :data:`TSIG_ENV`, so a test chooses the key by
    setting the variable. Resync every 500 ms so drift is repaired within the test.
    """
    doc = config_doc(tmp_path, ports)
    doc["providers"] = {
        BIND_PROVIDER: {
            "type": "rfc2136",
            "server": f"{bind.address}:{bind.port}",
            "services": bind_services or sorted(ports),
            "timeout": "1s",
            "tsig": {
                "name": bind.key_name,
                "secret": f"env:{TSIG_ENV}",
                "algorithm": bind.algorithm,
            },
        },
        HAPROXY_PROVIDER: {
            "type": "haproxy",
            "socket": haproxy.socket,
            "services": lb_services or sorted(ports),
            "timeout": "1s",
        },
    }
    doc["reconcile"] = {"resync_interval": "500ms", "retry_max": "500ms"}
    return doc


async def eventually(
    probe: Callable[[], Awaitable[T]],
    accept: Callable[[T], bool],
    *,
    what: str,
    timeout: float = 15.0,
) -> T:
    """Poll ``probe`` every 20 ms until ``accept`` takes its value; the value.

    Raises:
        AssertionError: Not accepted within ``timeout`` (a bound, not a measurement),
            with the last value seen.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await probe()
        if accept(value):
            return value
        if loop.time() > deadline:
            raise AssertionError(f"{what}: still {value!r} after {timeout:g} s")
        await asyncio.sleep(0.02)


async def bind_addresses(bind: BindServer, service: str) -> set[str]:
    """The A records BIND gives for ``service``; empty on no answer or no records."""
    query = dns.message.make_query(f"{service}.{ZONE}", dns.rdatatype.A)
    try:
        answer = await dns.asyncquery.udp(query, bind.address, port=bind.port, timeout=0.5)
    except (OSError, dns.exception.DNSException):
        return set()
    return {rr.address for rrset in answer.answer for rr in rrset if rr.rdtype == dns.rdatatype.A}


def dig(bind: BindServer, service: str) -> set[str] | None:
    """What ``dig +short`` gets from BIND for ``service``'s A records; None without dig."""
    if shutil.which("dig") is None:
        return None
    result = subprocess.run(
        ["dig", f"@{bind.address}", "-p", str(bind.port), f"{service}.{ZONE}", "A", "+short"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    return set(result.stdout.split())


def _get_site(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            doc: dict[str, Any] = json.loads(answer.read())
    except OSError as exc:  # 503 from HAProxy (no server with weight) or refused
        return f"error: {exc}"
    return str(doc["site"])


async def through_haproxy(haproxy: HaproxyServer, service: str, requests: int = 6) -> list[str]:
    """Which site answered each of ``requests`` requests sent through ``service``'s frontend."""
    url = f"http://127.0.0.1:{haproxy.frontend_port(service)}/"
    return [await asyncio.to_thread(_get_site, url) for _ in range(requests)]


async def haproxy_weights(haproxy: HaproxyServer, service: str) -> dict[str, int]:
    """The weight of each server of ``service``'s backend, from ``show servers state``."""
    text = await asyncio.to_thread(haproxy.command, f"show servers state {service}")
    weights: dict[str, int] = {}
    columns: list[str] = []
    for line in text.splitlines():
        if line.startswith("#"):
            columns = line.lstrip("# ").split()
        elif columns and len(line.split()) >= len(columns):
            row = dict(zip(columns, line.split(), strict=False))
            weights[row["srv_name"]] = int(row["srv_uweight"])
    return weights


def provider_status(runtime: Runtime, name: str) -> dict[str, Any]:
    """One provider's status as the reconciler reports it."""
    return next(s for s in runtime.reconciler.status() if s["name"] == name)


def nsupdate(bind: BindServer, *commands: str) -> None:
    """Change the zone by hand with ``nsupdate``, signed with the key, as an operator would."""
    if shutil.which("nsupdate") is None:
        pytest.skip("nsupdate is not installed (Debian package bind9-dnsutils)")
    script = "\n".join(
        [f"server {bind.address} {bind.port}", f"zone {bind.zone}", *commands, "send", ""]
    )
    result = subprocess.run(
        ["nsupdate", "-k", str(bind.key_path)],
        input=script,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert result.returncode == 0, result.stderr
