"""A local AWS (moto in server mode) for demos and tests of the Route 53 and ELBv2 providers.

The providers talk to it exactly as to AWS, over HTTP with boto3, so a test exercises
request building, pagination and error parsing for real. :class:`MotoServer` runs it as a
child process on a loopback port; the helpers create what an AWS account would already
hold (a hosted zone; an ALB with a listener and target groups per service).
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import boto3

from gtm.demo.ports import free_port
from gtm.demo.sites import die_with_parent

HOST = "127.0.0.1"
REGION = "us-east-1"
DUMMY_KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
"""moto accepts any keys; passing these explicitly keeps ~/.aws and AWS_* out of the way."""
START_ATTEMPTS = 3
"""Starts on a fresh port before giving up, when the server exits at once."""


def _command() -> list[str]:
    script = Path(sys.executable).parent / "moto_server"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "moto.server"]


class MotoServer:
    """``moto_server`` on a free loopback port; stopped by its PID, never by name.

    Use as a context manager, or call :meth:`start` and :meth:`stop` (idempotent).
    """

    def __init__(self) -> None:
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        """The URL to give boto3 as ``endpoint_url``."""
        return f"http://{HOST}:{self.port}"

    @property
    def alive(self) -> bool:
        """Whether the server process is running."""
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 60.0) -> None:
        """Start the server on a free port and wait until it answers HTTP.

        The port is chosen just before the server binds it; if the server exits at once
        (another process took the port meanwhile), it is started again on another port,
        up to :data:`START_ATTEMPTS` times.

        Raises:
            RuntimeError: It exited or did not answer within ``timeout`` seconds; the
                message ends with its output.
        """
        if self.alive:
            return
        deadline = time.monotonic() + timeout
        attempt = 0
        while True:
            attempt += 1
            try:
                answered = self._start_once(deadline)
            except BaseException:
                self.stop()
                raise
            if answered:
                return
            output = self.output()
            self.stop()
            if attempt >= START_ATTEMPTS or time.monotonic() > deadline:
                raise RuntimeError(
                    f"moto: server on {self.endpoint_url} did not start within {timeout:g} s "
                    f"({attempt} attempt(s)): {output[-2000:]}"
                )

    def _start_once(self, deadline: float) -> bool:
        """Run the server on a fresh port; whether it answered before it exited or ``deadline``."""
        self.port = free_port(HOST)
        # A file, not a pipe: the server logs every request, and a pipe nobody reads
        # would fill up and stall it. It lives as long as the server, so stop() closes it.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115
        self.process = subprocess.Popen(
            [*_command(), "-H", HOST, "-p", str(self.port)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        while not self._answers():
            if not self.alive or time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def _answers(self) -> bool:
        """Whether the server answers HTTP; any failure on the way means not yet."""
        try:
            with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=2) as answer:
                answer.read()
        except urllib.error.HTTPError:
            return True
        except (OSError, http.client.HTTPException, ValueError):
            return False
        return True

    def output(self) -> str:
        """What the server has written so far (its request log and errors)."""
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def stop(self) -> None:
        """SIGTERM the server by PID, SIGKILL it after 5 s; does nothing when stopped."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> MotoServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


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
