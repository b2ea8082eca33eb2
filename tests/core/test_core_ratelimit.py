"""Response-rate limiting: a token bucket per client, with slip, over times passed in."""

from __future__ import annotations

import pytest

from gtm.core.ratelimit import Bucket, RateLimit, Verdict, is_full, limit, refill

FIVE = RateLimit(rate=5.0, burst=5.0, slip=2)


@pytest.mark.parametrize(
    ("bucket", "now", "verdict", "after"),
    [
        # A client not seen yet starts with a full bucket and spends one token.
        (None, 100.0, Verdict.ANSWER, Bucket(4.0, 100.0)),
        # The last token is spent.
        (Bucket(1.0, 100.0), 100.0, Verdict.ANSWER, Bucket(0.0, 100.0)),
        # Empty: the first refusal is dropped (slip 2 lets every second one through).
        (Bucket(0.0, 100.0), 100.0, Verdict.DROP, Bucket(0.0, 100.0, 1)),
        # The second refusal slips through truncated, and the count starts again.
        (Bucket(0.0, 100.0, 1), 100.0, Verdict.TRUNCATE, Bucket(0.0, 100.0, 0)),
        # A fifth of a second refills one token at 5/s.
        (Bucket(0.0, 100.0, 1), 100.2, Verdict.ANSWER, Bucket(0.0, 100.2)),
        # Less than a token refilled: still refused, the fraction kept.
        (Bucket(0.0, 100.0), 100.1, Verdict.DROP, Bucket(0.5, 100.1, 1)),
        # A long quiet spell refills up to the burst, not beyond.
        (Bucket(0.0, 100.0), 1000.0, Verdict.ANSWER, Bucket(4.0, 1000.0)),
        # Time running backwards refills nothing and keeps the later stamp.
        (Bucket(0.0, 100.0), 50.0, Verdict.DROP, Bucket(0.0, 100.0, 1)),
        (Bucket(2.0, 100.0), 50.0, Verdict.ANSWER, Bucket(1.0, 100.0)),
    ],
)
def test_bucket_spends_refills_and_slips(
    bucket: Bucket | None, now: float, verdict: Verdict, after: Bucket
) -> None:
    got, new = limit(bucket, FIVE, now)
    assert got is verdict
    assert new.refused == after.refused
    assert new.stamp == after.stamp
    assert new.tokens == pytest.approx(after.tokens)


@pytest.mark.parametrize(
    ("slip", "verdicts"),
    [
        (0, [Verdict.DROP] * 4),
        (1, [Verdict.TRUNCATE] * 4),
        (2, [Verdict.DROP, Verdict.TRUNCATE] * 2),
        (3, [Verdict.DROP, Verdict.DROP, Verdict.TRUNCATE, Verdict.DROP]),
    ],
)
def test_slip_truncates_every_nth_refusal(slip: int, verdicts: list[Verdict]) -> None:
    budget = RateLimit(rate=1.0, burst=1.0, slip=slip)
    bucket: Bucket | None = Bucket(0.0, 10.0)
    seen = []
    for _ in verdicts:
        verdict, bucket = limit(bucket, budget, 10.0)
        seen.append(verdict)
    assert seen == verdicts


def test_a_burst_then_the_rate() -> None:
    budget = RateLimit(rate=10.0, burst=3.0, slip=0)
    bucket: Bucket | None = None
    answered = 0
    # 100 queries over one second, one every 10 ms: the burst, then 10 per second.
    for tick in range(100):
        verdict, bucket = limit(bucket, budget, tick / 100)
        answered += verdict is Verdict.ANSWER
    assert answered == 3 + 9


@pytest.mark.parametrize(
    ("bucket", "now", "full", "tokens"),
    [
        (Bucket(5.0, 0.0), 0.0, True, 5.0),
        (Bucket(0.0, 0.0), 0.5, False, 2.5),
        (Bucket(0.0, 0.0), 1.0, True, 5.0),
        (Bucket(0.0, 10.0), 0.0, False, 0.0),
    ],
)
def test_full_buckets_can_be_forgotten(
    bucket: Bucket, now: float, full: bool, tokens: float
) -> None:
    assert is_full(bucket, FIVE, now) is full
    assert refill(bucket, FIVE, now) == pytest.approx(tokens)
