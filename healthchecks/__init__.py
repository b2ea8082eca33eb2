"""Health probers (HTTP, TCP, DNS, TLS) and a scheduler; independent of gtm."""

from healthchecks.clock import Clock, LoopClock, wall_times
from healthchecks.dns import DnsProbe
from healthchecks.http import HttpClient, HttpProbe, HttpsProbe
from healthchecks.result import Prober, Result, Stopwatch
from healthchecks.scheduler import Check, OnResult, Scheduler
from healthchecks.tcp import TcpProbe
from healthchecks.tls import TlsProbe

__all__ = [
    "Check",
    "Clock",
    "DnsProbe",
    "HttpClient",
    "HttpProbe",
    "HttpsProbe",
    "LoopClock",
    "OnResult",
    "Prober",
    "Result",
    "Scheduler",
    "Stopwatch",
    "TcpProbe",
    "TlsProbe",
    "wall_times",
]
