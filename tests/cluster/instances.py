"""Real ``gtm run`` instances of one cluster, each on its own loopback address, for tests.

Each instance is a child process with its config in its own directory, its DNS and API on
``127.0.0.1x``, the store on the test's Consul cluster under a prefix of the test's own;
every process is stopped by its PID, even when the test fails.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import dns.message
import dns.query
import dns.rdatatype
import yaml

from gtm.demo.sites import SimulatedSite, SiteFleet
from testbed.consul import ConsulCluster
from testbed.ports import free_ports
from testbed.process import ManagedProcess

ROOT = Path(__file__).resolve().parent.parent.parent
SITES = {"site-a": "127.0.1.1", "site-b": "127.0.2.1", "site-c": "127.0.3.1"}
ZONE = "cluster.example.test."
API_TOKEN = "cluster-test-token"
SERVICE = "billing"
DEADLINE = 60.0
"""Longest wait for anything a test waits on (a loaded two-core machine is slow)."""

T = TypeVar("T")


def wait_for(condition: Callable[[], T | None], what: str, timeout: float = DEADLINE) -> T:
    """Poll ``condition`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            found = condition()
            if found:
                return found
        except (OSError, ValueError, KeyError, TypeError) as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout:g}s: {what} (last error: {last})")


class GtmInstance(ManagedProcess):
    """``gtm run`` as one instance of the cluster.

    Args:
        workdir: Its directory (config, secrets, log).
        name: The instance's name (``site-a``), also in the config as ``instance``.
        address: The loopback address its DNS and API listen on.
        doc: The config, without ``instance``, ``dns`` and ``api``.
    """

    start_timeout = 60.0

    def __init__(self, workdir: Path, name: str, address: str, doc: dict[str, Any]) -> None:
        super().__init__()
        self.name = name
        self.address = address
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "api-token").write_text(API_TOKEN)
        (self.dir / "api-token").chmod(0o600)
        # Two distinct ports: two calls of free_port may both find the same one.
        self.dns_port, self.api_port = free_ports(2, address, udp=True)
        self.doc = {
            **doc,
            "instance": name,
            "dns": {"listen": f"{address}:{self.dns_port}"},
            "api": {"listen": f"{address}:{self.api_port}", "token": "file:api-token"},
        }
        self.path = self.dir / "gtm.yaml"
        self.path.write_text(yaml.safe_dump(self.doc, sort_keys=False))

    @property
    def api(self) -> str:
        """Base URL of its API."""
        return f"http://{self.address}:{self.api_port}"

    @property
    def log_path(self) -> Path:
        """What the instance logs."""
        return self.dir / "gtm.log"

    def describe(self) -> str:
        """``gtm site-a on http://...``."""
        return f"gtm {self.name} on {self.api}"

    def _prepare(self) -> list[str]:
        return [sys.executable, "-m", "gtm", "run", "-c", str(self.path), "--log-level", "INFO"]

    def _probe(self) -> str | None:
        try:
            self.get("/healthz")
        except (OSError, ValueError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def get(self, path: str) -> Any:
        """GET a JSON document from its API."""
        with urllib.request.urlopen(self.api + path, timeout=5) as answer:
            return json.loads(answer.read())

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST a JSON document, with the token; the JSON answer."""
        request = urllib.request.Request(
            self.api + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"POST {path} on {self.name}: {exc.code} {exc.read()!r}") from exc

    def cluster(self) -> dict[str, Any]:
        """Its ``GET /v1/cluster``."""
        doc: dict[str, Any] = self.get("/v1/cluster")
        return doc

    def mapping(self, service: str) -> dict[str, Any]:
        """Its ``GET /v1/services/<service>``."""
        doc: dict[str, Any] = self.get(f"/v1/services/{service}")
        return doc

    def dns_answer(self, service: str) -> list[str]:
        """The A records its DNS responder gives for ``service``."""
        query = dns.message.make_query(f"{service}.{ZONE}", dns.rdatatype.A)
        answer = dns.query.udp(query, self.address, port=self.dns_port, timeout=2)
        return sorted(item.address for rrset in answer.answer for item in rrset)

    def status_text(self) -> str:
        """What ``gtm status`` prints against this instance."""
        done = subprocess.run(
            [sys.executable, "-m", "gtm", "status", "--api", self.api],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def signal(self, number: signal.Signals) -> None:
        """Send ``number`` to the instance's process."""
        assert self.pid is not None
        os.kill(self.pid, number)


def cluster_doc(
    consul: ConsulCluster, prefix: str, workdir: Path, server: int = 0
) -> dict[str, Any]:
    """A config (without instance, dns, api) sharing ``prefix`` on ``consul``."""
    token_file = workdir / "consul-token"
    token_file.write_text(consul.token or "")
    token_file.chmod(0o600)
    return {
        "zone": ZONE,
        "store": {
            "type": "consul",
            "address": consul.servers[server].http_address,
            "prefix": prefix,
            "token": f"file:{token_file}",
        },
        "cluster": {"check_ttl": "2s", "pass_interval": "500ms", "lock_delay": "1s"},
        "sites": {name: {"provider": "onprem"} for name in SITES},
        "services": {},
    }


def with_service(doc: dict[str, Any], name: str, port: int) -> dict[str, Any]:
    """``doc`` with ``name`` on every site at ``port``, probed every 200 ms."""
    service = {
        "ttl": 5,
        "check": {
            "type": "http",
            "path": "/health",
            "interval": "200ms",
            "timeout": "150ms",
            "recheck_interval": "50ms",
        },
        "locators": [
            {"site": site, "address": address, "port": port} for site, address in SITES.items()
        ],
    }
    return {**doc, "services": {**doc["services"], name: service}}


def start_fleet(port: int, service: str) -> SiteFleet:
    """Simulated sites serving ``service`` at ``port`` on every site's address."""
    sites = SiteFleet(
        {site: SimulatedSite(site, address, {service: port}) for site, address in SITES.items()}
    )
    sites.start()
    return sites


def site_port() -> int:
    """A port free on every site's address."""
    return free_ports(1, *SITES.values())[0]


def leader_of(instances: list[GtmInstance]) -> tuple[GtmInstance, int] | None:
    """The instance that says it acts for the cluster, and its term; None if none does."""
    for instance in instances:
        if not instance.alive:
            continue
        try:
            doc = instance.cluster()
        except (OSError, ValueError):
            continue
        if doc.get("acting"):
            return instance, int(doc["leader"]["term"])
    return None


def consul_get(consul: ConsulCluster, key: str, server: int = 0) -> dict[str, Any] | None:
    """A KV entry straight from Consul (its value decoded), or None."""
    try:
        items = consul.servers[server].get(f"/v1/kv/{key}")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise
    item: dict[str, Any] = items[0]
    item["Value"] = base64.b64decode(item["Value"] or b"").decode()
    return item


class Deployment:
    """Instances, the sites they manage, and where their store is."""

    def __init__(self, consul: ConsulCluster, prefix: str, workdir: Path, names: list[str]) -> None:
        self.consul = consul
        self.prefix = prefix
        self.port = site_port()
        self.sites: SiteFleet = start_fleet(self.port, SERVICE)
        doc = with_service(cluster_doc(consul, self.prefix, workdir), SERVICE, self.port)
        self.instances = [
            GtmInstance(workdir, name, f"127.0.0.{11 + n}", doc) for n, name in enumerate(names)
        ]

    def start(self) -> None:
        for instance in self.instances:
            instance.start()
        # Every instance serves the first mapping, whichever wrote it, and has its own
        # verdicts on every locator.
        for instance in self.instances:
            wait_for(
                lambda i=instance: i.get("/healthz")["health_known"] == 1,  # type: ignore[misc]
                f"{instance.name} knowing every locator's health",
            )
            wait_for(
                lambda i=instance: i.mapping(SERVICE).get("active_site"),  # type: ignore[misc]
                f"{instance.name} serving {SERVICE}",
            )

    def stop(self) -> None:
        for instance in self.instances:
            instance.stop()
        self.sites.stop()

    def stored(self) -> dict[str, object]:
        item = consul_get(self.consul, f"{self.prefix}mappings/{SERVICE}")
        assert item is not None
        doc: dict[str, object] = json.loads(item["Value"])
        return doc
