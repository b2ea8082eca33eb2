"""gtm keeping Route 53 records and ALB listener weights in step, against a local AWS (moto).

Starts three simulated sites and a moto server on loopback, creates a hosted zone and an
Application Load Balancer (a listener per service, a target group per site), writes their
ids into a generated config, and starts gtm with its route53 and elbv2 providers. With
``--scenario`` it kills the site serving ``billing`` and shows the records and weights
following, with timings, then exits; without, it runs until Ctrl-C. Everything it starts
is stopped on the way out.

    .venv/bin/python examples/aws/run.py [--scenario] [--free-ports] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from gtm.config.loader import load_config
from gtm.config.models import Config
from gtm.core.model import Event, Mapping
from gtm.demo.scenario import fleet_for
from gtm.demo.sites import SiteFleet
from gtm.runtime import Runtime
from testbed.example import run_example, wait_converged
from testbed.moto import MotoServer, client, create_alb, create_hosted_zone
from testbed.ports import with_free_ports

HERE = Path(__file__).resolve().parent
SERVICE = "billing"
POLL_S = 0.01
"""How often Route 53 and the load balancer are read during the scenario."""
READY_TIMEOUT = 30.0
"""Longest wait for the records and weights to hold the first mappings, or a move."""


def generated_config(workdir: Path, free: bool, moto: MotoServer) -> dict[str, Any]:
    """gtm.yaml with the hosted zone, the ARNs and moto's endpoint filled in."""
    doc: dict[str, Any] = yaml.safe_load((HERE / "gtm.yaml").read_text())
    doc["store"]["path"] = str(workdir / "gtm.db")
    if free:
        doc = with_free_ports(doc)
    endpoint = moto.endpoint_url
    services = list(doc["services"])
    sites = list(doc["sites"])
    r53, alb = doc["providers"]["r53"], doc["providers"]["alb"]
    r53["endpoint_url"] = alb["endpoint_url"] = endpoint
    r53["hosted_zone_id"] = create_hosted_zone(endpoint, doc["zone"])
    alb["listeners"], alb["target_groups"] = create_alb(endpoint, services, sites)
    return doc


class Aws:
    """Reads what AWS (moto) holds, the way a client of the account would see it."""

    def __init__(self, config: Config) -> None:
        r53 = config.providers["r53"]
        alb = config.providers["alb"]
        assert r53.type == "route53" and alb.type == "elbv2"
        assert r53.endpoint_url is not None and alb.endpoint_url is not None
        self.zone_id = r53.hosted_zone_id
        self.route53 = client(r53.endpoint_url, "route53")
        self.elbv2 = client(alb.endpoint_url, "elbv2")
        self.listeners = alb.listeners
        self.site_of = {
            arn: site for groups in alb.target_groups.values() for site, arn in groups.items()
        }

    def records(self, fqdn: str) -> dict[str, tuple[int, str]]:
        """The weighted A record sets of ``fqdn``: site -> (weight, addresses)."""
        answer = self.route53.list_resource_record_sets(
            HostedZoneId=self.zone_id, StartRecordName=fqdn, StartRecordType="A"
        )
        found: dict[str, tuple[int, str]] = {}
        for record in answer["ResourceRecordSets"]:
            if record["Name"] == fqdn and record["Type"] == "A":
                values = " ".join(r["Value"] for r in record.get("ResourceRecords", []))
                found[record.get("SetIdentifier", "-")] = (int(record.get("Weight", 0)), values)
        return found

    def weights(self, service: str) -> dict[str, int]:
        """The listener's forward weights by site."""
        arn = self.listeners[service]
        [listener] = self.elbv2.describe_listeners(ListenerArns=[arn])["Listeners"]
        action = listener["DefaultActions"][-1]
        groups = action.get("ForwardConfig", {}).get("TargetGroups", [])
        return {self.site_of[g["TargetGroupArn"]]: int(g.get("Weight", 1)) for g in groups}


def heaviest(weights: dict[str, int]) -> str | None:
    """The site with all the weight, when exactly one has any."""
    loaded = [site for site, weight in weights.items() if weight > 0]
    return loaded[0] if len(loaded) == 1 else None


