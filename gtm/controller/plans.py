"""Translate the validated config into what the core and the probers take.

The core and ``healthchecks`` know nothing of pydantic or YAML; this is the one place that
maps config fields onto ``ServicePolicy`` and ``HealthParams``, and groups the probes that
:mod:`gtm.controller.probing` builds from each check section.
"""

from __future__ import annotations

from typing import Any

from gtm.config.burst import FROM_PROVIDER
from gtm.config.models import Config, ServiceConfig
from gtm.controller.controller import ServicePlan
from gtm.controller.load_reading import LoadSource
from gtm.controller.probing import build_prober
from gtm.core.burst import BurstParams, Metric
from gtm.core.health import HealthParams
from gtm.core.policy import AllDown, Failback, LocatorSpec, PolicyKind, ServicePolicy
from gtm.core.readiness import Readiness
from gtm.errors import ConfigError, StoreInUse
from gtm.providers.base import Provider
from gtm.providers.haproxy import Haproxy
from gtm.registry.store import Store
from gtm.registry.stores import open_store
from healthchecks import HttpClient
from healthchecks.scheduler import Check


def plan_services(config: Config) -> dict[str, ServicePlan]:
    """One plan per configured service: its policy, health parameters and site rule."""
    return {name: _plan(name, service) for name, service in config.services.items()}


def _plan(name: str, service: ServiceConfig) -> ServicePlan:
    check = service.check
    policy = ServicePolicy(
        service=name,
        sites=service.sites,
        locators=tuple(
            LocatorSpec(loc.id_in(name), loc.site, loc.address, loc.port, loc.weight)
            for loc in service.locators
        ),
        policy=PolicyKind(service.policy),
        ttl=service.ttl,
        all_down=AllDown(service.all_down),
        failback=Failback(service.failback),
        dwell=service.dwell,
        readiness=Readiness(service.readiness),
    )
    damping = service.damping
    health = HealthParams(
        rise=check.rise,
        fall=check.fall,
        recheck_interval=check.recheck_interval,
        damping=damping.enabled,
        damping_penalty=damping.penalty,
        damping_half_life=damping.half_life,
        damping_suppress=damping.suppress,
        damping_reuse=damping.reuse,
    )
    burst = service.burst_settings
    bursting = (
        BurstParams(
            metric=Metric(burst.metric),
            above=burst.start_level,
            below=burst.stop_level,
            window=burst.window,
            calm=burst.calm,
            hold=burst.hold,
            ramp=burst.ramp,
            share=burst.share,
            steps=burst.steps,
        )
        if policy.policy is PolicyKind.BURST
        else None
    )
    return ServicePlan(
        policy=policy, health=health, min_healthy=service.min_healthy, burst=bursting
    )


def load_sources(config: Config, providers: dict[str, Provider[Any]]) -> list[LoadSource]:
    """Where each service bursting on a load balancer's figure reads it.

    Raises:
        ConfigError: The provider a ``burst`` section names is not an haproxy one (the
            config's validation refuses that first; this guards hand-built configs).
    """
    sources: list[LoadSource] = []
    for name, service in config.services.items():
        burst = service.burst
        if service.policy != "burst" or burst is None or burst.metric not in FROM_PROVIDER:
            continue
        provider = providers.get(burst.provider or "")
        if not isinstance(provider, Haproxy):
            raise ConfigError(
                f"services.{name}.burst.provider: {burst.provider!r} is not an haproxy provider"
            )
        sources.append(LoadSource(name, provider, burst.metric, service.check.interval))
    return sources


def plan_checks(config: Config, http: HttpClient) -> list[tuple[list[str], Check]]:
    """One scheduler check per distinct probe, with the ids of the locators it judges.

    Locators that are probed identically (the same target, check and timing: services
    behind one ingress sharing its health endpoint) share one check, so a thousand such
    services cost one probe per interval, not a thousand.
    """
    shared: dict[tuple[object, ...], tuple[list[str], Check]] = {}
    for name, service in config.services.items():
        spec = service.check
        for loc in service.locators:
            prober = build_prober(spec, loc.address, spec.port or loc.port, http)
            key = (prober, spec.interval, spec.timeout)
            if key in shared:
                shared[key][0].append(loc.id_in(name))
                continue
            check = Check(
                key=loc.id_in(name),
                prober=prober,
                interval=spec.interval,
                timeout=spec.timeout,
            )
            shared[key] = ([loc.id_in(name)], check)
    return list(shared.values())


def store_for(config: Config, *, exclusive: bool = False) -> Store:
    """Open the registry's store as the config says.

    Args:
        config: The configuration; its ``store`` section is used.
        exclusive: Claim the store for this process, as a running gtm does, so that a
            second instance on the same store is refused. ``gtm plan`` and ``gtm apply``
            open without it: they work beside a running gtm, the journal taking writers
            side by side. A memory store belongs to its process anyway.

    Raises:
        StoreInUse: ``exclusive`` and another running gtm holds the store; the message
            names the file, the holder and what to do.
        StoreUnavailable: The store cannot be opened.
    """
    try:
        return open_store(config.store, exclusive=exclusive)
    except StoreInUse as exc:
        raise StoreInUse(
            f"store {exc.path} is in use by another gtm ({exc.holder}); stop it or point "
            "store.path at another file",
            path=exc.path,
            holder=exc.holder,
        ) from exc
