"""The controller's memory for bursting: each locator's last load figure, each service's cycle.

The core (:mod:`gtm.core.burst`) decides when a burst begins and ends; this keeps what it
decides on between probes, and rebuilds a service's cycle from its published mapping
after a restart, so the controller's own module stays about probes and decisions.
"""

from __future__ import annotations

from collections.abc import Mapping as Lookup
from dataclasses import dataclass

from gtm.core.burst import (
    BurstParams,
    BurstState,
    Metric,
    Reading,
    Step,
    combine,
    due,
    resume,
    share,
    step,
)
from gtm.core.health import Verdict
from gtm.core.model import Mapping
from gtm.core.policy import ServicePolicy

_FROM_PROBES = (Metric.LATENCY, Metric.LOAD)
"""Metrics the health probes carry; the others come from a load balancer."""


@dataclass(frozen=True, slots=True)
class Tick:
    """One step of a service's cycle: the overspill share now, what changed, when next."""

    share: int
    step: Step
    due: float | None


class Bursting:
    """Load readings and burst cycles of the services under ``policy: burst``.

    Args:
        params: Each bursting service's settings, by service name.
        policies: Each bursting service's policy (its locators and sites).
    """

    def __init__(self, params: dict[str, BurstParams], policies: dict[str, ServicePolicy]) -> None:
        self._params = params
        self._policies = policies
        self._readings: dict[str, Reading] = {}
        self._states: dict[str, BurstState] = {}

    def applies(self, service: str) -> bool:
        """Whether ``service`` bursts."""
        return service in self._params

    def observe(
        self,
        locator_id: str,
        service: str,
        ok: bool,
        latency: float | None,
        load: float | None,
        at: float,
    ) -> None:
        """Keep a locator's newest figure: its probe's latency or its reported load.

        A failed probe says nothing of the load: the last figure stands, and only counts
        while the locator's verdict is up (an overloaded replica that times out once must
        not restart the window). An answer without the figure leaves the locator without
        one. Under a load balancer's metric (sessions, queue) probes carry no figure:
        :meth:`observe_figure` brings it.
        """
        metric = self._params[service].metric
        if metric not in _FROM_PROBES or not ok:
            return
        figure = latency if metric is Metric.LATENCY else load
        if figure is not None:
            self._readings[locator_id] = Reading(figure, at)
        else:
            self._readings.pop(locator_id, None)

    def observe_figure(self, locator_id: str, figure: float | None, at: float) -> None:
        """Keep a figure a load balancer reported for a locator (None: it reported none)."""
        if figure is None:
            self._readings.pop(locator_id, None)
        else:
            self._readings[locator_id] = Reading(figure, at)

    def tick(
        self, service: str, current: Mapping | None, verdicts: Lookup[str, Verdict], now: float
    ) -> Tick | None:
        """Step the service's cycle on its active site's reading; None before any mapping.

        Args:
            service: A bursting service.
            current: Its published mapping.
            verdicts: Its locators' verdicts; only locators that are up count.
            now: The monotonic time the readings were stamped with.
        """
        if current is None or current.active_site is None:
            return None
        params, policy = self._params[service], self._policies[service]
        state = self._states.get(service)
        if state is None:
            weights = {spec.id: spec.weight for spec in policy.locators}
            state = resume(current, weights, now)
        active = current.active_site
        reading = combine(
            self._readings[spec.id]
            for spec in policy.locators
            if spec.site == active
            and spec.id in self._readings
            and verdicts.get(spec.id) is Verdict.UP
        )
        result = step(state, active, reading, now, params)
        self._states[service] = result.state
        return Tick(share(result.state, now, params), result, due(result.state, now, params))

    def status(self, service: str) -> BurstState | None:
        """The service's cycle; None until its first step."""
        return self._states.get(service)

    def shares(self, now: float) -> dict[str, tuple[BurstState, int]]:
        """Every stepped service's cycle and its overspill share at ``now``, by name."""
        return {
            name: (state, share(state, now, self._params[name]))
            for name, state in self._states.items()
        }
