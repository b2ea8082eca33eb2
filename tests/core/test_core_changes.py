"""Planning a provider's work: diff, batches and the rule that refuses to empty a service."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gtm.core.changes import (
    Change,
    ChangeKind,
    Emptying,
    Owned,
    batches,
    diff,
    emptied,
    render,
)
from gtm.core.model import Action, Mapping

CREATE, UPDATE, DELETE = ChangeKind.CREATE, ChangeKind.UPDATE, ChangeKind.DELETE


def items(**values: tuple[str, str]) -> dict[str, Owned[str]]:
    """Owned items by key from ``key=(service, item)``."""
    return {key: Owned(service, item) for key, (service, item) in values.items()}


def change(kind: ChangeKind, key: str, service: str = "billing") -> Change[str]:
    before = None if kind is CREATE else f"old {key}"
    after = None if kind is DELETE else f"new {key}"
    return Change(kind, key, service, before, after)


def mapping(service: str, action: Action = Action.NONE) -> Mapping:
    return Mapping(service, 1, 1, 5, None, (), action)


@pytest.mark.parametrize(
    ("desired", "observed", "expected"),
    [
        pytest.param({}, {}, [], id="nothing"),
        pytest.param(
            items(a=("billing", "1")), items(a=("billing", "1")), [], id="same-is-no-change"
        ),
        pytest.param(
            items(a=("billing", "1")),
            {},
            [Change(CREATE, "a", "billing", None, "1")],
            id="missing-is-created",
        ),
        pytest.param(
            {},
            items(a=("search", "1")),
            [Change(DELETE, "a", "search", "1", None)],
            id="extra-is-deleted-as-its-service",
        ),
        pytest.param(
            items(a=("billing", "2")),
            items(a=("billing", "1")),
            [Change(UPDATE, "a", "billing", "1", "2")],
            id="different-is-updated",
        ),
        pytest.param(
            items(c=("billing", "3"), a=("billing", "1")),
            items(b=("billing", "2"), a=("billing", "0")),
            [
                Change(UPDATE, "a", "billing", "0", "1"),
                Change(DELETE, "b", "billing", "2", None),
                Change(CREATE, "c", "billing", None, "3"),
            ],
            id="sorted-by-key",
        ),
    ],
)
def test_diff(
    desired: dict[str, Owned[str]], observed: dict[str, Owned[str]], expected: list[Change[str]]
) -> None:
    assert diff(desired, observed) == expected


def test_diff_compares_with_the_given_equality() -> None:
    def same_case(a: str, b: str) -> bool:
        return a.lower() == b.lower()

    desired, observed = items(a=("billing", "ABC")), items(a=("billing", "abc"))

    assert diff(desired, observed, same_case) == []
    assert diff(desired, observed) == [Change(UPDATE, "a", "billing", "abc", "ABC")]


def keys(cut: list[list[Change[str]]]) -> list[list[str]]:
    return [[c.key for c in batch] for batch in cut]


@pytest.mark.parametrize(
    ("services", "size", "expected"),
    [
        pytest.param([], 3, [], id="nothing"),
        pytest.param(["b", "b"], 3, [["0", "1"]], id="fits-in-one"),
        pytest.param(["b", "b", "s", "s"], 2, [["0", "1"], ["2", "3"]], id="exact-fit"),
        pytest.param(
            ["b", "s", "s"], 2, [["0"], ["1", "2"]], id="a-service-is-not-split-when-it-fits"
        ),
        pytest.param(
            ["b", "b", "b", "s"], 2, [["0", "1"], ["2", "3"]], id="a-large-service-is-cut"
        ),
        pytest.param(
            ["b", "b", "b", "s", "s"],
            2,
            [["0", "1"], ["2"], ["3", "4"]],
            id="the-next-service-starts-a-batch-when-it-fits-there",
        ),
        pytest.param(
            ["b", "s", "b"], 3, [["0", "2", "1"]], id="one-service-together-in-first-seen-order"
        ),
    ],
)
def test_batches(services: list[str], size: int, expected: list[list[str]]) -> None:
    changes = [change(UPDATE, str(n), service) for n, service in enumerate(services)]

    assert keys(batches(changes, size)) == expected


def serving(item: object) -> bool:
    return not str(item).startswith("txt")


REMOVE_ALL = [change(DELETE, "a"), change(DELETE, "b")]
OBSERVED = items(a=("billing", "old a"), b=("billing", "old b"))


@pytest.mark.parametrize(
    ("changes", "observed", "mappings", "counts", "expected"),
    [
        pytest.param([], {}, {}, serving, [], id="nothing"),
        pytest.param(
            REMOVE_ALL,
            OBSERVED,
            {"billing": mapping("billing")},
            serving,
            [("billing", 2, "its action is none")],
            id="emptied-while-it-should-serve",
        ),
        pytest.param(
            REMOVE_ALL,
            OBSERVED,
            {},
            serving,
            [("billing", 2, "it has no mapping")],
            id="emptied-without-a-mapping",
        ),
        pytest.param(
            REMOVE_ALL,
            OBSERVED,
            {"billing": mapping("billing", Action.NXDOMAIN)},
            serving,
            [],
            id="closed-may-be-emptied",
        ),
        pytest.param(
            [change(DELETE, "a")],
            OBSERVED,
            {},
            serving,
            [],
            id="one-left-is-enough",
        ),
        pytest.param(
            [*REMOVE_ALL, change(CREATE, "c")],
            OBSERVED,
            {},
            serving,
            [],
            id="replaced-is-not-emptied",
        ),
        pytest.param(
            [change(UPDATE, "a"), change(DELETE, "b")],
            OBSERVED,
            {},
            serving,
            [],
            id="updated-keeps-serving",
        ),
        pytest.param(
            [Change(DELETE, "t", "billing", "txt status", None)],
            items(t=("billing", "txt status")),
            {},
            serving,
            [],
            id="non-serving-items-do-not-count",
        ),
        pytest.param(
            [Change(UPDATE, "a", "billing", "old a", "txt only"), change(DELETE, "b")],
            OBSERVED,
            {},
            serving,
            [("billing", 2, "it has no mapping")],
            id="turned-into-a-non-serving-item",
        ),
        pytest.param(
            [change(CREATE, "a", "search")],
            {},
            {},
            serving,
            [],
            id="a-new-service-is-not-emptied",
        ),
    ],
)
def test_emptied(
    changes: list[Change[str]],
    observed: dict[str, Owned[str]],
    mappings: dict[str, Mapping],
    counts: Callable[[object], bool],
    expected: list[tuple[str, int, str]],
) -> None:
    refused = emptied(changes, observed, mappings, "bind", counts)

    assert [(r.service, r.removed) for r in refused] == [(s, n) for s, n, _ in expected]
    for emptying, (service, count, rule) in zip(refused, expected, strict=True):
        assert emptying.message == (
            f"bind: refusing to remove all {count} serving item(s) of {service}, leaving 0 "
            f"({rule}; only all_down: closed may empty a service); use --force to apply anyway"
        )


def test_emptied_counts_every_item_by_default() -> None:
    observed = items(t=("billing", "txt status"))
    refused = emptied([Change(DELETE, "t", "billing", "txt status", None)], observed, {}, "p")

    assert refused == [Emptying("billing", 1, refused[0].message)]


class Described:
    def describe(self) -> str:
        return "A 30 192.0.2.1"


@pytest.mark.parametrize(
    ("item", "text"),
    [
        pytest.param(Described(), "A 30 192.0.2.1", id="describes-itself"),
        pytest.param(42, "42", id="anything-else-as-str"),
    ],
)
def test_render(item: object, text: str) -> None:
    assert render(item) == text


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        pytest.param(CREATE, "+ k: new k", id="create"),
        pytest.param(UPDATE, "~ k: old k -> new k", id="update"),
        pytest.param(DELETE, "- k: old k", id="delete"),
    ],
)
def test_change_describes_itself_on_one_line(kind: ChangeKind, text: str) -> None:
    assert change(kind, "k").describe() == text
