"""What ``gtm run`` says when it cannot start: one line per problem, and nothing left behind.

A second gtm on the same store, a port already taken, secrets that cannot be read: each
ends the start at once with the config field and what to do, and whatever had started is
stopped again, so the ports and the store are free for the next try.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import socket
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gtm.config.listen import Listen
from gtm.config.loader import load_config
from gtm.controller.providing import plan_providers
from gtm.errors import ConfigError, ListenError, StoreInUse
from gtm.registry.stores import SqliteStore
from gtm.runtime import Runtime, listen_error
from testbed.ports import free_port

from .support import is_free

HOST = socket.gethostname()
SECRET_VARIABLES = ("GTM_SE_TOKEN", "GTM_SE_KEY_ID", "GTM_SE_KEY")


def document(tmp_path: Path, **sections: Any) -> dict[str, Any]:
    """A config that starts on loopback with ports chosen by the system, and ``sections``."""
    return {
        "zone": "gtm.example.test.",
        "instance": "startup-test",
        "dns": {"listen": "127.0.0.1:0"},
        "api": {"listen": "127.0.0.1:0"},
        "store": {"type": "sqlite", "path": str(tmp_path / "var" / "gtm.db")},
        "sites": {"a": {}},
        "services": {
            "s": {
                "check": {"type": "tcp", "interval": "1s", "timeout": "200ms"},
                "locators": [{"site": "a", "address": "127.0.0.1", "port": 9}],
            }
        },
        **sections,
    }


def write(tmp_path: Path, doc: dict[str, Any], name: str = "gtm.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


async def gtm_run(config: Path) -> tuple[int, str, str]:
    """``gtm run -c CONFIG`` as a child process, which must end by itself within 30 s."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gtm",
        "run",
        "-c",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin"},  # none of the secrets' variables
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.fixture(autouse=True)
def no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SECRET_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def runtimes() -> AsyncIterator[Callable[[Path], Runtime]]:
    """Runtimes made from config files; every one is stopped at the end."""
    made: list[Runtime] = []

    def make(path: Path) -> Runtime:
        runtime = Runtime(load_config(path))
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        await runtime.stop()


@pytest.fixture
def taken() -> Iterator[Callable[[int], int]]:
    """Take a free loopback port, TCP (listening) or UDP, until the test ends."""
    sockets: list[socket.socket] = []

    def take(kind: int = socket.SOCK_STREAM) -> int:
        sock = socket.socket(socket.AF_INET, kind)
        sockets.append(sock)
        sock.bind(("127.0.0.1", 0))
        if kind == socket.SOCK_STREAM:
            sock.listen()
        return int(sock.getsockname()[1])

    yield take
    for sock in sockets:
        sock.close()


# -- one gtm per store -----------------------------------------------------------------


async def test_a_second_gtm_run_on_the_same_store_exits_at_once_naming_the_holder(
    tmp_path: Path, runtimes: Callable[[Path], Runtime]
) -> None:
    config = write(tmp_path, document(tmp_path))
    first = runtimes(config)
    await first.start()

    code, out, err = await gtm_run(config)

    store = tmp_path / "var" / "gtm.db"
    assert (code, out) == (1, "")
    assert err == (
        f"gtm: store {store} is in use by another gtm (pid {os.getpid()} on host {HOST}); "
        "stop it or point store.path at another file\n"
    )


async def test_a_stopped_gtm_gives_the_store_up_for_a_restart_in_the_same_process(
    tmp_path: Path, runtimes: Callable[[Path], Runtime]
) -> None:
    config = write(tmp_path, document(tmp_path))
    first = runtimes(config)
    await first.start()
    with pytest.raises(StoreInUse):
        await runtimes(config).start()
    await first.stop()

    second = runtimes(config)
    await second.start()

    assert second.dns_port > 0


# -- ports ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "kind"),
    [("dns", socket.SOCK_STREAM), ("dns", socket.SOCK_DGRAM), ("api", socket.SOCK_STREAM)],
    ids=["dns-tcp", "dns-udp", "api"],
)
async def test_a_port_in_use_is_one_line_naming_the_field(
    tmp_path: Path, taken: Callable[[int], int], field: str, kind: int
) -> None:
    port = taken(kind)
    config = write(tmp_path, document(tmp_path, **{field: {"listen": f"127.0.0.1:{port}"}}))

    code, out, err = await gtm_run(config)

    assert (code, out) == (1, "")
    assert err == (
        f"gtm: {field}.listen 127.0.0.1:{port}: address already in use (is another gtm "
        f"running? stop it or change {field}.listen)\n"
    )


async def test_a_start_refused_for_a_port_leaves_no_port_and_no_claim_behind(
    tmp_path: Path, taken: Callable[[int], int], runtimes: Callable[[Path], Runtime]
) -> None:
    api_port, dns_port = taken(socket.SOCK_STREAM), free_port("127.0.0.1")
    doc = document(
        tmp_path, dns={"listen": f"127.0.0.1:{dns_port}"}, api={"listen": f"127.0.0.1:{api_port}"}
    )

    with pytest.raises(ListenError) as caught:
        await runtimes(write(tmp_path, doc)).start()

    assert (caught.value.field, caught.value.errno) == ("api.listen", errno.EADDRINUSE)
    assert is_free("127.0.0.1", dns_port)
    store = SqliteStore(tmp_path / "var" / "gtm.db", exclusive=True)
    await store.close()


