"""The HAProxy that tests, benchmarks and examples run: config, start, stop, failure."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from haproxy_harness import StartHaproxy

from testbed.haproxy import SUN_PATH_MAX, HaproxyServer


def running(pid: int) -> bool:
    """Whether a process with ``pid`` exists (a zombie counts until reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_config_has_a_frontend_and_unchecked_servers_per_backend(tmp_path: Path) -> None:
    server = HaproxyServer(
        tmp_path,
        {"billing": [("aws-use1", "127.0.1.1", 8081), ("gcp-euw1", "127.0.2.1", 8082)]},
        frontends={"billing": 18080},
    )
    text = server.config()
    assert f"stats socket {tmp_path}/admin.sock mode 600 level admin" in text
    assert "    bind 127.0.0.1:18080\n    default_backend billing\n" in text
    assert "    balance roundrobin\n" in text
    assert "    server aws-use1 127.0.1.1:8081 weight 1\n" in text
    assert "    server gcp-euw1 127.0.2.1:8082 weight 1\n" in text
    assert " check" not in text
    assert server.socket == f"unix:{tmp_path}/admin.sock"
    assert server.frontend_port("billing") == 18080


def test_start_waits_for_the_runtime_api_and_stop_ends_the_process(
    start_haproxy: StartHaproxy,
) -> None:
    server = start_haproxy({"billing": [("aws-use1", "127.0.1.1", 9)]}, "tcp")
    pid = server.pid
    assert pid is not None and server.alive
    assert server.socket.startswith("127.0.0.1:")
    assert server.command("show info").startswith("Name: HAProxy")
    with socket.create_connection(("127.0.0.1", server.frontend_port("billing")), timeout=5):
        pass

    server.stop()
    server.stop()

    assert server.pid is None and not server.alive
    assert not running(pid)


def test_a_failed_start_names_the_cause_from_haproxy_output(
    tmp_path: Path, haproxy_binary: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = HaproxyServer(
            tmp_path,
            {"billing": [("aws-use1", "127.0.1.1", 9)]},
            frontends={"billing": port},
            executable=haproxy_binary,
        )
        try:
            with pytest.raises(
                RuntimeError, match=r"haproxy: exited with status \d+; log:\n"
            ) as caught:
                server.start()
        finally:
            server.stop()
    assert "fe-billing" in str(caught.value)
    assert "cannot bind" in str(caught.value)
    assert not server.alive


def test_a_socket_path_too_long_for_linux_is_refused_before_starting(
    tmp_path: Path, haproxy_binary: str
) -> None:
    deep = tmp_path / ("d" * SUN_PATH_MAX)
    server = HaproxyServer(deep, {"billing": []}, executable=haproxy_binary)
    with pytest.raises(RuntimeError, match=r"stats socket path .* is longer than 107 bytes"):
        server.start()
    assert server.pid is None
