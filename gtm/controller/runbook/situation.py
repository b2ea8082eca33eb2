"""What the registry and the controller say about a service now, put to ``gtm.core.moves``.

A run never decides on its own: where it goes, what refuses it and the mapping it leaves
behind are core functions, and this module gathers the values they take.
"""

from __future__ import annotations

from gtm.controller.controller import Controller, ServicePlan
from gtm.controller.runbook.stops import StepFailed
from gtm.core.model import Mapping
from gtm.core.moves import Refusal, Screening, outcome, screen, target
from gtm.core.readiness import MoveCheck, check_move
from gtm.core.runbook import Run, RunKind, RunOptions
from gtm.core.sites import SiteHealth
from gtm.errors import Rejected
from gtm.registry.registry import Registry
from healthchecks.clock import Clock


class Situation:
    """A service's plan, mapping, health and intents, and the core's answers on them.

    Args:
        registry: Mappings and intents.
        controller: Plans and health verdicts.
        clock: Wall time, which intents expire by.
    """

    def __init__(self, registry: Registry, controller: Controller, clock: Clock) -> None:
        self._registry = registry
        self._controller = controller
        self._clock = clock

    def plan(self, service: str) -> ServicePlan:
        """The service's plan.

        Raises:
            Rejected: Unknown service; the message lists the known ones.
        """
        try:
            return self._controller.plan(service)
        except KeyError:
            known = ", ".join(self._controller.services)
            raise Rejected(f"runbook: no service {service}; known services: {known}") from None

    def mapping(self, service: str) -> Mapping:
        """The service's current mapping, while a run is under way.

        Raises:
            StepFailed: The service has no mapping.
        """
        mapping = self._registry.get(service)
        if mapping is None:
            raise StepFailed(f"{service} has no mapping")
        return mapping

    def mapping_to_move(self, service: str) -> Mapping:
        """The service's current mapping, before a run starts.

        Raises:
            Rejected: The service has no mapping yet.
        """
        mapping = self._registry.get(service)
        if mapping is None:
            raise Rejected(f"runbook: {service} has no mapping yet; retry once health is known")
        return mapping

    def site_health(self, service: str) -> dict[str, SiteHealth]:
        """The health of each site of ``service``, as the controller decides with it.

        Raises:
            Rejected: Unknown service.
        """
        self.plan(service)
        return self._controller.site_health(service)

    def site_up(self, service: str, site: str) -> bool:
        """Whether ``site`` is healthy for ``service``."""
        health = self.site_health(service).get(site)
        return health is not None and health.healthy

    def target(self, kind: RunKind, service: str, to_site: str | None) -> str:
        """The site a run of ``kind`` moves ``service`` to (see :func:`gtm.core.moves.target`).

        Raises:
            Rejected: Unknown service or site, no mapping yet, or no site to move to.
        """
        plan = self.plan(service)
        chosen = target(
            kind,
            plan.policy,
            self.mapping_to_move(service),
            self._controller.verdicts(service),
            self._controller.site_health(service),
            self._registry.intents(),
            self._clock.wall(),
            to_site,
        )
        if isinstance(chosen, Refusal):
            raise Rejected(f"runbook: {chosen.message}")
        return chosen

    def screen(
        self, service: str, to_site: str, options: RunOptions, own: tuple[str, ...] = ()
    ) -> Screening:
        """How a run stands against the intents in force (see :func:`gtm.core.moves.screen`)."""
        return screen(
            service,
            to_site,
            self._registry.intents(),
            self._clock.wall(),
            options.replace_intents,
            own,
        )

    def readiness(self, service: str, to_site: str, force: bool) -> MoveCheck:
        """Whether the service's readiness rule lets a run or pin move it to ``to_site``
        (see :func:`gtm.core.readiness.check_move`).

        Raises:
            Rejected: Unknown service.
        """
        mapping = self._registry.get(service)
        return check_move(
            self.plan(service).policy.readiness,
            mapping.active_site if mapping is not None else None,
            to_site,
            self._controller.site_health(service),
            force=force,
        )

    def outcome(self, run: Run) -> Mapping:
        """The mapping ``run`` would leave behind, decided as the controller will decide it.

        Raises:
            StepFailed: The service has no mapping.
        """
        replaced = self.screen(run.service, run.to_site, run.options, run.intents).replaced
        return outcome(
            self.plan(run.service).policy,
            self.mapping(run.service),
            self._controller.verdicts(run.service),
            self._controller.site_health(run.service),
            self._registry.intents(),
            run.to_site,
            self._clock.wall(),
            force=run.options.force,
            replaced={intent.id for intent in replaced},
        )
