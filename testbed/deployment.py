"""A whole gtm cluster on one host: three Consul servers, one gtm instance per site, and the
sites' workloads, each a real process on its own loopback address.

The example and the cluster benchmark start one of these and then break it: kill the
leader, cut one vantage off one site, kill a site. Every process is stopped by its PID.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import dns.message
import dns.query
import dns.rdatatype
import yaml

from gtm.demo.sites import SimulatedSite, SiteFleet
from testbed.consul import ConsulCluster
from testbed.ports import free_port, free_ports
from testbed.process import ManagedProcess

SITES = {"site-a": "127.0.1.1", "site-b": "127.0.2.1", "site-c": "127.0.3.1"}
"""Each site's workload address."""

INSTANCES = {"site-a": "127.0.0.31", "site-b": "127.0.0.32", "site-c": "127.0.0.33"}
"""Each site's gtm instance: its DNS, API and the address its probes leave from."""

ZONE = "cluster.example.test."
SERVICE = "billing"
API_TOKEN = "cluster-example-token"

T = TypeVar("T")


def wait_for(condition: Callable[[], T | None], what: str, timeout: float = 60.0) -> T:
    """Poll ``condition`` every 10 ms until it returns something truthy.

    Raises:
        TimeoutError: Not within ``timeout``; the message names ``what`` and the last error.
    """
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            found = condition()
            if found:
                return found
        except (OSError, ValueError, KeyError, TypeError) as exc:
            last = exc
        time.sleep(0.01)
    raise TimeoutError(f"not within {timeout:g}s: {what} (last error: {last})")


