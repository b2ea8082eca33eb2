"""A real Consul cluster of three servers on loopback addresses, for the Consul store's tests.

Each server is its own process on its own 127.0.0.x address with free ports and its own data
directory; they find each other with ``retry_join`` and elect a leader among three, as a
production cluster does, so a test can kill one and the store must keep working.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from testbed.ports import free_ports
from testbed.process import ManagedProcess

PROJECT_BINARY = Path(__file__).resolve().parent.parent / "var" / "bin" / "consul"
"""Where ``make consul`` installs the binary (Debian bookworm has no package)."""

ADDRESSES = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
"""One loopback address per server: Linux answers on all of 127.0.0.0/8."""

READY_TIMEOUT = 60.0
"""Longest wait for the cluster to elect a leader and accept a write."""


def find_consul() -> str | None:
    """The consul executable of the project (``make consul``) or on ``PATH``; None if neither."""
    if os.access(PROJECT_BINARY, os.X_OK):
        return str(PROJECT_BINARY)
    return shutil.which("consul")


class ConsulServer(ManagedProcess):
    """One Consul agent in server mode, expecting ``len(peers) + 1`` servers.

    Args:
        workdir: Its data directory and log go under ``workdir/<name>``.
        name: Node name.
        address: The loopback address it binds every port to.
        peers: ``address:serf_lan_port`` of the other servers, joined until they answer.
        ports: ``http``, ``serf_lan``, ``serf_wan`` and ``server`` ports.
        token: With ACLs on (default policy ``deny``), the master token; None: ACLs off.
        executable: The consul binary; default :func:`find_consul`.
    """

    def __init__(
        self,
        workdir: Path,
        name: str,
        address: str,
        peers: list[str],
        ports: dict[str, int],
        token: str | None = None,
        executable: str | None = None,
    ) -> None:
        super().__init__()
        self.token = token
        self.workdir = workdir / name
        self.name = name
        self.address = address
        self.peers = peers
        self.ports = ports
        self.executable = executable or find_consul()

    @property
    def http_address(self) -> str:
        """``host:port`` of its HTTP API, as the store's ``address`` names it."""
        return f"{self.address}:{self.ports['http']}"

    @property
    def log_path(self) -> Path:
        """Where the agent's output goes."""
        return self.workdir / "consul.log"

    def describe(self) -> str:
        """``consul server n1 on 127.0.0.1:port``, as error messages start."""
        return f"consul server {self.name} on {self.http_address}"

    def get(self, path: str, timeout: float = 2.0) -> Any:
        """``GET`` an HTTP API path of this agent and decode its JSON answer.

        Raises:
            OSError: The agent did not answer, or answered with an error.
        """
        request = urllib.request.Request(f"http://{self.http_address}{path}")
        if self.token:
            request.add_header("X-Consul-Token", self.token)
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return json.loads(answer.read() or b"null")

    def leader(self) -> str:
        """The server address this agent knows as leader; empty while there is none.

        Raises:
            OSError: The agent did not answer.
        """
        return str(self.get("/v1/status/leader") or "")

    def _prepare(self) -> list[str]:
        if self.executable is None:
            raise RuntimeError("consul: not installed (run `make consul`)")
        (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        ports = {**self.ports, "dns": -1, "grpc": -1}
        config = {
            "server": True,
            "bootstrap_expect": len(self.peers) + 1,
            "node_name": self.name,
            "datacenter": "dc1",
            "data_dir": str(self.workdir / "data"),
            "bind_addr": self.address,
            "client_addr": self.address,
            "advertise_addr": self.address,
            "retry_join": self.peers,
            "retry_interval": "1s",
            "ports": ports,
            "performance": {"raft_multiplier": 1},
            "disable_update_check": True,
            "log_level": "warn",
        }
        if self.token:
            config["acl"] = {
                "enabled": True,
                "default_policy": "deny",
                "tokens": {"master": self.token, "agent": self.token},
            }
        config_path = self.workdir / "consul.json"
        config_path.write_text(json.dumps(config, indent=2))
        return [self.executable, "agent", "-config-file", str(config_path)]

    def _probe(self) -> str | None:
        """None once the HTTP API answers (the cluster's readiness is the cluster's job)."""
        try:
            self.leader()
        except (OSError, ValueError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None


class ConsulCluster:
    """Three Consul servers that elect a leader; stopped together, each by its PID.

    Args:
        workdir: Where each server's directory goes.
        token: With ACLs on (default policy ``deny``), the master token every client
            must send; None: ACLs off.
        executable: The consul binary; default :func:`find_consul`.
    """

    def __init__(
        self, workdir: Path, token: str | None = None, executable: str | None = None
    ) -> None:
        self.token = token
        ports = [free_ports(4, address) for address in ADDRESSES]
        names = [f"consul{n + 1}" for n in range(len(ADDRESSES))]
        self.servers = [
            ConsulServer(
                workdir,
                names[n],
                address,
                [f"{a}:{p[1]}" for a, p in zip(ADDRESSES, ports, strict=True) if a != address],
                dict(zip(("http", "serf_lan", "serf_wan", "server"), ports[n], strict=True)),
                token,
                executable,
            )
            for n, address in enumerate(ADDRESSES)
        ]

    @property
    def addresses(self) -> list[str]:
        """Every server's HTTP API as ``host:port``."""
        return [server.http_address for server in self.servers]

    def start(self, timeout: float = READY_TIMEOUT) -> None:
        """Start every server, then wait until they agree on a leader and a write works.

        Raises:
            RuntimeError: A server did not start, or no leader was elected in ``timeout``.
        """
        try:
            for server in self.servers:
                server.start(timeout)
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Wait until the running servers agree on a leader, each has its serfHealth check
        passing, and a KV write succeeds.

        Raises:
            RuntimeError: Not ready within ``timeout``; the message names the last reason.
        """
        deadline = time.monotonic() + timeout
        last = "not asked yet"
        while time.monotonic() < deadline:
            try:
                alive = [server for server in self.servers if server.alive]
                leaders = {server.leader() for server in alive}
                # A session needs its node's serfHealth check registered (with ACLs, a
                # moment after the leader is elected).
                passing = alive[0].get("/v1/health/state/passing") if "" not in leaders else []
                serf = [c for c in passing or [] if c.get("CheckID") == "serfHealth"]
                if len(leaders) == 1 and "" not in leaders and len(serf) == len(alive):
                    request = urllib.request.Request(
                        f"http://{alive[0].http_address}/v1/kv/testbed-ready",
                        data=b"ok",
                        method="PUT",
                        headers={"X-Consul-Token": self.token} if self.token else {},
                    )
                    with urllib.request.urlopen(request, timeout=2.0) as answer:
                        if json.loads(answer.read()) is True:
                            return
                last = f"leaders {sorted(leaders)}"
            except (OSError, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.1)
        raise RuntimeError(f"consul cluster: not ready within {timeout:g} s (last: {last})")

    def stop(self) -> None:
        """Stop every server by its PID; safe to repeat."""
        for server in self.servers:
            server.stop()