class Example:
    """The running parts, and what the example prints about them."""

    def __init__(
        self, config: Config, runtime: Runtime, moto: MotoServer, fleet: SiteFleet, path: Path
    ) -> None:
        self.config = config
        self.runtime = runtime
        self.moto = moto
        self.fleet = fleet
        self.config_path = path
        self.aws = Aws(config)

    def fqdn(self, service: str) -> str:
        """The service's name in the hosted zone."""
        return f"{service}.{self.config.zone}"

    def mapping(self, service: str) -> Mapping:
        """The service's current mapping."""
        mapping = self.runtime.registry.get(service)
        assert mapping is not None, f"{service} has no mapping yet"
        return mapping

    async def route53_site(self, service: str) -> str | None:
        """The site Route 53 gives all of ``service``'s weight to, if exactly one."""
        records = await asyncio.to_thread(self.aws.records, self.fqdn(service))
        return heaviest({site: weight for site, (weight, _) in records.items()})

    async def alb_site(self, service: str) -> str | None:
        """The site the load balancer sends all of ``service``'s traffic to, if exactly one."""
        return heaviest(await asyncio.to_thread(self.aws.weights, service))

    def banner(self) -> None:
        """Where everything is, and what to type to look."""
        r53 = self.config.providers["r53"]
        assert r53.type == "route53"
        api = f"http://{self.config.api.listen.host}:{self.runtime.api_port}"
        print(
            "gtm + Route 53 + ALB (moto): 3 simulated sites, services "
            + ", ".join(self.config.services)
        )
        for site in self.fleet.sites.values():
            print(f"  site {site.name:<9} {site.address}  workloads {site.ports}")
        print(f"  moto     {self.moto.endpoint_url} (pid {self.moto.pid})")
        print(f"  Route 53 hosted zone {r53.hosted_zone_id} ({self.config.zone}), weighted records")
        for service, arn in self.aws.listeners.items():
            print(f"  ALB      {service} listener {arn}")
        print(f"  gtm      DNS 127.0.0.1:{self.runtime.dns_port}, API {api}")
        print("\nTry, in another terminal:")
        print(f"  curl -s {api}/v1/providers")
        print(f"  .venv/bin/gtm plan -c {self.config_path}   # with EXAMPLE_AWS_* set to 'testing'")
        print(f"  .venv/bin/gtm events --api {api} --kind provider")
        print(flush=True)

    async def show(self, label: str, *, decided: bool = True) -> None:
        """One line per service: where gtm (once ``decided``), Route 53 and the ALB send it."""
        for service in self.config.services:
            where = "not started"
            if decided:
                mapping = self.mapping(service)
                where = f"{mapping.active_site} (epoch {mapping.epoch})"
            records = await asyncio.to_thread(self.aws.records, self.fqdn(service))
            weights = await asyncio.to_thread(self.aws.weights, service)
            shown = " ".join(
                f"{site}={weight}({values})" for site, (weight, values) in sorted(records.items())
            )
            print(
                f"  [{label}] {service:<8} gtm: {where} | "
                f"Route 53 A: {shown or 'none'} | "
                f"ALB weights: {' '.join(f'{s}={w}' for s, w in weights.items())}"
            )

    async def following(self, service: str, site: str) -> tuple[float, float]:
        """Poll Route 53 and the ALB until both send ``service`` to ``site``; when each did."""

        async def until(read: Any) -> float:
            while await read(service) != site:
                await asyncio.sleep(POLL_S)
            return time.time()

        async with asyncio.timeout(READY_TIMEOUT):
            route53, alb = await asyncio.gather(until(self.route53_site), until(self.alb_site))
        return route53, alb

    async def converge(self) -> None:
        """Wait until gtm decided, and AWS holds, every service's active site."""
        await wait_converged(self.runtime, self.following, READY_TIMEOUT)

    async def scenario(self) -> int:
        """Kill the site serving billing; show Route 53 and the ALB following, with timings."""
        before = self.mapping(SERVICE)
        victim = before.active_site
        assert victim is not None
        others = {s: self.mapping(s).active_site for s in self.config.services if s != SERVICE}
        print(f"\nkilling {victim}, where {SERVICE} runs (SIGKILL of its workload process)")
        t0 = time.time()
        self.fleet[victim].kill()
        async with asyncio.timeout(READY_TIMEOUT):
            while self.mapping(SERVICE).epoch == before.epoch:
                await asyncio.sleep(POLL_S)
        after = self.mapping(SERVICE)
        target = after.active_site
        assert target is not None
        seen_route53, seen_alb = await self.following(SERVICE, target)
        move, providers = await self.events(after)
        steps: list[tuple[str, float]] = [("site killed", t0)]
        steps += [(name.replace("_", " "), at) for name, at in move.timeline.items()]
        for event in providers:
            steps += [
                (f"{event.actor}: applied", event.timeline["applied"]),
                (f"{event.actor}: verified", event.timeline["verified"]),
            ]
        steps += [
            (f"Route 53 weights {target} 100", seen_route53),
            (f"ALB forwards to {target}", seen_alb),
        ]
        for name, at in sorted(steps, key=lambda step: step[1]):
            print(f"    +{(at - t0) * 1000:8.1f} ms  {name}")
        published = move.timeline["published"]
        print(
            "  from gtm's published decision: Route 53 after "
            f"{(seen_route53 - published) * 1000:.1f} ms, "
            f"ALB after {(seen_alb - published) * 1000:.1f} ms "
            f"(both read every {POLL_S * 1000:g} ms)"
        )
        await self.show("after")
        moved = {s: self.mapping(s).active_site for s in others}
        if moved != others:
            print(f"unexpected: other services moved too: {others} -> {moved}")
            return 1
        print(
            f"\nscenario done: {SERVICE} moved {victim} -> {target}; Route 53 and the ALB "
            f"followed, {', '.join(others) or 'no other service'} stayed where it was."
        )
        return 0

    async def events(self, mapping: Mapping) -> tuple[Event, list[Event]]:
        """The move that made ``mapping`` and the provider events that carried it out."""
        async with asyncio.timeout(READY_TIMEOUT):
            while True:
                events = await self.runtime.registry.events(service=SERVICE, limit=50)
                mine = [e for e in events if e.version == mapping.version]
                move = next((e for e in mine if e.kind == "move"), None)
                providers = [e for e in mine if e.kind == "provider"]
                if move is not None and len(providers) == len(self.config.providers):
                    return move, providers
                await asyncio.sleep(0.02)


