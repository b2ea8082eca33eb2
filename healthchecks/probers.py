"""Probers by short name, so configuration can say ``type: http`` and get the class.

The same shape as the Prometheus blackbox exporter's prober map: one entry per kind.
"""

from __future__ import annotations

from healthchecks.dns import DnsProbe
from healthchecks.http import HttpProbe, HttpsProbe
from healthchecks.result import Prober
from healthchecks.tcp import TcpProbe
from healthchecks.tls import TlsProbe

PROBERS: dict[str, type[Prober]] = {
    "http": HttpProbe,
    "https": HttpsProbe,
    "tcp": TcpProbe,
    "dns": DnsProbe,
    "tls": TlsProbe,
}
"""Prober classes by the short name configuration uses for them."""
