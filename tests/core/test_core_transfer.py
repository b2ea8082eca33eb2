"""Zone transfers: who may transfer, which versions an IXFR holds, serial arithmetic."""

from __future__ import annotations

import ipaddress
import random

import pytest

from gtm.core.transfer import (
    IxfrKind,
    IxfrPlan,
    TransferVerdict,
    TsigState,
    condense,
    plan_ixfr,
    serial_after,
    transfer_verdict,
)

TOP = 2**32 - 1


@pytest.mark.parametrize(
    ("a", "b", "after"),
    [
        (2, 1, True),
        (1, 2, False),
        (5, 5, False),
        # Wrapping: 0 and 1 come after the highest serial.
        (0, TOP, True),
        (1, TOP, True),
        (TOP, 1, False),
        # Just under half the space ahead is after; exactly half is not comparable.
        (2**31 - 1, 0, True),
        (2**31, 0, False),
        (0, 2**31, False),
        # Serials are taken modulo 2**32, as the SOA carries them.
        (2**32 + 3, 2, True),
    ],
)
def test_serial_after(a: int, b: int, after: bool) -> None:
    assert serial_after(a, b) is after


LOOPBACK = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]


@pytest.mark.parametrize(
    ("client", "allow", "key_required", "tsig", "verdict"),
    [
        ("127.0.0.1", LOOPBACK, False, TsigState.NONE, TransferVerdict.ALLOW),
        ("::1", LOOPBACK, False, TsigState.NONE, TransferVerdict.ALLOW),
        # A valid key needs no configuration to say so, but the address still counts.
        ("127.0.0.1", LOOPBACK, False, TsigState.VALID, TransferVerdict.ALLOW),
        ("192.0.2.1", LOOPBACK, False, TsigState.VALID, TransferVerdict.ADDRESS_REFUSED),
        ("192.0.2.1", LOOPBACK, False, TsigState.NONE, TransferVerdict.ADDRESS_REFUSED),
        ("192.0.2.1", LOOPBACK, True, TsigState.NONE, TransferVerdict.ADDRESS_REFUSED),
        # No network allowed: no one transfers.
        ("127.0.0.1", [], False, TsigState.NONE, TransferVerdict.ADDRESS_REFUSED),
        # A key configured: unsigned is refused, signed is served.
        ("127.0.0.1", LOOPBACK, True, TsigState.NONE, TransferVerdict.KEY_MISSING),
        ("127.0.0.1", LOOPBACK, True, TsigState.VALID, TransferVerdict.ALLOW),
        # A bad signature is NOTAUTH wherever it comes from.
        ("127.0.0.1", LOOPBACK, True, TsigState.INVALID, TransferVerdict.TSIG_FAILED),
        ("192.0.2.1", LOOPBACK, False, TsigState.INVALID, TransferVerdict.TSIG_FAILED),
    ],
)
def test_transfer_verdict(
    client: str,
    allow: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
    key_required: bool,
    tsig: TsigState,
    verdict: TransferVerdict,
) -> None:
    address = ipaddress.ip_address(client)
    assert transfer_verdict(address, allow, key_required=key_required, tsig=tsig) is verdict


@pytest.mark.parametrize(
    ("asked", "current", "starts", "plan"),
    [
        # Up to date, or ahead of us (a secondary that outran a restart): our SOA alone.
        (110, 110, [100, 105], IxfrPlan(IxfrKind.CURRENT)),
        (120, 110, [100, 105], IxfrPlan(IxfrKind.CURRENT)),
        (110, 110, [], IxfrPlan(IxfrKind.CURRENT)),
        # In the journal: from the version that starts there.
        (100, 110, [100, 105], IxfrPlan(IxfrKind.INCREMENTAL, 0)),
        (105, 110, [100, 105], IxfrPlan(IxfrKind.INCREMENTAL, 1)),
        # Older than the journal, between two versions, or nothing kept: the whole zone.
        (99, 110, [100, 105], IxfrPlan(IxfrKind.FULL)),
        (102, 110, [100, 105], IxfrPlan(IxfrKind.FULL)),
        (100, 110, [], IxfrPlan(IxfrKind.FULL)),
        # Across the wrap of the serial space.
        (TOP, 2, [TOP, 0], IxfrPlan(IxfrKind.INCREMENTAL, 0)),
        (0, 2, [TOP, 2**32], IxfrPlan(IxfrKind.INCREMENTAL, 1)),
        (3, 2**32 + 3, [1, 2], IxfrPlan(IxfrKind.CURRENT)),
    ],
)
def test_plan_ixfr(asked: int, current: int, starts: list[int], plan: IxfrPlan) -> None:
    assert plan_ixfr(asked, current, starts) == plan


@pytest.mark.parametrize(
    ("diffs", "removed", "added"),
    [
        ([], set(), set()),
        ([({"a"}, {"b"})], {"a"}, {"b"}),
        # Consecutive moves: the middle state leaves no trace.
        ([({"a"}, {"b"}), ({"b"}, {"c"})], {"a"}, {"c"}),
        # Removed and added back: no change at all.
        ([({"a"}, {"b"}), ({"b"}, {"a"})], set(), set()),
        # Added and removed again: no change either.
        ([(set(), {"x"}), ({"x"}, set())], set(), set()),
        # Independent changes pile up.
        ([({"a"}, {"b"}), ({"c"}, {"d"})], {"a", "c"}, {"b", "d"}),
    ],
)
def test_condense(
    diffs: list[tuple[set[str], set[str]]], removed: set[str], added: set[str]
) -> None:
    assert condense(diffs) == (removed, added)


def test_condense_equals_applying_each_version() -> None:
    """Over random zone histories, the condensed diff takes the first state to the last."""
    rng = random.Random(7)
    universe = [f"r{i}" for i in range(12)]
    for _ in range(300):
        state = set(rng.sample(universe, rng.randint(0, len(universe))))
        first = set(state)
        diffs = []
        for _ in range(rng.randint(0, 8)):
            after = set(rng.sample(universe, rng.randint(0, len(universe))))
            diffs.append((state - after, after - state))
            state = after
        removed, added = condense(diffs)
        assert removed <= first
        assert not added & first
        assert (first - removed) | added == state
