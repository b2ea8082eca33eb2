"""``gtm demo --scenario release``: one site runs an older release, and readiness keeps
traffic off it.

``billing`` is ``readiness: strict`` in the demo config. With ``gcp-euw1`` one release
behind, a planned failover there is refused (dry run and real run alike, naming both
releases); when the active site dies, traffic skips ``gcp-euw1`` for ``dc-paris``, which
runs the active site's release; once ``gcp-euw1`` is upgraded, the planned failover goes
through.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from gtm.core.readiness import ServiceReleases
from gtm.core.runbook import RunKind, RunOptions, RunState
from gtm.demo.sites import SiteFleet
from gtm.demo.workload import DEFAULT_RELEASE
from gtm.errors import SafetyRefused
from gtm.runtime import Runtime

if TYPE_CHECKING:
    from gtm.demo.scenario import Demo

SERVICE = "billing"
OLD_SITE = "gcp-euw1"
"""The site that lags one release behind."""
OLD_RELEASE = "2.3.0"
WHO = "demo"


def stage(fleet: SiteFleet) -> None:
    """Start the lagging site on the older release (before the fleet starts)."""
    fleet[OLD_SITE].release = OLD_RELEASE


async def releases_read(
    runtime: Runtime, ready: bool = True, timeout: float = 30.0
) -> ServiceReleases:
    """The service's releases once every site's is read (and, unless ``ready``, while
    they drift; with ``ready``, once they agree)."""
    deadline = time.monotonic() + timeout
    while True:
        found = runtime.controller.releases(SERVICE)[0]
        read = all(release is not None for release in found.sites.values())
        if read and found.drift is not ready:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"demo: releases of {SERVICE} still {found.describe()}")
        await asyncio.sleep(0.05)


async def play(demo: Demo) -> int:
    """Refused planned failover, automatic move around the old site, upgrade, failover."""
    runtime = demo.runtime
    releases = await releases_read(runtime, ready=False)
    print(f"\n1. {SERVICE} is readiness: {releases.readiness.value}; {releases.describe()}")
    print(f"\n2. a planned failover of {SERVICE} to {OLD_SITE}, which runs {OLD_RELEASE}")
    for dry_run in (True, False):
        what = "dry run" if dry_run else "run"
        try:
            await runtime.runbooks.begin(
                RunKind.FAILOVER,
                SERVICE,
                OLD_SITE,
                "maintenance of the active site",
                WHO,
                RunOptions(dry_run=dry_run),
            )
        except SafetyRefused as exc:
            print(f"  {what} refused: {exc}")
        else:
            raise AssertionError(f"demo: the {what} to {OLD_SITE} was not refused")
    victim, chosen = await demo.kill_active("3. the active site dies")
    if chosen == OLD_SITE:
        raise AssertionError(f"demo: {SERVICE} moved to {OLD_SITE}, which runs {OLD_RELEASE}")
    print(f"  {SERVICE} skipped {OLD_SITE} ({OLD_RELEASE}) for {chosen} ({DEFAULT_RELEASE})")
    print(f"\n4. {OLD_SITE} is upgraded to {DEFAULT_RELEASE}, then failed over to as planned")
    demo.fleet[OLD_SITE].deploy(DEFAULT_RELEASE)
    releases = await releases_read(runtime, ready=True)
    print(f"  {releases.describe()}")
    run = await runtime.runbooks.begin(
        RunKind.FAILOVER, SERVICE, OLD_SITE, "upgraded", WHO, RunOptions(hold=1.0)
    )
    run = await runtime.runbooks.finished(run, timeout=60.0)
    print(f"  run {run.id}: {run.state.value}; {run.outcome}")
    if run.state is not RunState.DONE:
        raise AssertionError(f"demo: the planned failover to {OLD_SITE} ended {run.state.value}")
    demo.show("end")
    print(
        f"\nreadiness done: {victim} died, {OLD_SITE} was kept out until it ran {DEFAULT_RELEASE}."
    )
    print(f"journal: .venv/bin/gtm events --api http://127.0.0.1:{runtime.api_port}")
    return 0
