"""A load balancer's own figures: HAProxy's current sessions per server, read for bursting."""

from __future__ import annotations

import asyncio
import urllib.request

import pytest
from haproxy_harness import Place, StartHaproxy, backends_for, provider_for

from gtm.providers.haproxy_stats import stat_column

DUMP = (
    "# pxname,svname,qcur,qmax,scur,smax\n"
    "billing,FRONTEND,,,2,5\n"
    "billing,site-a,0,0,2,3\n"
    "billing,site-b,1,1,,0\n"
    "billing,BACKEND,0,0,2,5\n"
    "search,site-a,0,0,7,7\n"
)


def test_a_column_is_read_for_the_servers_of_one_backend() -> None:
    assert stat_column(DUMP, "billing", "scur") == {"site-a": 2.0, "site-b": 0.0}
    assert stat_column(DUMP, "billing", "qcur") == {"site-a": 0.0, "site-b": 1.0}
    assert stat_column(DUMP, "nothing", "scur") == {}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "show stat has no pxname, svname, scur column"),
        ("# pxname,svname\nbilling,site-a\n", "show stat has no scur column"),
        ("# pxname,svname,scur\nbilling,site-a,many\n", "scur of billing/site-a is 'many'"),
    ],
)
def test_an_unreadable_dump_says_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        stat_column(text, "billing", "scur")


def _hold(port: int, seconds: float) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/?wait={seconds}", timeout=30) as a:
        a.read()


async def test_the_provider_reads_current_sessions_by_locator(
    place: Place, start_haproxy: StartHaproxy
) -> None:
    on_a = place({"site-a": 1, "site-b": 2, "site-c": 3})
    server = start_haproxy(backends_for(on_a), "unix")
    provider = provider_for(server)
    idle = await provider.load_figures(on_a, "sessions")
    assert set(idle.values()) == {0.0} and set(idle) == {loc.id for loc in on_a.locators}

    # Three requests held open by the replica: HAProxy counts them on the server that took them.
    port = server.frontend_port("billing")
    held = [asyncio.create_task(asyncio.to_thread(_hold, port, 3.0)) for _ in range(3)]
    try:
        for _ in range(200):
            busy = await provider.load_figures(on_a, "sessions")
            if sum(busy.values()) == 3:
                break
            await asyncio.sleep(0.02)
        assert sum(busy.values()) == 3, busy
    finally:
        await asyncio.gather(*held)
    queued = await provider.load_figures(on_a, "queue")
    assert set(queued.values()) == {0.0}
