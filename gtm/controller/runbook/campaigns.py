"""Runs of many: evacuating a site (one run per service on it) and drilling a service
(there and back), each run carried out as any other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from gtm.core.model import Mapping
from gtm.core.runbook import Run, RunKind, RunOptions, RunState
from gtm.errors import Rejected
from healthchecks.clock import Clock


class Mover(Protocol):
    """Starts runs and waits for them to end (the runbooks do)."""

    async def begin(
        self,
        kind: RunKind,
        service: str,
        to_site: str | None,
        reason: str,
        who: str,
        options: RunOptions,
    ) -> Run:
        """Start a run (or, with ``dry_run``, describe it)."""
        ...

    async def finished(self, run: Run, timeout: float = 3600.0) -> Run:
        """Wait until ``run`` has ended; return it as stored."""
        ...


async def evacuate(
    mover: Mover,
    mappings: Sequence[Mapping],
    site: str,
    reason: str,
    who: str,
    options: RunOptions,
    clock: Clock,
    parallel: int = 8,
) -> list[Run]:
    """Move every service active on ``site`` to its next healthy site; wait for all.

    At most ``parallel`` runs go at once. A service that cannot move (no healthy site, a
    run already going) is reported as a refused run rather than stopping the others.

    Args:
        mover: Starts the runs.
        mappings: Every current mapping.
        site: The site to empty.
        reason: Why, for every run.
        who: Who asked.
        options: How every run is carried out.
        clock: Wall time, for when a run was refused.
        parallel: Most runs at once.
    """
    services = [m.service for m in mappings if m.active_site == site]
    gate = asyncio.Semaphore(max(1, parallel))

    async def move(service: str) -> Run:
        async with gate:
            try:
                run = await mover.begin(RunKind.EVACUATE, service, None, reason, who, options)
            except Rejected as exc:
                return Run(
                    id="-",
                    kind=RunKind.EVACUATE,
                    service=service,
                    from_site=site,
                    to_site="-",
                    reason=reason,
                    who=who,
                    created_at=clock.wall(),
                    options=options,
                    state=RunState.REFUSED,
                    outcome=str(exc),
                )
            return await mover.finished(run)

    return list(await asyncio.gather(*(move(service) for service in services)))


async def drill(
    mover: Mover, service: str, reason: str, who: str, options: RunOptions
) -> list[Run]:
    """A rehearsal: move ``service`` to the next site, then back; both runs, timed.

    A dry run previews the way there only: the way back starts from where that run would
    leave the service, which no registry holds yet.
    """
    there = await mover.finished(
        await mover.begin(RunKind.DRILL, service, None, f"drill: {reason}", who, options)
    )
    if there.state is not RunState.DONE or there.from_site is None or options.dry_run:
        return [there]
    back = await mover.begin(
        RunKind.DRILL, service, there.from_site, f"drill back: {reason}", who, options
    )
    return [there, await mover.finished(back)]
