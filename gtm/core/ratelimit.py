"""Response-rate limiting: whether one more answer to a client fits its budget, and in what form.

A token bucket per client refills at ``rate`` answers per second up to ``burst``; an answer
spends one token. Over the budget, most answers are dropped, but every ``slip``-th one goes
out truncated (TC=1), so a legitimate client behind a flood retries over TCP, where a spoofed
source cannot follow. The caller passes the time in; nothing here reads a clock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple


class Verdict(enum.Enum):
    """What to do with one answer."""

    ANSWER = "answer"
    """Within the budget: send the full answer."""
    TRUNCATE = "truncate"
    """Over the budget, and this one slips through as an empty answer with TC=1."""
    DROP = "drop"
    """Over the budget: send nothing."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A client's budget.

    Attributes:
        rate: Answers per second the bucket refills by; positive.
        burst: Most answers sent back to back after a quiet spell; at least 1.
        slip: Every ``slip``-th answer over the budget is truncated rather than dropped;
            1 truncates them all, 0 drops them all.
    """

    rate: float
    burst: float
    slip: int


class Bucket(NamedTuple):
    """A client's state: tokens left at ``stamp``, and answers refused since the last slip.

    A client seen for the first time has no bucket yet; :func:`limit` starts it full. A
    named tuple rather than a dataclass: one is made for every answer over UDP, and a
    tuple costs a third of the time to make.
    """

    tokens: float
    stamp: float
    refused: int = 0


def limit(bucket: Bucket | None, budget: RateLimit, now: float) -> tuple[Verdict, Bucket]:
    """The verdict on one more answer to a client, and its bucket afterwards.

    Time that seems to run backwards (``now`` before the bucket's stamp) refills nothing.

    Args:
        bucket: The client's bucket; None for a client not seen (or forgotten).
        budget: The client's budget.
        now: The time of the answer, in seconds, on the clock the bucket was stamped with.
    """
    tokens = budget.burst if bucket is None else refill(bucket, budget, now)
    stamp = now if bucket is None else max(now, bucket.stamp)
    if tokens >= 1.0:
        return Verdict.ANSWER, Bucket(tokens - 1.0, stamp)
    refused = (0 if bucket is None else bucket.refused) + 1
    if budget.slip > 0 and refused >= budget.slip:
        return Verdict.TRUNCATE, Bucket(tokens, stamp, 0)
    return Verdict.DROP, Bucket(tokens, stamp, refused)


def refill(bucket: Bucket, budget: RateLimit, now: float) -> float:
    """The tokens ``bucket`` holds at ``now``: what it had plus what the time since added."""
    elapsed = max(0.0, now - bucket.stamp)
    return min(budget.burst, bucket.tokens + elapsed * budget.rate)


def is_full(bucket: Bucket, budget: RateLimit, now: float) -> bool:
    """Whether ``bucket`` has refilled completely, so forgetting it gives the client nothing."""
    return refill(bucket, budget, now) >= budget.burst
