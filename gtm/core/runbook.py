"""A planned failover as data: its steps, their records, and the drain ramp.

The executor in ``gtm.controller.runbook`` does the waiting and the I/O; everything it
decides from values (which steps a run has, the ramp's shares, whether the target may be
used, what a run's summary says) lives here and is table-tested.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gtm.core.codec import mapping_from_dict, mapping_to_dict
from gtm.core.health import Verdict
from gtm.core.model import Mapping


class Step(enum.StrEnum):
    """The steps of a run, in order; ``rollback`` only runs when one fails."""

    PREFLIGHT = "preflight"
    LOWER_TTL = "lower-ttl"
    DRAIN = "drain"
    SWITCH = "switch"
    VERIFY = "verify"
    HOLD = "hold"
    ROLLBACK = "rollback"


class RunState(enum.StrEnum):
    """Where a run is: running, or one of its ends."""

    RUNNING = "running"
    DONE = "done"
    ROLLED_BACK = "rolled-back"
    REFUSED = "refused"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        """Whether the run has ended."""
        return self is not RunState.RUNNING


class RunKind(enum.StrEnum):
    """What a planned run does."""

    FAILOVER = "failover"
    """Moves a service to a chosen site, or to its next healthy one."""
    FAILBACK = "failback"
    """Moves a service back to its most preferred site."""
    EVACUATE = "evacuate"
    """Moves a service off a site, one run of an evacuation."""
    DRILL = "drill"
    """Moves a service to its next site and back, one run of a drill each way."""


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How a run is carried out."""

    drain: float = 0.0
    """Seconds over which traffic ramps from the old site to the new one; 0: no ramp."""
    lower_ttl: bool = False
    """Publish ``short_ttl`` first and wait out the TTL caches hold."""
    short_ttl: int = 5
    """The TTL published while the run moves the service, with ``lower_ttl``."""
    hold: float = 2.0
    """Seconds the new site must stay healthy after verification before the run is done."""
    verify_timeout: float = 10.0
    """Longest wait for DNS servers and load balancers to serve the new site."""
    force: bool = False
    """Skip the preflight refusal of an unhealthy target."""
    dry_run: bool = False
    """Describe the steps and changes without doing them."""
    replace_intents: bool = False
    """Withdraw a standing pin or freeze of the service when the run's own pin takes over,
    instead of refusing the run (see :func:`gtm.core.moves.screen`)."""


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One step as it ran: when, how it ended, and a one-sentence detail."""

    step: Step
    started_at: float
    finished_at: float | None = None
    ok: bool | None = None
    detail: str = ""

    @property
    def seconds(self) -> float | None:
        """How long the step took, once finished."""
        return None if self.finished_at is None else self.finished_at - self.started_at


@dataclass(frozen=True, slots=True)
class PlannedChange:
    """One item a provider would create, update or delete, in its short text form."""

    kind: str
    """``create``, ``update`` or ``delete``."""
    key: str
    before: str | None
    after: str | None


@dataclass(frozen=True, slots=True)
class ProviderPreview:
    """What one provider's system would change, or why it could not be read."""

    name: str
    changes: tuple[PlannedChange, ...] = ()
    error: str | None = None
    """Why the provider's system could not be observed; its changes are then unknown."""


@dataclass(frozen=True, slots=True)
class Preview:
    """What a run would do (``--dry-run``): its steps, the mapping it leaves, each
    provider's changes, and the intents it would replace."""

    steps: tuple[Step, ...]
    mapping: Mapping
    providers: tuple[ProviderPreview, ...] = ()
    replaces: tuple[str, ...] = ()
    """The standing intents the run would withdraw, each described with its id."""


