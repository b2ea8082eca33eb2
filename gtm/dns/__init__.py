"""Built-in authoritative DNS responder for the service zone."""

from gtm.dns.answers import MappingSource, ZoneAnswers
from gtm.dns.server import DnsServer

__all__ = ["DnsServer", "MappingSource", "ZoneAnswers"]
