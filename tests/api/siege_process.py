"""The API and the DNS responder in a process with few descriptors, probing while they serve.

Run by ``test_api_siege.py`` as ``python siege_process.py LIMIT``: it lowers its open-file
limit to LIMIT, serves the API and DNS on 127.0.0.1 with caps derived from that limit, and
opens a connection to a local TCP server every few milliseconds, as a prober would. It
prints ``{"port": ..., "dns_port": ...}`` once serving, and on a line on stdin prints what
the probes met and exits.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from api_harness import SERVICES, SITES, TOKENS, FakeRegistry

from gtm.api.app import ApiDeps, make_app
from gtm.api.server import start_api
from gtm.core.model import Locator, Mapping, State
from gtm.dns import DnsServer, ZoneAnswers
from gtm.logs import setup_logging

ZONE = "gtm.example.test."
BILLING = Mapping(
    service="billing",
    version=1,
    epoch=1,
    ttl=5,
    active_site="a",
    locators=(Locator("billing@a/1", "a", "192.0.2.10", 443, 1, 100, State.UP),),
    reason="a is healthy",
)


class OneService:
    """The mapping source of the responder: one service that never moves."""

    def get(self, service: str) -> Mapping | None:
        return BILLING if service == "billing" else None

    def subscribe(self, callback: object) -> object:
        return lambda: None


PROBE_EVERY = 0.005


async def main(limit: int) -> None:
    setup_logging("INFO")
    server = await start_api(
        make_app(ApiDeps(FakeRegistry(), SERVICES, SITES, TOKENS)), "127.0.0.1", 0
    )
    answers = ZoneAnswers(ZONE, OneService(), ns=("ns1",), negative_ttl=5)
    dns = DnsServer(answers)
    await dns.start("127.0.0.1", 0)
    target = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    target_port = target.sockets[0].getsockname()[1]
    probes = {"ok": 0, "failed": 0, "errors": []}

    async def probe() -> None:
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", target_port)
                writer.close()
                probes["ok"] += 1
            except OSError as exc:
                probes["failed"] += 1
                probes["errors"].append(str(exc))
            await asyncio.sleep(PROBE_EVERY)

    prober = asyncio.create_task(probe())
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    ready = {"port": server.port, "cap": server.admission.total, "dns_port": dns.port}
    print(json.dumps(ready), flush=True)
    await reader.readline()
    prober.cancel()
    admission = server.admission
    print(json.dumps({**probes, "errors": probes["errors"][:5], "open": admission.open}))
    await server.close()
    await dns.close()
    answers.close()
    target.close()


if __name__ == "__main__":
    wanted = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
    asyncio.run(main(wanted))