async def test_an_address_not_of_this_host_says_so(
    tmp_path: Path, runtimes: Callable[[Path], Runtime]
) -> None:
    doc = document(tmp_path, dns={"listen": "192.0.2.1:0"})  # TEST-NET-1: on no host

    with pytest.raises(ListenError) as caught:
        await runtimes(write(tmp_path, doc)).start()

    assert str(caught.value) == (
        "dns.listen 192.0.2.1:0: address not available: 192.0.2.1 is not an address of this "
        "host (change dns.listen)"
    )


def test_other_bind_failures_name_the_field_and_the_reason() -> None:
    low = listen_error("dns.listen", Listen("0.0.0.0", 53), PermissionError(errno.EACCES, "x"))
    other = listen_error("api.listen", Listen("::1", 8080), OSError(errno.EAFNOSUPPORT, "x"))

    assert str(low) == (
        "dns.listen 0.0.0.0:53: permission denied: port 53 is below 1024, which needs root or "
        "CAP_NET_BIND_SERVICE (change dns.listen, or grant the capability)"
    )
    assert str(other) == (
        f"api.listen [::1]:8080: {os.strerror(errno.EAFNOSUPPORT).lower()} (change api.listen)"
    )


# -- secrets ---------------------------------------------------------------------------------

PROVIDERS = {
    "bind": {
        "type": "rfc2136",
        "server": "127.0.0.1:53",
        "tsig": {"name": "gtm-key.", "secret": "file:tsig.secret"},
    },
    "route53": {
        "type": "route53",
        "hosted_zone_id": "Z1",
        "credentials": {
            "access_key_id": "env:GTM_SE_KEY_ID",
            "secret_access_key": "env:GTM_SE_KEY",
        },
    },
}


def missing(tmp_path: Path) -> list[str]:
    return [
        "api.token: environment variable GTM_SE_TOKEN is not set",
        f"providers.bind.tsig.secret: cannot read file {tmp_path / 'tsig.secret'}: "
        "No such file or directory",
        "providers.route53.credentials.access_key_id: "
        "environment variable GTM_SE_KEY_ID is not set",
        "providers.route53.credentials.secret_access_key: "
        "environment variable GTM_SE_KEY is not set",
    ]


async def test_gtm_run_lists_every_missing_secret_at_once(tmp_path: Path) -> None:
    dns_port = free_port("127.0.0.1")
    doc = document(
        tmp_path,
        dns={"listen": f"127.0.0.1:{dns_port}"},
        api={"listen": "127.0.0.1:0", "token": "env:GTM_SE_TOKEN"},
        providers=PROVIDERS,
    )

    config = write(tmp_path, doc)
    code, out, err = await gtm_run(config)

    assert (code, out) == (1, "")
    lines = err.splitlines()
    # Each line names the file and the line, as `gtm config check --secrets` does.
    assert all(re.fullmatch(rf"{re.escape(str(config))}: .* \(line \d+\)", x) for x in lines)
    bare = [re.sub(r" \(line \d+\)$", "", x.removeprefix(f"{config}: ")) for x in lines]
    assert bare == missing(tmp_path)
    assert not (tmp_path / "var").exists()  # the store was not even opened


async def test_secrets_are_checked_before_any_port_is_bound_or_the_store_claimed(
    tmp_path: Path, taken: Callable[[int], int], runtimes: Callable[[Path], Runtime]
) -> None:
    # Both taken: binding DNS or claiming the store first would fail differently.
    dns_port = taken(socket.SOCK_STREAM)
    holder = SqliteStore(tmp_path / "var" / "gtm.db", exclusive=True)
    try:
        doc = document(
            tmp_path,
            dns={"listen": f"127.0.0.1:{dns_port}"},
            api={"listen": "127.0.0.1:0", "token": "env:GTM_SE_TOKEN"},
            providers=PROVIDERS,
        )
        runtime = runtimes(write(tmp_path, doc))

        with pytest.raises(ConfigError) as caught:
            await runtime.start()
    finally:
        await holder.close()

    assert caught.value.problems == missing(tmp_path)


# -- gtm plan beside a running gtm ---------------------------------------------------------


async def test_gtm_plan_reads_the_store_a_running_gtm_holds(
    tmp_path: Path, runtimes: Callable[[Path], Runtime], capsys: pytest.CaptureFixture[str]
) -> None:
    closed = free_port("127.0.0.1")  # nothing listens: the plan gets as far as HAProxy
    lb = {"type": "haproxy", "socket": f"127.0.0.1:{closed}", "services": ["s"]}
    config = write(tmp_path, document(tmp_path, providers={"lb": lb}))
    running = runtimes(config)
    await running.start()
    capsys.readouterr()

    code = await plan_providers(load_config(config), None, force=False, apply=False)

    assert code == 1
    assert capsys.readouterr().out.startswith(
        f"lb: error: haproxy lb: runtime API 127.0.0.1:{closed} unreachable: "
    )


async def test_gtm_plan_lists_every_missing_secret_of_its_providers(tmp_path: Path) -> None:
    doc = document(
        tmp_path, api={"listen": "127.0.0.1:0", "token": "env:GTM_SE_TOKEN"}, providers=PROVIDERS
    )

    with pytest.raises(ConfigError) as caught:
        await plan_providers(load_config(write(tmp_path, doc)), None, force=False, apply=False)

    assert caught.value.problems == missing(tmp_path)[1:]  # not api.token: plan needs no API
    assert not (tmp_path / "var").exists()
