"""The descriptor budget: caps for the API and DNS over TCP that leave a reserve free."""

from __future__ import annotations

import pytest

from gtm.core.budget import Budget, split


@pytest.mark.parametrize(
    ("descriptors", "expected"),
    [
        # The common default soft limit: a 256 reserve, two thirds of the rest to the API.
        (1024, Budget(1024, 256, 512, 256)),
        # A raised limit: a quarter kept back, the caps at their maxima.
        (1_048_576, Budget(1_048_576, 262_144, 4096, 256)),
        (4096, Budget(4096, 1024, 2048, 256)),
        # A small budget: the reserve first, small caps that still admit one connection.
        (300, Budget(300, 256, 29, 14)),
        # Smaller than the reserve: everything is reserve, one connection each all the same.
        (100, Budget(100, 100, 1, 1)),
    ],
)
def test_split_keeps_the_reserve_and_shares_the_rest(descriptors: int, expected: Budget) -> None:
    budget = split(descriptors)
    assert budget == expected
    if budget.serving >= 3:
        assert budget.api + budget.dns_tcp <= budget.serving
    assert budget.serving == descriptors - budget.reserve
