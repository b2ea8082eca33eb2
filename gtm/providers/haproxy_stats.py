"""Read one column of HAProxy's ``show stat`` for the servers of one backend.

Bursting on a load balancer's own figure (current sessions, queued requests per server)
needs the figure by server; this is the pure translation of the CSV dump, kept apart
from the socket so it is tested on a real dump without a running HAProxy.
"""

from __future__ import annotations

COLUMNS = {"sessions": "scur", "queue": "qcur"}
"""The ``show stat`` column of each load-balancer metric."""


def stat_column(text: str, backend: str, column: str) -> dict[str, float]:
    """Each server of ``backend`` with its value in ``column`` (empty counts as 0).

    Args:
        text: The answer to ``show stat``: a ``# pxname,svname,...`` header, then CSV rows.
        backend: The backend whose servers are read.
        column: The column's name, e.g. ``scur``.

    Raises:
        ValueError: The header lacks the columns needed, or a value is not a number.
    """
    lines = text.splitlines()
    header = lines[0].lstrip("# ").split(",") if lines else []
    missing = [name for name in ("pxname", "svname", column) if name not in header]
    if missing:
        raise ValueError(f"show stat has no {', '.join(missing)} column: {text[:80]!r}")
    proxy, server, value = header.index("pxname"), header.index("svname"), header.index(column)
    found: dict[str, float] = {}
    for line in lines[1:]:
        fields = line.split(",")
        if len(fields) <= value or fields[proxy] != backend:
            continue
        if fields[server] in ("FRONTEND", "BACKEND"):
            continue
        try:
            found[fields[server]] = float(fields[value] or 0)
        except ValueError:
            raise ValueError(
                f"show stat: {column} of {backend}/{fields[server]} is {fields[value]!r}"
            ) from None
    return found
