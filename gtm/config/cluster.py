"""The cluster section: several gtm instances sharing one Consul cluster, one of them leading."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, IPvAnyAddress, field_validator, model_validator

from gtm.config.durations import Duration
from gtm.config.problems import Problem, problems_error
from gtm.config.section import Section


class ClusterConfig(Section):
    """Run as one of several instances on one Consul cluster (``store: {type: consul}``).

    Each instance keeps a Consul session bound to a check it passes every
    ``pass_interval``; the one whose session holds ``<prefix>leader`` decides, reconciles
    the providers and carries out planned failovers; every instance probes, serves DNS
    and the API. The instance's name is the top-level ``instance``."""

    advertise: str | None = Field(default=None, pattern=r"^[^\s:]+:[0-9]+$")
    """``host:port`` at which the other instances and operators reach this instance's
    API (shown by ``gtm status``); default: ``api.listen``."""
    check_ttl: Duration = Field(default=2.0, ge=1.0, le=60.0)
    """Time after the last pass at which Consul ends the session, releasing the leader
    lock: how long a dead leader keeps the lock."""
    pass_interval: Duration = Field(default=0.5, gt=0, le=30.0)
    """Time between two passes of the session's check; at most half of ``check_ttl``."""
    lock_delay: Duration = Field(default=1.0, ge=0, le=60.0)
    """Time Consul keeps the lock of an ended session from being taken again, so a
    leader that was cut off has stopped acting before another starts."""
    confirm_interval: Duration = Field(default=0.5, gt=0, le=30.0)
    """Time between two reads of the lock by the leader; at most half of ``check_ttl``."""
    margin: Duration = Field(default=0.25, ge=0, le=30.0)
    """Time before its session could end at which the leader stops acting on its own
    clock (self-fencing); below ``check_ttl`` less ``confirm_interval``."""
    quorum: Annotated[int, Field(ge=1)] | Literal["majority"] = "majority"
    """Live vantages that must agree before a locator's verdict changes, either way:
    ``majority`` (more than half of the live instances; a degraded one counts among them
    but does not vote) or a number. Short of it, the verdict stands."""
    disagree_after: Duration = Field(default=30.0, gt=0, le=86400.0)
    """Time a vantage must disagree with the others' verdict on a locator before
    ``GET /v1/cluster`` and ``gtm status`` show it (it is never obeyed)."""
    probe_from: IPvAnyAddress | None = None
    """Local address this instance's probes leave from, when the host has several (or
    several instances share one host); default: the system's choice."""

    @field_validator("quorum", mode="before")
    @classmethod
    def _check_quorum(cls, value: object) -> object:
        # One message for both kinds of value, rather than one per member of the union.
        if value == "majority" or (type(value) is int and value >= 1):
            return value
        raise ValueError(
            f"{value!r} is not a quorum; expected majority or a number of vantages of at least 1"
        )

    @model_validator(mode="after")
    def _check_timing(self) -> Self:
        problems = [
            Problem(
                (name,),
                f"is {value:g}s, more than half of check_ttl ({self.check_ttl:g}s); set it"
                f" to at most {self.check_ttl / 2:g}s or raise check_ttl",
            )
            for name, value in (
                ("pass_interval", self.pass_interval),
                ("confirm_interval", self.confirm_interval),
            )
            if value > self.check_ttl / 2
        ]
        if self.margin >= self.check_ttl - self.confirm_interval:
            problems.append(
                Problem(
                    ("margin",),
                    f"is {self.margin:g}s, which leaves the leader no time to act between two"
                    f" confirmations (check_ttl {self.check_ttl:g}s less confirm_interval"
                    f" {self.confirm_interval:g}s); lower it",
                )
            )
        if problems:
            raise problems_error(problems)
        return self
