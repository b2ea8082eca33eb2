"""``gtm plan`` and ``gtm apply``: one reconcile pass per provider, on demand.

They read the mappings from the same store a running gtm uses, so an operator can see
what a provider's system lacks, and push it, without going through the running instance.
That is why they open the store without claiming it (see
:func:`gtm.controller.plans.store_for`): a running gtm holds the claim, and they work
beside it.
"""

from __future__ import annotations

from gtm.config.models import Config
from gtm.config.preflight import preflight
from gtm.controller.plans import store_for
from gtm.controller.reconciler import PassResult, Reconciler
from gtm.errors import GtmError
from gtm.providers import build_provider
from gtm.registry.registry import Registry


async def plan_providers(config: Config, only: list[str] | None, force: bool, apply: bool) -> int:
    """Print each provider's plan (and apply it when ``apply``); returns an exit code.

    Exit code 0 when every selected provider holds the mappings (after applying, if
    asked), 1 when a provider failed or the safety rule refused a change.

    Raises:
        ConfigError: A secret of a selected provider cannot be read or is unusable;
            ``problems`` lists every one.
        StoreUnavailable: The store cannot be opened.
    """
    names = [name for name in config.providers if not only or name in only]
    unknown = sorted(set(only or ()) - set(config.providers))
    if unknown:
        known = ", ".join(config.providers) or "none configured"
        print(f"gtm: no provider {', '.join(unknown)}; known providers: {known}")
        return 1
    if not names:
        print("no providers configured: nothing to plan (see 'providers' in the config)")
        return 0
    # Every secret of the chosen providers at once, before anything is opened.
    preflight(config, within=[("providers", name) for name in names])
    providers = [build_provider(n, config.providers[n], config.zone) for n in names]
    store = store_for(config)
    try:
        # One pass over the mappings as they are now: nothing to follow.
        registry = await Registry.open(store, config.instance, follow_store=False)
    except BaseException:
        await store.close()
        raise
    reconciler = Reconciler(providers, registry)
    failed = False
    try:
        for name in names:
            try:
                if apply:
                    result = await reconciler.run_pass(name, force=force, resync=True)
                else:
                    result = await reconciler.plan(name, force=force)
            except GtmError as exc:
                print(f"{name}: error: {exc}")
                failed = True
                continue
            failed |= _report(name, result, apply)
    finally:
        await reconciler.stop()
        await registry.close()
    return 1 if failed else 0


def _report(name: str, result: PassResult, applied: bool) -> bool:
    refused = {refusal.service for refusal in result.refused}
    allowed = [c for c in result.changes if c.service not in refused]
    verb = "applied" if applied else "to apply"
    if not result.changes:
        print(f"{name}: in step with the mappings, no changes")
    else:
        print(f"{name}: {len(allowed)} change(s) {verb}")
        for change in allowed:
            print(f"  {change.describe()}")
    for refusal in result.refused:
        print(f"  refused: {refusal.message}")
    if applied and result.remaining:
        print(f"  not visible after apply: {', '.join(c.key for c in result.remaining)}")
    return bool(result.refused) or (applied and bool(result.remaining))
