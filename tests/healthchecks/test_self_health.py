"""What probers and the scheduler say about the probing process itself: lateness, a
shortage of descriptors, event-loop lag. Real sockets and a real descriptor limit where a
test can have them; the virtual-time loop for timing."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import socket
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from healthchecks.lag import LagMonitor, descriptor_limit, descriptors_in_use
from healthchecks.reasons import describe_local_fault
from healthchecks.result import Result
from healthchecks.scheduler import Check, Scheduler

if TYPE_CHECKING:
    from virtual_time import RunVirtual

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("exc", "fault"),
    [
        pytest.param(
            OSError(errno.EMFILE, "Too many open files"),
            "Too many open files (EMFILE)",
            id="emfile",
        ),
        pytest.param(
            OSError(errno.ENFILE, "Too many open files in system"),
            "Too many open files in system (ENFILE)",
            id="enfile",
        ),
        pytest.param(
            OSError(errno.ENOBUFS, None), "No buffer space available (ENOBUFS)", id="nobufs"
        ),
        pytest.param(ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "", id="refused"),
        pytest.param(TimeoutError(), "", id="timeout"),
        pytest.param(ValueError("bad"), "", id="not-os"),
    ],
)
def test_only_the_probing_process_running_short_is_a_local_fault(
    exc: BaseException, fault: str
) -> None:
    assert describe_local_fault(exc) == fault


@dataclass
class Raising:
    """A prober that cannot open its socket: the process is out of descriptors."""

    async def probe(self, timeout: float) -> Result:
        raise OSError(errno.EMFILE, "Too many open files")


class Stalling:
    """Blocks the (virtual) loop for ``stall`` seconds on its first probe, as a synchronous
    call on the loop would, then answers at once."""

    def __init__(self, stall: float) -> None:
        self.stall = stall

    async def probe(self, timeout: float) -> Result:
        loop = asyncio.get_running_loop()
        if self.stall:
            loop._virtual_now[0] += self.stall  # type: ignore[attr-defined]
            self.stall = 0.0
        return Result(True, 0.0, "ok", 0.0, 0.0)


def test_a_prober_short_of_descriptors_fails_locally_in_one_line(
    run_virtual: RunVirtual, caplog: pytest.LogCaptureFixture
) -> None:
    results: list[Result] = []

    async def scenario() -> None:
        scheduler = Scheduler(lambda _check, result: results.append(result), clock=None)
        scheduler.add(Check("a", Raising(), interval=1.0, timeout=0.5))
        await scheduler.start()
        await asyncio.sleep(2.5)
        await scheduler.stop()

    with caplog.at_level(logging.WARNING, logger="healthchecks.scheduler"):
        run_virtual(scenario())

    assert results
    assert {(r.ok, r.reason, r.fault) for r in results} == {
        (False, "prober failed: Too many open files (EMFILE)", "Too many open files (EMFILE)")
    }
    assert all(record.exc_info is None for record in caplog.records)


def test_the_scheduler_stamps_how_late_each_probe_started(run_virtual: RunVirtual) -> None:
    results: list[tuple[str, Result]] = []

    async def scenario() -> None:
        scheduler = Scheduler(
            lambda check, result: results.append((check.key, result)),
            rng=_Zero(),
        )
        # "stall" blocks the loop for 0.7 s during its first probe, so "calm", due in
        # the same slot but after it, starts 0.7 s late; later probes are on time.
        scheduler.add(Check("stall", Stalling(0.7), interval=1.0, timeout=0.5))
        scheduler.add(Check("calm", Stalling(0.0), interval=1.0, timeout=0.5))
        await scheduler.start()
        await asyncio.sleep(2.5)
        await scheduler.stop()

    run_virtual(scenario())

    lateness = {
        key: [round(r.late, 6) for k, r in results if k == key] for key in ("stall", "calm")
    }
    assert lateness["stall"] == [0.0, 0.0, 0.0]
    assert lateness["calm"][0] == pytest.approx(0.7)
    assert lateness["calm"][1:] == [0.0, 0.0]


class _Zero:
    def random(self) -> float:
        return 0.0


def test_the_lag_monitor_measures_a_stalled_loop(run_virtual: RunVirtual) -> None:
    lags: list[float] = []

    overdue: list[float] = []

    async def scenario() -> None:
        monitor = LagMonitor(lags.append, interval=0.05)
        overdue.append(monitor.overdue())
        await monitor.start()
        await monitor.start()  # already started: one monitor
        await asyncio.sleep(0.12)
        overdue.append(monitor.overdue())
        asyncio.get_running_loop()._virtual_now[0] += 0.4  # type: ignore[attr-defined]
        # Before the monitor wakes, the stall it has yet to measure is already known.
        overdue.append(monitor.overdue())
        await asyncio.sleep(0.2)
        await monitor.stop()
        await monitor.stop()
        overdue.append(monitor.overdue())

    run_virtual(scenario())
    assert overdue == [0.0, 0.0, pytest.approx(0.37), 0.0]

    stalls = [lag for lag in lags if lag > 0]
    assert len(stalls) == 1
    assert stalls[0] == pytest.approx(0.37)
    assert len(lags) >= 6


def test_a_lag_monitor_needs_a_positive_interval() -> None:
    with pytest.raises(ValueError, match="interval 0 must be positive"):
        LagMonitor(lambda _lag: None, interval=0)


def test_a_lag_monitor_survives_a_raising_callback(
    run_virtual: RunVirtual, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[float] = []

    def boom(lag: float) -> None:
        calls.append(lag)
        raise RuntimeError("boom")

    async def scenario() -> None:
        monitor = LagMonitor(boom, interval=0.05)
        await monitor.start()
        await asyncio.sleep(0.2)
        await monitor.stop()

    run_virtual(scenario())
    assert len(calls) >= 3
    assert "on_lag raised" in caplog.text


def test_descriptors_are_counted_against_the_limit() -> None:
    before = descriptors_in_use()
    assert before is not None and before > 0
    with socket.socket(), socket.socket():
        assert descriptors_in_use() == before + 2
    assert descriptor_limit() >= before


CHILD = textwrap.dedent(
    """
    import asyncio, json, resource, socket, sys
    from healthchecks.lag import descriptors_in_use
    from healthchecks.tcp import TcpProbe

    async def main():
        port = int(sys.argv[1])
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        held = []
        try:
            while True:
                held.append(socket.socket())
        except OSError:
            pass
        short = await TcpProbe("127.0.0.1", port).probe(1.0)
        counted = descriptors_in_use()
        for sock in held[:8]:
            sock.close()
        fine = await TcpProbe("127.0.0.1", port).probe(1.0)
        print(json.dumps({
            "short": [short.ok, short.reason, short.fault],
            "counted": counted,
            "fine": [fine.ok, fine.reason, fine.fault],
        }))

    asyncio.run(main())
    """
)


def test_a_tcp_probe_out_of_descriptors_says_the_fault_is_its_own(tmp_path: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        port = server.getsockname()[1]
        child = subprocess.run(
            [sys.executable, "-c", CHILD, str(port)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert child.returncode == 0, child.stderr
    report = json.loads(child.stdout)
    assert report["short"] == [
        False,
        "connect failed: Too many open files",
        "Too many open files (EMFILE)",
    ]
    assert report["counted"] is None
    assert report["fine"] == [True, "connected", ""]
