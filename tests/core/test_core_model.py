"""The selection rule every reader of a mapping applies: usable, best, shares, all-down."""

from __future__ import annotations

import pytest

from gtm.core.model import (
    NEVER,
    Action,
    Intent,
    IntentKind,
    Locator,
    Mapping,
    State,
    best,
    shares,
    usable,
)


def loc(name: str, priority: int = 1, weight: int = 100, state: State = State.UP) -> Locator:
    site = name.split("/")[0]
    return Locator(name, site, "192.0.2.1", 443, priority, weight, state)


@pytest.mark.parametrize(
    ("locators", "expected"),
    [
        pytest.param([], (), id="empty"),
        pytest.param([loc("a/1")], ("a/1",), id="up-is-usable"),
        pytest.param([loc("a/1", state=State.DOWN)], (), id="down-is-not"),
        pytest.param([loc("a/1", state=State.UNKNOWN)], (), id="unknown-is-not"),
        pytest.param([loc("a/1", priority=NEVER)], (), id="priority-255-is-not"),
        pytest.param([loc("a/1", priority=254), loc("a/2")], ("a/1", "a/2"), id="order-kept"),
    ],
)
def test_usable(locators: list[Locator], expected: tuple[str, ...]) -> None:
    assert tuple(x.id for x in usable(locators)) == expected


@pytest.mark.parametrize(
    ("locators", "expected"),
    [
        pytest.param([], (), id="empty"),
        pytest.param([loc("a/1", state=State.DOWN)], (), id="none-usable"),
        pytest.param([loc("a/1", 2), loc("b/1", 1), loc("b/2", 1)], ("b/1", "b/2"), id="lowest"),
        pytest.param(
            [loc("a/1", 1, state=State.DOWN), loc("b/1", 2)], ("b/1",), id="skips-unusable-best"
        ),
    ],
)
def test_best(locators: list[Locator], expected: tuple[str, ...]) -> None:
    assert tuple(x.id for x in best(locators)) == expected


@pytest.mark.parametrize(
    ("locators", "expected"),
    [
        pytest.param([], {}, id="empty"),
        pytest.param(
            [loc("a/1", weight=0), loc("a/2", weight=0)], {"a/1": 0.5, "a/2": 0.5}, id="zeros-equal"
        ),
        pytest.param(
            [loc("a/1", weight=75), loc("a/2", weight=25)],
            {"a/1": 0.75, "a/2": 0.25},
            id="by-weight",
        ),
        pytest.param(
            [loc("a/1", weight=0), loc("a/2", weight=10)],
            {"a/1": 0.0, "a/2": 1.0},
            id="zero-gets-none",
        ),
    ],
)
def test_shares(locators: list[Locator], expected: dict[str, float]) -> None:
    assert shares(locators) == pytest.approx(expected)


DOWN_A = loc("a/1", 1, state=State.DOWN)
DOWN_B = loc("b/1", 2, state=State.DOWN)
DRAINED_C = loc("c/1", NEVER, state=State.DOWN)


@pytest.mark.parametrize(
    ("locators", "action", "expected"),
    [
        pytest.param((loc("a/1"), DOWN_B), Action.STAY, ("a/1",), id="usable-wins-over-action"),
        pytest.param((DOWN_A, DOWN_B, DRAINED_C), Action.STAY, ("a/1",), id="stay-active-site"),
        pytest.param((DOWN_A, DOWN_B, DRAINED_C), Action.OPEN, ("a/1", "b/1"), id="open-not-255"),
        pytest.param((DOWN_A, DOWN_B), Action.NONE, (), id="none-nothing"),
        pytest.param((DOWN_A, DOWN_B), Action.NXDOMAIN, (), id="nxdomain-nothing"),
    ],
)
def test_mapping_best(
    locators: tuple[Locator, ...], action: Action, expected: tuple[str, ...]
) -> None:
    mapping = Mapping("billing", 1, 1, 5, "a", locators, action)
    assert tuple(x.id for x in mapping.best()) == expected


@pytest.mark.parametrize(
    ("intent", "now", "service", "active", "applies"),
    [
        pytest.param(Intent("i", IntentKind.FREEZE), 1e12, "billing", True, True, id="forever-all"),
        pytest.param(
            Intent("i", IntentKind.FREEZE, expires_at=10.0),
            9.9,
            "x",
            True,
            True,
            id="before-expiry",
        ),
        pytest.param(
            Intent("i", IntentKind.FREEZE, expires_at=10.0), 10.0, "x", False, True, id="at-expiry"
        ),
        pytest.param(
            Intent("i", IntentKind.PIN, "billing", "a"),
            0.0,
            "billing",
            True,
            True,
            id="own-service",
        ),
        pytest.param(
            Intent("i", IntentKind.PIN, "billing", "a"),
            0.0,
            "orders",
            True,
            False,
            id="other-service",
        ),
    ],
)
def test_intent_scope(
    intent: Intent, now: float, service: str, active: bool, applies: bool
) -> None:
    assert (intent.active(now), intent.applies_to(service)) == (active, applies)