async def run(args: argparse.Namespace) -> int:
    """Start everything, show it, play the scenario or wait; stop everything."""
    workdir = Path(args.workdir).resolve()
    shutil.rmtree(workdir, ignore_errors=True)  # a fresh store each run
    workdir.mkdir(parents=True)
    os.environ.setdefault("GTM_TOKEN", "example-token")
    os.environ.setdefault("EXAMPLE_AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("EXAMPLE_AWS_SECRET_ACCESS_KEY", "testing")
    moto = MotoServer(workdir / "moto")
    fleet: SiteFleet | None = None
    runtime: Runtime | None = None
    try:
        await asyncio.to_thread(moto.start)
        doc = await asyncio.to_thread(generated_config, workdir, args.free_ports, moto)
        config_path = workdir / "gtm.yaml"
        config_path.write_text(yaml.safe_dump(doc, sort_keys=False))
        config = load_config(config_path)
        fleet = fleet_for(config)
        fleet.start()
        runtime = Runtime(config)
        example = Example(config, runtime, moto, fleet, config_path)
        print("As created, the ALB forwards every service to its first target group:")
        await example.show("created", decided=False)
        await runtime.start()
        print()
        example.banner()
        await example.converge()
        await example.show("start")
        if args.scenario:
            return await example.scenario()
        print("\nRunning; kill a site and watch. Ctrl-C stops.")
        await asyncio.Event().wait()
        return 0
    finally:
        if runtime is not None:
            await runtime.stop()
        if fleet is not None:
            fleet.stop()
        moto.stop()


def main() -> int:
    """Parse the arguments and run until done, or until Ctrl-C or SIGTERM."""
    return run_example(
        run, __doc__.split("\n\n")[0], HERE / "var", "stopped; moto, the sites and gtm are down"
    )


if __name__ == "__main__":
    sys.exit(main())