@dataclass(frozen=True, slots=True)
class Run:
    """A planned move of one service to a site, as the registry keeps it."""

    id: str
    kind: str
    service: str
    from_site: str | None
    to_site: str
    reason: str
    who: str
    created_at: float
    options: RunOptions = RunOptions()
    state: RunState = RunState.RUNNING
    steps: tuple[StepRecord, ...] = ()
    intents: tuple[str, ...] = ()
    """Ids of the intents this run created and must remove when it ends."""
    abort_requested: bool = False
    revision: int = 0
    """Grows on every saved change, so watchers can long-poll a run."""
    outcome: str = ""
    served: dict[str, float] = field(default_factory=dict)
    """When each system was confirmed serving the new site: ``dns`` (gtm's own responder,
    on publication) and each provider (when the reconciler read it back holding it)."""
    owner: str = ""
    """The gtm instance carrying the run out (its ``instance`` name); empty in runs
    stored before runs recorded their owner."""
    preview: Preview | None = None
    """What a dry run would do; None for a run that was carried out."""

    @property
    def current(self) -> StepRecord | None:
        """The step running now, if any."""
        last = self.steps[-1] if self.steps else None
        return last if last is not None and last.finished_at is None else None

    def begin(self, step: Step, now: float, detail: str = "") -> Run:
        """This run with ``step`` started at ``now``."""
        return replace(self, steps=(*self.steps, StepRecord(step, now, detail=detail)))

    def note(self, detail: str) -> Run:
        """This run with the running step's detail replaced (progress)."""
        current = self.current
        if current is None:
            return self
        return replace(self, steps=(*self.steps[:-1], replace(current, detail=detail)))

    def end(self, now: float, ok: bool, detail: str | None = None) -> Run:
        """This run with the running step finished."""
        current = self.current
        if current is None:
            return self
        done = replace(
            current, finished_at=now, ok=ok, detail=current.detail if detail is None else detail
        )
        return replace(self, steps=(*self.steps[:-1], done))

    def finish(self, state: RunState, outcome: str) -> Run:
        """This run ended in ``state``."""
        return replace(self, state=state, outcome=outcome)


def steps_for(options: RunOptions) -> tuple[Step, ...]:
    """The steps a run with ``options`` goes through, in order."""
    steps = [Step.PREFLIGHT]
    if options.lower_ttl:
        steps.append(Step.LOWER_TTL)
    if options.drain > 0:
        steps.append(Step.DRAIN)
    steps += [Step.SWITCH, Step.VERIFY]
    if options.hold > 0:
        steps.append(Step.HOLD)
    return tuple(steps)


def ramp(drain: float, step: float = 0.5) -> list[tuple[float, int]]:
    """The drain ramp: (seconds after the start, percent of traffic on the new site).

    Traffic moves in equal steps about ``step`` seconds apart (at most 100 steps), ending
    at 100 % when ``drain`` seconds have passed.
    """
    if drain <= 0:
        return []
    count = max(1, min(100, math.ceil(drain / step)))
    return [(drain * i / count, round(100 * i / count)) for i in range(1, count + 1)]


def preflight(
    target: str,
    verdicts: Sequence[Verdict],
    fresh: Sequence[tuple[bool, str]],
    min_up: int,
) -> tuple[bool, str]:
    """Whether the target site may take the service: by verdicts and by fresh probes.

    Args:
        target: The site.
        verdicts: The verdicts of the service's locators there.
        fresh: ``(ok, reason)`` of one probe of each of them, taken just now.
        min_up: How many must be up (the site's ``min_healthy`` as a count).
    """
    up = sum(1 for verdict in verdicts if verdict is Verdict.UP)
    passed = sum(1 for ok, _ in fresh if ok)
    if up < min_up:
        return False, f"{target} has {up}/{len(verdicts)} locators up, {min_up} needed"
    if passed < min_up:
        failures = "; ".join(reason for ok, reason in fresh if not ok)
        return False, f"{target} passed {passed}/{len(fresh)} fresh probes ({failures})"
    return True, f"{target} healthy: {up}/{len(verdicts)} up, {passed}/{len(fresh)} fresh probes"


def recovers(run: Run, instance: str) -> bool:
    """Whether the gtm ``instance``, starting, rolls back ``run`` left unfinished.

    Only the run's owner does: another instance's run is still being carried out, or
    will be rolled back when its owner starts again. A run with no owner recorded was
    stored when one gtm served each store, so whoever starts on the store takes it.
    """
    return run.state is RunState.RUNNING and (not run.owner or run.owner == instance)


def summary(run: Run) -> str:
    """One line about a finished run: outcome, and each step with its duration."""
    parts = [
        f"{record.step.value} {record.seconds:.2f}s" + ("" if record.ok else " (failed)")
        for record in run.steps
        if record.seconds is not None
    ]
    total = (
        run.steps[-1].finished_at - run.steps[0].started_at
        if run.steps and run.steps[-1].finished_at is not None
        else 0.0
    )
    head = f"{run.kind} of {run.service} {run.from_site or '-'} -> {run.to_site}: {run.state.value}"
    return f"{head} in {total:.2f}s ({', '.join(parts)}); {run.outcome}"


