"""The burst section: when a service overspills into its next site, and how fast."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from gtm.config.durations import Duration, format_duration, parse_duration
from gtm.config.problems import Problem, problems_error
from gtm.config.section import Section

DEFAULT_ABOVE = {"latency": 0.25, "load": 0.8, "sessions": 100.0, "queue": 10.0}
"""The start level of each metric when the section gives none."""

FROM_PROVIDER = ("sessions", "queue")
"""Metrics a load balancer reports (HAProxy's ``show stat``), not the health probe."""

BELOW_SHARE = 0.8
"""The stop level, when the section gives none, as a share of the start level."""


class BurstConfig(Section):
    """Cloud bursting under ``policy: burst``: once the active site's load has stayed above
    ``above`` for ``for``, the next healthy site in preference order joins with a share of
    traffic that ramps up to ``share``; once the load has stayed below ``below`` for
    ``calm``, the share ramps down and the site leaves. Each state lasts at least ``hold``,
    so a load hovering at a level cannot make traffic flap."""

    metric: Literal["latency", "load", "sessions", "queue"] = "latency"
    """What the load is: ``latency`` (how long the health probe took), ``load`` (the
    figure the replica reports, named by the check's ``load``), or what an HAProxy
    ``provider`` counts per server: ``sessions`` (current sessions) or ``queue`` (queued
    requests)."""
    provider: str | None = None
    """For ``sessions`` and ``queue``: the haproxy provider whose ``show stat`` is read."""
    above: float | str | None = None
    """Start level: a duration for latency (``250ms``, the default), a number otherwise
    (load ``0.8``, sessions ``100``, queue ``10`` per server by default)."""
    below: float | str | None = None
    """Stop level, below ``above`` (hysteresis); default: 80% of ``above``."""
    window: Duration = Field(default=10.0, alias="for", le=86400)
    """How long the load must stay above ``above`` before a burst begins."""
    calm: Duration = Field(default=30.0, le=86400)
    """How long the load must stay below ``below`` before the overspill leaves."""
    hold: Duration = Field(default=60.0, le=86400)
    """Minimum time between a burst's start and its end, and between an end and the next
    start."""
    ramp: Duration = Field(default=20.0, le=86400)
    """Time the overspill's share takes to climb to ``share`` (and to fall back to 0)."""
    share: int = Field(default=50, ge=1, le=100)
    """Percent of the service's traffic the overspill site takes once ramped up."""
    steps: int = Field(default=4, ge=1, le=100)
    """The ramp moves in this many equal steps (each one a change in DNS and load
    balancers)."""

    @model_validator(mode="after")
    def _check_levels(self) -> Self:
        problems: list[Problem] = []
        levels: dict[str, float] = {}
        for name in ("above", "below"):
            value = getattr(self, name)
            if value is None:
                continue
            try:
                levels[name] = self._level(value)
            except ValueError as exc:
                problems.append(Problem((name,), str(exc)))
        if not problems:
            above = levels.get("above", DEFAULT_ABOVE[self.metric])
            below = levels.get("below", above * BELOW_SHARE)
            if below >= above:
                message = (
                    f"is {self._show(below)}, not below above ({self._show(above)}); "
                    "set below lower than above"
                )
                problems.append(Problem(("below",), message))
        from_provider = self.metric in FROM_PROVIDER
        if from_provider and self.provider is None:
            message = f"names no provider; metric {self.metric} is read from an haproxy provider"
            problems.append(Problem(("provider",), message))
        if not from_provider and self.provider is not None:
            message = f"is set but metric is {self.metric}; only sessions and queue read one"
            problems.append(Problem(("provider",), message))
        if problems:
            raise problems_error(problems)
        return self

    @property
    def start_level(self) -> float:
        """``above`` in the metric's unit (seconds for latency)."""
        return DEFAULT_ABOVE[self.metric] if self.above is None else self._level(self.above)

    @property
    def stop_level(self) -> float:
        """``below`` in the metric's unit; 80% of ``above`` when not given."""
        return self.start_level * BELOW_SHARE if self.below is None else self._level(self.below)

    def _level(self, value: float | str) -> float:
        if self.metric == "latency":
            try:
                return parse_duration(value)
            except ValueError:
                raise ValueError(
                    f"{value!r} is not a latency; expected a duration like 250ms"
                ) from None
        if isinstance(value, str):
            raise ValueError(
                f"{value!r} is not a load figure; expected a number like 0.8 "
                f"(metric: {self.metric})"
            )
        if value < 0:
            raise ValueError(f"{value!r} is negative; expected a load figure of 0 or more")
        return float(value)

    def _show(self, value: float) -> str:
        return format_duration(value) if self.metric == "latency" else f"{value:g}"


class LoadConfig(Section):
    """Where the replica's health answer carries its load figure: a header or a JSON field."""

    header: str | None = None
    """Response header holding the figure (``X-Load``)."""
    field: str | None = None
    """JSON field of the body holding the figure; dots name nested fields (``load.cpu``)."""

    @model_validator(mode="after")
    def _check_one(self) -> Self:
        if (self.header is None) == (self.field is None):
            message = "needs exactly one of header or field, e.g. load: {field: load}"
            raise problems_error([Problem((), message)])
        return self
