"""The controller's memory for bursting: which figures count, and a cycle rebuilt from a mapping."""

from __future__ import annotations

from gtm.controller.bursting import Bursting
from gtm.core.burst import BurstParams, Metric, Phase
from gtm.core.health import Verdict
from gtm.core.model import Locator, Mapping, State
from gtm.core.policy import LocatorSpec, PolicyKind, ServicePolicy

A, B = "aws-use1", "gcp-euw1"
IDS = {A: "billing@aws-use1/1", B: "billing@gcp-euw1/1"}
POLICY = ServicePolicy(
    "billing",
    (A, B),
    (
        LocatorSpec(IDS[A], A, "127.0.1.1", 80),
        LocatorSpec(IDS[B], B, "127.0.2.1", 80),
    ),
    policy=PolicyKind.BURST,
)
UP = {IDS[A]: Verdict.UP, IDS[B]: Verdict.UP}


def mapping(b_priority: int = 2, b_weight: int = 100) -> Mapping:
    return Mapping(
        "billing",
        1,
        1,
        5,
        A,
        (
            Locator(IDS[A], A, "127.0.1.1", 80, 1, 100, State.UP),
            Locator(IDS[B], B, "127.0.2.1", 80, b_priority, b_weight, State.UP),
        ),
    )


def bursting(metric: Metric = Metric.LATENCY) -> Bursting:
    params = BurstParams(metric=metric, above=0.25, below=0.2, window=0, hold=0)
    return Bursting({"billing": params}, {"billing": POLICY})


def test_a_failed_probe_leaves_the_last_figure_standing() -> None:
    memory = bursting()
    memory.observe(IDS[A], "billing", True, 0.3, None, 1.0)
    memory.observe(IDS[A], "billing", False, 0.9, None, 2.0)
    tick = memory.tick("billing", mapping(), UP, 2.5)
    assert tick is not None and tick.step.state.last == 0.3 and tick.share > 0


def test_only_up_locators_of_the_active_site_count() -> None:
    memory = bursting()
    memory.observe(IDS[A], "billing", True, 0.3, None, 1.0)
    memory.observe(IDS[B], "billing", True, 0.9, None, 1.0)
    down = {IDS[A]: Verdict.DOWN, IDS[B]: Verdict.UP}
    tick = memory.tick("billing", mapping(), down, 2.0)
    assert tick is not None and tick.step.state.last is None and tick.share == 0


def test_a_load_figure_missing_from_the_answer_is_no_figure() -> None:
    memory = bursting(Metric.LOAD)
    memory.observe(IDS[A], "billing", True, 0.01, 0.9, 1.0)
    memory.observe(IDS[A], "billing", True, 0.01, None, 2.0)
    tick = memory.tick("billing", mapping(), UP, 2.0)
    assert tick is not None and tick.step.state.last is None


def test_a_load_balancer_metric_takes_no_figure_from_probes() -> None:
    memory = bursting(Metric.SESSIONS)
    memory.observe(IDS[A], "billing", True, 0.9, 0.9, 1.0)
    assert memory.tick("billing", mapping(), UP, 1.0) is not None
    assert memory.status("billing") is not None
    assert memory.status("billing").last is None  # type: ignore[union-attr]
    memory.observe_figure(IDS[A], 7.0, 2.0)
    tick = memory.tick("billing", mapping(), UP, 2.0)
    assert tick is not None and tick.step.state.phase is Phase.BURSTING
    memory.observe_figure(IDS[A], None, 3.0)
    tick = memory.tick("billing", mapping(), UP, 3.0)
    assert tick is not None and tick.step.state.last is None


def test_no_cycle_before_a_mapping_and_a_resumed_one_after() -> None:
    memory = bursting()
    assert memory.tick("billing", None, UP, 1.0) is None
    tick = memory.tick("billing", mapping(b_priority=1, b_weight=30), UP, 5.0)
    assert tick is not None
    # The ramp carries on from the 30 % the mapping shows, a step at once, to 50 % at its end.
    assert (tick.step.state.phase, tick.share) == (Phase.BURSTING, 35)
    assert memory.shares(25.0)["billing"][1] == 50
    assert not memory.applies("search")