def run_to_dict(run: Run) -> dict[str, Any]:
    """A run as a JSON document (the registry's and the API's form)."""
    return {
        "id": run.id,
        "kind": run.kind,
        "service": run.service,
        "from_site": run.from_site,
        "to_site": run.to_site,
        "reason": run.reason,
        "who": run.who,
        "created_at": run.created_at,
        "options": {
            "drain": run.options.drain,
            "lower_ttl": run.options.lower_ttl,
            "short_ttl": run.options.short_ttl,
            "hold": run.options.hold,
            "verify_timeout": run.options.verify_timeout,
            "force": run.options.force,
            "dry_run": run.options.dry_run,
            "replace_intents": run.options.replace_intents,
        },
        "state": run.state.value,
        "steps": [
            {
                "step": r.step.value,
                "started_at": r.started_at,
                "finished_at": r.finished_at,
                "seconds": r.seconds,
                "ok": r.ok,
                "detail": r.detail,
            }
            for r in run.steps
        ],
        "intents": list(run.intents),
        "abort_requested": run.abort_requested,
        "revision": run.revision,
        "outcome": run.outcome,
        "served": dict(run.served),
        "owner": run.owner,
        "preview": None if run.preview is None else preview_to_dict(run.preview),
    }


def preview_to_dict(preview: Preview) -> dict[str, Any]:
    """A dry run's preview as a JSON document."""
    return {
        "steps": [step.value for step in preview.steps],
        "mapping": mapping_to_dict(preview.mapping),
        "providers": [
            {
                "name": provider.name,
                "changes": [
                    {"kind": c.kind, "key": c.key, "before": c.before, "after": c.after}
                    for c in provider.changes
                ],
                "error": provider.error,
            }
            for provider in preview.providers
        ],
        "replaces": list(preview.replaces),
    }


def preview_from_dict(doc: dict[str, Any]) -> Preview:
    """The inverse of :func:`preview_to_dict`."""
    return Preview(
        steps=tuple(Step(step) for step in doc["steps"]),
        mapping=mapping_from_dict(doc["mapping"]),
        providers=tuple(
            ProviderPreview(
                name=str(item["name"]),
                changes=tuple(
                    PlannedChange(str(c["kind"]), str(c["key"]), c.get("before"), c.get("after"))
                    for c in item.get("changes", [])
                ),
                error=item.get("error"),
            )
            for item in doc.get("providers", [])
        ),
        replaces=tuple(str(text) for text in doc.get("replaces", [])),
    )


def run_from_dict(doc: dict[str, Any]) -> Run:
    """The inverse of :func:`run_to_dict`."""
    options = doc.get("options", {})
    return Run(
        id=str(doc["id"]),
        kind=RunKind(doc["kind"]),
        service=str(doc["service"]),
        from_site=doc.get("from_site"),
        to_site=str(doc["to_site"]),
        reason=str(doc.get("reason", "")),
        who=str(doc.get("who", "")),
        created_at=float(doc["created_at"]),
        options=RunOptions(
            drain=float(options.get("drain", 0.0)),
            lower_ttl=bool(options.get("lower_ttl", False)),
            short_ttl=int(options.get("short_ttl", 5)),
            hold=float(options.get("hold", 2.0)),
            verify_timeout=float(options.get("verify_timeout", 10.0)),
            force=bool(options.get("force", False)),
            dry_run=bool(options.get("dry_run", False)),
            replace_intents=bool(options.get("replace_intents", False)),
        ),
        state=RunState(doc.get("state", "running")),
        steps=tuple(
            StepRecord(
                step=Step(r["step"]),
                started_at=float(r["started_at"]),
                finished_at=None if r.get("finished_at") is None else float(r["finished_at"]),
                ok=r.get("ok"),
                detail=str(r.get("detail", "")),
            )
            for r in doc.get("steps", [])
        ),
        intents=tuple(str(i) for i in doc.get("intents", [])),
        abort_requested=bool(doc.get("abort_requested", False)),
        revision=int(doc.get("revision", 0)),
        outcome=str(doc.get("outcome", "")),
        served={str(k): float(v) for k, v in doc.get("served", {}).items()},
        owner=str(doc.get("owner", "")),
        preview=None if doc.get("preview") is None else preview_from_dict(doc["preview"]),
    )
