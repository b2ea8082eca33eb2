"""Configuration: pydantic models of the YAML file, the loader, and secret references."""

from gtm.config.checks import BaseCheck, CheckConfig, DnsCheck, HttpCheck, TcpCheck, TlsCheck
from gtm.config.durations import Duration, format_duration, parse_duration
from gtm.config.listen import Listen
from gtm.config.loader import check_config, load_config
from gtm.config.models import (
    ApiConfig,
    Config,
    Defaults,
    DnsConfig,
    LocatorConfig,
    MemoryStoreConfig,
    ServiceConfig,
    SiteConfig,
    SqliteStoreConfig,
    StoreConfig,
)
from gtm.config.secrets import SecretRef, resolve_secret

__all__ = [
    "ApiConfig",
    "BaseCheck",
    "CheckConfig",
    "Config",
    "Defaults",
    "DnsCheck",
    "DnsConfig",
    "Duration",
    "HttpCheck",
    "Listen",
    "LocatorConfig",
    "MemoryStoreConfig",
    "SecretRef",
    "ServiceConfig",
    "SiteConfig",
    "SqliteStoreConfig",
    "StoreConfig",
    "TcpCheck",
    "TlsCheck",
    "check_config",
    "format_duration",
    "load_config",
    "parse_duration",
    "resolve_secret",
]
