"""A local AWS (moto in server mode) for the tests and examples of the Route 53 and ELBv2
providers.

The providers talk to it exactly as to AWS, over HTTP with boto3, so a test exercises
request building, pagination and error parsing for real. :class:`MotoServer` runs it as a
child process on a loopback port; the helpers create what an AWS account would already
hold (a hosted zone; an ALB with a listener and target groups per service).
"""

from __future__ import annotations

import http.client
import sys
import tempfile
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import boto3

from testbed.ports import free_port
from testbed.process import ManagedProcess

HOST = "127.0.0.1"
REGION = "us-east-1"
DUMMY_KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
"""moto accepts any keys; passing these explicitly keeps ~/.aws and AWS_* out of the way."""


def _command() -> list[str]:
    script = Path(sys.executable).parent / "moto_server"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "moto.server"]


class MotoServer(ManagedProcess):
    """``moto_server`` on a free loopback port; stopped by its PID, never by name.

    The port is chosen just before the server binds it; if the server exits at once
    (another process took the port meanwhile), it is started again on a fresh port.

    Args:
        workdir: Where its output (``moto.log``, a line per request) goes; default: a
            temporary directory removed with this object.
    """

    start_timeout = 60.0
    start_attempts = 3

    def __init__(self, workdir: Path | None = None) -> None:
        super().__init__()
        self.port = 0
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="gtm-moto-")
            workdir = Path(self._scratch.name)
        self.workdir = workdir

    @property
    def endpoint_url(self) -> str:
        """The URL to give boto3 as ``endpoint_url``."""
        return f"http://{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        """The server's output: its request log and errors."""
        return self.workdir / "moto.log"

    def describe(self) -> str:
        """``moto: server on http://127.0.0.1:PORT``, as error messages start."""
        return f"moto: server on {self.endpoint_url}"

    def _prepare(self) -> list[str]:
        """A fresh port; the server on it."""
        self.port = free_port(HOST)
        return [*_command(), "-H", HOST, "-p", str(self.port)]

    def _probe(self) -> str | None:
        """None once the server answers HTTP (any status); any failure on the way means not yet."""
        try:
            with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=2) as answer:
                answer.read()
        except urllib.error.HTTPError:
            return None
        except (OSError, http.client.HTTPException, ValueError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None


def client(endpoint: str, service: str) -> Any:
    """A boto3 client for ``service`` on the moto server at ``endpoint``, with dummy keys."""
    return boto3.session.Session().client(
        service, region_name=REGION, endpoint_url=endpoint, **DUMMY_KEYS
    )


def create_hosted_zone(endpoint: str, zone: str) -> str:
    """Create a public hosted zone named ``zone``; returns its id (``Z…``, no prefix)."""
    answer = client(endpoint, "route53").create_hosted_zone(
        Name=zone, CallerReference=uuid.uuid4().hex
    )
    zone_id: str = answer["HostedZone"]["Id"]
    return zone_id.removeprefix("/hostedzone/")


def create_alb(
    endpoint: str, services: list[str], sites: list[str]
) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Create a VPC, two subnets, an ALB, a target group per (service, site) and a listener
    per service forwarding to all its groups (the first site at weight 1, the others 0).

    Names get a random suffix, so several calls share one server without clashing.

    Returns:
        The listener ARN per service, and the target group ARN per service and site.
    """
    ec2 = client(endpoint, "ec2")
    elbv2 = client(endpoint, "elbv2")
    suffix = uuid.uuid4().hex[:6]
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{n}.0/24", AvailabilityZone=f"{REGION}{az}")[
            "Subnet"
        ]["SubnetId"]
        for n, az in ((1, "a"), (2, "b"))
    ]
    balancer = elbv2.create_load_balancer(
        Name=f"gtm-{suffix}", Subnets=subnets, Scheme="internal", Type="application"
    )["LoadBalancers"][0]["LoadBalancerArn"]
    listeners: dict[str, str] = {}
    groups: dict[str, dict[str, str]] = {}
    for port, service in enumerate(services, 8080):
        groups[service] = {
            site: elbv2.create_target_group(
                # Target group names: at most 32 characters, letters, digits and hyphens.
                Name=f"{service}-{site}"[:25] + f"-{suffix}",
                Protocol="HTTP",
                Port=80,
                VpcId=vpc,
                TargetType="ip",
            )["TargetGroups"][0]["TargetGroupArn"]
            for site in sites
        }
        tuples = [
            {"TargetGroupArn": arn, "Weight": 1 if n == 0 else 0}
            for n, arn in enumerate(groups[service].values())
        ]
        listeners[service] = elbv2.create_listener(
            LoadBalancerArn=balancer,
            Protocol="HTTP",
            Port=port,
            DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": tuples}}],
        )["Listeners"][0]["ListenerArn"]
    return listeners, groups