class GtmInstance(ManagedProcess):
    """``gtm run`` as one instance of the cluster, probing from its own address.

    Args:
        workdir: Its directory (config, secrets, log).
        name: The instance's name, also the site it stands in.
        address: The loopback address its DNS and API listen on and its probes leave from.
        doc: The shared config, without ``instance``, ``dns`` and ``api``.
        log_level: What it logs.
    """

    start_timeout = 60.0

    def __init__(
        self, workdir: Path, name: str, address: str, doc: dict[str, Any], log_level: str
    ) -> None:
        super().__init__()
        self.name = name
        self.address = address
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        token = self.dir / "api-token"
        token.write_text(API_TOKEN)
        token.chmod(0o600)
        self.dns_port = free_port(address, udp=True)
        self.api_port = free_port(address)
        self.log_level = log_level
        cluster = {**doc["cluster"], "probe_from": address}
        self.doc = {
            **doc,
            "instance": name,
            "dns": {"listen": f"{address}:{self.dns_port}"},
            "api": {"listen": f"{address}:{self.api_port}", "token": "file:api-token"},
            "cluster": cluster,
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
        command = [sys.executable, "-m", "gtm", "run", "-c", str(self.path)]
        return [*command, "--log-level", self.log_level]

    def _probe(self) -> str | None:
        try:
            self.get("/healthz")
        except (OSError, ValueError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def get(self, path: str, timeout: float = 5.0) -> Any:
        """GET a JSON document from its API."""
        with urllib.request.urlopen(self.api + path, timeout=timeout) as answer:
            return json.loads(answer.read())

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST a JSON document with the API token; the JSON answer."""
        request = urllib.request.Request(
            self.api + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())

    def cluster(self) -> dict[str, Any]:
        """Its ``GET /v1/cluster``."""
        doc: dict[str, Any] = self.get("/v1/cluster", timeout=2.0)
        return doc

    def acting(self) -> bool:
        """Whether it says it acts for the cluster (it leads); False when it does not answer."""
        try:
            return bool(self.cluster().get("acting"))
        except (OSError, ValueError):
            return False

    def mapping(self) -> dict[str, Any]:
        """Its ``GET /v1/services/<SERVICE>``."""
        doc: dict[str, Any] = self.get(f"/v1/services/{SERVICE}")
        return doc

    def locator(self, site: str) -> dict[str, Any]:
        """Its own probe detail of the service's locator on ``site``."""
        docs: list[dict[str, Any]] = self.get(f"/v1/locators?service={SERVICE}")["locators"]
        return next(doc for doc in docs if doc["site"] == site)

    def dns_answer(self, timeout: float = 2.0) -> list[str]:
        """The A records its DNS responder gives for the service."""
        query = dns.message.make_query(f"{SERVICE}.{ZONE}", dns.rdatatype.A)
        answer = dns.query.udp(query, self.address, port=self.dns_port, timeout=timeout)
        return sorted(item.address for rrset in answer.answer for item in rrset)

    def signal(self, number: signal.Signals) -> None:
        """Send ``number`` to its process."""
        if self.pid is not None:
            os.kill(self.pid, number)


class Deployment:
    """Three Consul servers, the sites' workloads and one gtm instance per site.

    Args:
        workdir: Where every process keeps its files.
        interval: Seconds between two probes of a locator.
        damping: Whether flap damping is on (a benchmark that kills sites again and again
            turns it off).
        disagree_after: Seconds a vantage must disagree before the cluster shows it.
        log_level: What each gtm instance logs.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        interval: float = 1.0,
        damping: bool = True,
        disagree_after: float = 30.0,
        log_level: str = "WARNING",
    ) -> None:
        self.workdir = workdir
        self.consul = ConsulCluster(workdir / "consul", token=str(uuid.uuid4()))
        self.port = free_ports(1, *SITES.values())[0]
        self.sites = SiteFleet(
            {
                site: SimulatedSite(site, address, {SERVICE: self.port})
                for site, address in SITES.items()
            }
        )
        self.prefix = f"gtm-{uuid.uuid4().hex[:8]}/"
        self.interval = interval
        self.damping = damping
        self.disagree_after = disagree_after
        self.log_level = log_level
        self.instances: list[GtmInstance] = []

    def doc(self) -> dict[str, Any]:
        """The config every instance shares (each adds its name, listeners, probe address)."""
        token = self.workdir / "consul-token"
        token.write_text(self.consul.token or "")
        token.chmod(0o600)
        check = {
            "type": "http",
            "path": "/health",
            "interval": f"{self.interval}s",
            "timeout": "500ms",
        }
        return {
            "zone": ZONE,
            # Each instance talks to "its" Consul server, as it would to the agent beside it.
            "store": {"type": "consul", "prefix": self.prefix, "token": f"file:{token}"},
            "cluster": {
                "check_ttl": "2s",
                "pass_interval": "500ms",
                "lock_delay": "1s",
                "disagree_after": f"{self.disagree_after}s",
            },
            "sites": {name: {"provider": "onprem"} for name in SITES},
            "services": {
                SERVICE: {
                    "ttl": 5,
                    "check": check,
                    **({} if self.damping else {"damping": "off"}),
                    "locators": [
                        {"site": site, "address": address, "port": self.port}
                        for site, address in SITES.items()
                    ],
                }
            },
        }

    def start(self) -> None:
        """Start Consul, the sites and every instance; wait until every instance serves."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self.consul.start()
            self.sites.start()
            doc = self.doc()
            for n, (name, address) in enumerate(INSTANCES.items()):
                store = {**doc["store"], "address": self.consul.servers[n].http_address}
                instance = GtmInstance(
                    self.workdir, name, address, {**doc, "store": store}, self.log_level
                )
                self.instances.append(instance)
                instance.start()
            for instance in self.instances:
                wait_for(
                    lambda i=instance: i.mapping().get("active_site"),  # type: ignore[misc]
                    f"{instance.name} serving {SERVICE}",
                )
            wait_for(self.leader, "a leader")
            wait_for(self.all_voting, "every vantage voting")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every instance, site and Consul server by its PID; safe to repeat."""
        for instance in self.instances:
            instance.stop()
        self.sites.stop()
        self.consul.stop()

    def leader(self) -> GtmInstance | None:
        """The running instance that says it leads; None while none does."""
        return next((i for i in self.instances if i.alive and i.acting()), None)

    def all_voting(self) -> bool:
        """Whether the leader counts a live, healthy vantage for every running instance."""
        leader = self.leader()
        if leader is None:
            return False
        vantages = leader.cluster().get("vantages", {}).get("vantages", [])
        healthy = {v["name"] for v in vantages if not v["degraded"]}
        return healthy >= {i.name for i in self.instances if i.alive}

    def active_site(self) -> str:
        """The active site as the first running instance serves it."""
        instance = next(i for i in self.instances if i.alive)
        return str(instance.mapping()["active_site"])

    def moves(self) -> list[dict[str, Any]]:
        """The service's moves in the journal, newest first."""
        instance = next(i for i in self.instances if i.alive)
        events: list[dict[str, Any]] = instance.get(f"/v1/events?service={SERVICE}&kind=move")[
            "events"
        ]
        return events

    def restart(self, instance: GtmInstance) -> None:
        """Start a stopped or killed instance again (same config, same address)."""
        instance.stop()
        instance.start()
