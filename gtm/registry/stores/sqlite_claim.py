"""One running gtm per SQLite file: an ``flock`` on ``<file>.lock`` that names its holder.

The lock is an ``flock``, which the system drops when the process ends however it ends, so
a crash never leaves the file claimed; the holder writes its process id and host into the
file, so a refused second gtm can say who holds it.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from gtm.errors import StoreInUse, StoreUnavailable

_HOLDER_READS = 5
"""Reads of a held lock file before its holder counts as unknown: the holder writes its
name just after taking the lock, so a reader can come in between."""

_HOLDER_PAUSE = 0.02
"""Seconds between those reads."""


def lock_path(path: Path) -> Path:
    """The file an exclusive open of ``path`` locks: its name plus ``.lock``."""
    return path.with_name(path.name + ".lock")


def claim(path: Path) -> int:
    """Lock ``path``'s lock file for this open and write the holder into it.

    Returns:
        The lock file's descriptor; closing it gives the claim up.

    Raises:
        StoreInUse: Another open holds the lock.
        StoreUnavailable: The lock file cannot be opened or written.
    """
    lock_file = lock_path(path)
    try:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreUnavailable(
            f"sqlite store {path}: cannot open its lock file {lock_file}: {exc.strerror or exc}"
        ) from exc
    try:
        try:
            # flock, not fcntl's record locks: those are per process, so a second open in
            # the same process would be let in, and a restart in one process (as tests
            # do) must see the same refusal another process would.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            raise StoreInUse(
                f"sqlite store {path} is in use by another gtm ({holder})",
                path=str(path),
                holder=holder,
            ) from None
        record = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
    except OSError as exc:
        os.close(fd)
        raise StoreUnavailable(
            f"sqlite store {path}: cannot lock {lock_file}: {exc.strerror or exc}"
        ) from exc
    except BaseException:
        os.close(fd)
        raise
    return fd


def _holder(fd: int) -> str:
    """Who holds the lock on ``fd``'s file, as its holder recorded: ``pid 1234 on host h``."""
    for attempt in range(_HOLDER_READS):
        if attempt:
            time.sleep(_HOLDER_PAUSE)
        try:
            record = json.loads(os.pread(fd, 4096, 0))
            pid, host = int(record["pid"]), str(record["host"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        return f"pid {pid} on host {host}"
    return "process unknown"
