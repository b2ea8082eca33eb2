"""A dry run: the steps a run would take, the mapping it leaves, each provider's changes.

The mapping is the core's :func:`gtm.core.moves.outcome`, the one the controller will
publish, and the providers diff its content against what their systems hold, so the
preview lists the changes the real run then makes.
"""

from __future__ import annotations

from gtm.controller.reconciler import Reconciler
from gtm.controller.runbook.situation import Situation
from gtm.core.changes import diff, render
from gtm.core.model import Mapping
from gtm.core.moves import describe
from gtm.core.runbook import PlannedChange, Preview, ProviderPreview, Run, steps_for
from gtm.errors import GtmError
from gtm.providers.base import managed


async def preview(situation: Situation, reconciler: Reconciler, run: Run) -> Preview:
    """What ``run`` would do, with each provider's system observed now.

    Raises:
        StepFailed: The service has no mapping.
    """
    after = situation.outcome(run)
    replaced = situation.screen(run.service, run.to_site, run.options, run.intents).replaced
    providers: list[ProviderPreview] = []
    for name, provider in reconciler.providers.items():
        if provider.services and run.service not in provider.services:
            continue
        try:
            observed = await provider.observe()
        except GtmError as exc:
            providers.append(ProviderPreview(name, error=str(exc)))
            continue
        desired = provider.desired(managed([after], provider.services))
        mine = {k: v for k, v in observed.items() if v.service == run.service}
        changes = tuple(
            PlannedChange(
                change.kind.value,
                change.key,
                None if change.before is None else render(change.before),
                None if change.after is None else render(change.after),
            )
            for change in diff(desired, mine)
        )
        providers.append(ProviderPreview(name, changes))
    return Preview(
        steps_for(run.options),
        after,
        tuple(providers),
        tuple(describe(intent) for intent in replaced),
    )


def explain(run: Run, before: Mapping, preview: Preview) -> str:
    """A dry run's outcome: ``preview`` of ``run`` from ``before``, in lines an operator reads."""
    after = preview.mapping
    ranks = sorted({loc.site: loc.priority for loc in after.locators}.items(), key=lambda kv: kv[1])
    lines = [
        f"would move {run.service} from {run.from_site} to {run.to_site} "
        f"(epoch {before.epoch} -> {after.epoch}); steps: "
        + ", ".join(step.value for step in preview.steps),
        f"mapping: active {after.active_site}; priorities "
        + ", ".join(f"{site} {rank}" for site, rank in ranks),
    ]
    if after.active_site != run.to_site:
        lines.append(f"the move would not hold: {after.reason}")
    lines += [f"replaces {text}" for text in preview.replaces]
    for provider in preview.providers:
        if provider.error is not None:
            lines.append(f"{provider.name}: cannot observe: {provider.error}")
            continue
        lines.append(f"{provider.name}: {len(provider.changes)} change(s)")
        lines += [f"  {_change_line(change)}" for change in provider.changes]
    return "\n".join(lines)


def _change_line(change: PlannedChange) -> str:
    """One change as ``gtm plan`` shows it: ``~ key: before -> after``."""
    sign = {"create": "+", "update": "~", "delete": "-"}.get(change.kind, "?")
    if change.before is None:
        return f"{sign} {change.key}: {change.after}"
    if change.after is None:
        return f"{sign} {change.key}: {change.before}"
    return f"{sign} {change.key}: {change.before} -> {change.after}"
