"""A plain ``pip install .`` gives a gtm that starts, answers DNS and stops on SIGTERM.

Run with the interpreter of a venv that holds gtm installed without extras, from the
repository root: ``VENV/bin/python .ci/smoke.py``. It copies ``config/demo.yaml`` with
its DNS responder and API on port 0 (the kernel picks) and a store in a temporary folder,
starts ``gtm run``, reads the DNS port from the line gtm logs once it serves, waits for one
DNS answer for the zone's SOA, sends SIGTERM and expects a clean exit. Exits 1 with gtm's
output on any failure. It needs nothing but what the plain install brings.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rdatatype
import yaml

ROOT = Path(__file__).resolve().parent.parent
GTM = Path(sys.executable).parent / "gtm"
DEADLINE_S = 30.0
SERVING = re.compile(r"serving zone \S+: DNS on [\d.]+:(\d+),")
"""The line gtm logs once it serves, with the port the kernel gave its DNS responder."""


def dns_port(log: Path) -> int | None:
    """The DNS port gtm says it serves on, once it has said so."""
    found = SERVING.search(log.read_text(errors="replace"))
    return int(found.group(1)) if found else None


def soa_answered(zone: str, port: int) -> bool:
    """Whether gtm answers the zone's SOA over UDP with NOERROR and one record."""
    query = dns.message.make_query(zone, dns.rdatatype.SOA)
    try:
        reply = dns.query.udp(query, "127.0.0.1", port=port, timeout=0.5)
    except (OSError, dns.exception.DNSException):
        return False
    return reply.rcode() == 0 and len(reply.answer) == 1


def main() -> int:
    """Start, query, stop; 0 when all three worked."""
    with tempfile.TemporaryDirectory(prefix="gtm-smoke-") as tmp:
        doc = yaml.safe_load((ROOT / "config/demo.yaml").read_text())
        doc["dns"]["listen"] = "127.0.0.1:0"
        doc["api"]["listen"] = "127.0.0.1:0"
        doc["store"]["path"] = str(Path(tmp) / "smoke.db")
        config = Path(tmp) / "smoke.yaml"
        config.write_text(yaml.safe_dump(doc))
        env = dict(os.environ, GTM_TOKEN="smoke-token")
        log = Path(tmp) / "gtm.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                [str(GTM), "run", "-c", str(config)], stdout=out, stderr=subprocess.STDOUT, env=env
            )
            try:
                started = time.monotonic()
                while (port := dns_port(log)) is None or not soa_answered(doc["zone"], port):
                    if process.poll() is not None or time.monotonic() - started > DEADLINE_S:
                        print("smoke: gtm gave no DNS answer; its output:\n" + log.read_text())
                        return 1
                    time.sleep(0.1)
                answered = time.monotonic() - started
                process.send_signal(signal.SIGTERM)
                code = process.wait(timeout=DEADLINE_S)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        if code != 0:
            print(f"smoke: gtm exited {code} on SIGTERM; its output:\n" + log.read_text())
            return 1
    print(f"smoke: plain install OK (first DNS answer after {answered:.2f} s, clean stop)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
