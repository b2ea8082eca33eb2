"""Real ``gtm run`` instances of one cluster (testbed's), each on its own loopback address,
as the cluster tests deploy them.

Each instance is a child process with its config in its own directory, its DNS and API on
``127.0.0.1x``, the store on the test's Consul cluster under a prefix of the test's own;
every process is stopped by its PID, even when the test fails.
"""

from __future__ import annotations

import base64
import json
import urllib.error
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from gtm.demo.sites import SimulatedSite, SiteFleet
from testbed.consul import ConsulCluster
from testbed.deployment import SERVICE, SITES, ZONE, GtmInstance
from testbed.deployment import wait_for as poll
from testbed.ports import free_ports

__all__ = ["SERVICE", "SITES", "GtmInstance", "wait_for"]

DEADLINE = 60.0
"""Longest wait for anything a test waits on (a loaded two-core machine is slow)."""

T = TypeVar("T")


def wait_for(condition: Callable[[], T | None], what: str, timeout: float = DEADLINE) -> T:
    """Poll ``condition`` every 100 ms until it returns something truthy; fail naming ``what``."""
    return poll(condition, what, timeout, every=0.1)


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
    """Instances, the sites they manage, and where their store is.

    Args:
        consul: The Consul cluster their store is on.
        prefix: Their store's prefix.
        workdir: Where the instances keep their files.
        names: The instances' names, one per site.
        first: The last byte of the first instance's address (``127.0.0.<first>``), the
            next ones following.
        vantages: Whether each instance probes from its own address, a vantage of its own
            whose disagreements show after a second.
    """

    def __init__(
        self,
        consul: ConsulCluster,
        prefix: str,
        workdir: Path,
        names: Sequence[str],
        *,
        first: int = 11,
        vantages: bool = False,
    ) -> None:
        self.consul = consul
        self.prefix = prefix
        self.port = site_port()
        self.sites: SiteFleet = start_fleet(self.port, SERVICE)
        doc = with_service(cluster_doc(consul, self.prefix, workdir), SERVICE, self.port)
        self.instances: list[GtmInstance] = []
        for n, name in enumerate(names):
            address = f"127.0.0.{first + n}"
            cluster = {**doc["cluster"], "probe_from": address, "disagree_after": "1s"}
            own = {**doc, "cluster": cluster} if vantages else doc
            self.instances.append(GtmInstance(workdir, name, address, own))

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
