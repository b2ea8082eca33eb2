"""How many finished planned-failover runs the registry keeps, so their number stays bounded.

A run is small, but every operator action and drill adds one, forever; the newest finished
runs are kept up to a cap, the way the journal keeps its newest events. A run still going
is never dropped, however old: its owner needs it to finish or roll back.
"""

from __future__ import annotations

from collections.abc import Iterable

RUN_LIMIT = 1_000
"""How many of the newest finished runs the registry keeps by default."""


def runs_to_prune(finished: Iterable[tuple[float, str]], keep: int) -> list[str]:
    """The ids of the finished runs beyond the newest ``keep``, oldest first.

    Args:
        finished: ``(created_at, id)`` of every finished run; running runs are not given.
        keep: How many of the newest finished runs stay.
    """
    ordered = sorted(finished)
    return [run_id for _created, run_id in ordered[: max(0, len(ordered) - max(keep, 0))]]
