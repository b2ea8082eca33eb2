"""Each plug-in family's map, the config's union and the factory agree, kind by kind.

Stores, providers and checks are each registered in one map (``STORES``, ``PROVIDERS``,
``CHECKS``); the config's union and the factory are derived from it. Here every kind in a
map is loaded from a file-shaped section through the union the config uses, and built by
the factory gtm uses, into the implementation of that kind; a kind missing from the
samples below fails, so a new kind comes with its test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import TypeAdapter

from gtm.config.checks import CHECKS, BaseCheck
from gtm.config.models import Config, Defaults, ServiceConfig
from gtm.config.plugins import Family, Plugin
from gtm.config.providers import PROVIDERS
from gtm.config.stores import STORES
from gtm.controller.probing import build_prober
from gtm.providers import build_provider
from gtm.registry.stores import MemoryStore, SqliteStore, open_store
from gtm.registry.stores.consul import ConsulStore
from healthchecks import DnsProbe, HttpClient, HttpProbe, TcpProbe, TlsProbe

ZONE = "gtm.example.test."

STORE_SAMPLES: dict[str, tuple[dict[str, Any], type]] = {
    "memory": ({"type": "memory"}, MemoryStore),
    "sqlite": ({"type": "sqlite", "path": "{tmp}/gtm.db"}, SqliteStore),
    "consul": ({"type": "consul", "address": "127.0.0.1:8500", "prefix": "gtm/"}, ConsulStore),
}

PROVIDER_SAMPLES: dict[str, dict[str, Any]] = {
    "rfc2136": {"type": "rfc2136", "server": "127.0.0.1:53", "zone": "other.example.test"},
    "route53": {
        "type": "route53",
        "hosted_zone_id": "Z0123456789",
        "endpoint_url": "http://127.0.0.1:5000",
    },
    "haproxy": {"type": "haproxy", "socket": "127.0.0.1:9999"},
    "elbv2": {
        "type": "elbv2",
        "listeners": {"billing": "arn:listener"},
        "target_groups": {"billing": {"aws-use1": "arn:tg"}},
        "endpoint_url": "http://127.0.0.1:5000",
    },
}

CHECK_SAMPLES: dict[str, tuple[dict[str, Any], type]] = {
    "http": ({"type": "http", "path": "/ready"}, HttpProbe),
    "https": ({"type": "https"}, HttpProbe),
    "tcp": ({"type": "tcp"}, TcpProbe),
    "dns": ({"type": "dns", "qname": "example.test."}, DnsProbe),
    "tls": ({"type": "tls", "server_name": "billing.example.test"}, TlsProbe),
}

FAMILIES = {"store": STORES, "provider": PROVIDERS, "check": CHECKS}
SAMPLES: dict[str, dict[str, Any]] = {
    "store": STORE_SAMPLES,
    "provider": PROVIDER_SAMPLES,
    "check": CHECK_SAMPLES,
}


def members(annotation: Any) -> tuple[type, ...]:
    """The sections of a discriminated union ``Annotated[A | B, Field(...)]``."""
    return get_args(get_args(annotation)[0])


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_kind_has_a_sample_and_every_sample_a_kind(name: str) -> None:
    assert set(SAMPLES[name]) == set(FAMILIES[name].kinds)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_each_section_names_exactly_the_kinds_mapped_to_it(name: str) -> None:
    family = FAMILIES[name]
    for section in family.sections:
        named = set(get_args(section.model_fields["type"].annotation))
        mapped = {kind for kind, plugin in family.kinds.items() if plugin.section is section}
        assert named == mapped, section.__name__


def test_the_config_fields_take_the_unions_of_the_maps() -> None:
    store = Config.model_fields["store"]
    assert (get_args(store.annotation), store.discriminator) == (STORES.sections, "type")
    providers = get_args(Config.model_fields["providers"].annotation)[1]
    assert members(providers) == PROVIDERS.sections
    for section in (ServiceConfig, Defaults):
        check = section.model_fields["check"]
        assert (get_args(check.annotation), check.discriminator) == (CHECKS.sections, "type")


@pytest.mark.parametrize("kind", sorted(STORE_SAMPLES))
async def test_each_store_kind_opens_its_store(kind: str, tmp_path: Path) -> None:
    raw, cls = STORE_SAMPLES[kind]
    raw = {key: str(value).format(tmp=tmp_path) for key, value in raw.items()}
    section = TypeAdapter(STORES.union()).validate_python(raw)
    store = open_store(section)
    try:
        assert type(store) is cls
    finally:
        await store.close()


@pytest.mark.parametrize("kind", sorted(PROVIDER_SAMPLES))
async def test_each_provider_kind_builds_its_provider(kind: str) -> None:
    section = TypeAdapter(PROVIDERS.union()).validate_python(PROVIDER_SAMPLES[kind])
    provider = build_provider("main", section, ZONE)
    try:
        assert (provider.kind, provider.name) == (kind, "main")
    finally:
        await provider.close()


def test_a_provider_with_its_own_zone_works_on_it() -> None:
    section = TypeAdapter(PROVIDERS.union()).validate_python(PROVIDER_SAMPLES["rfc2136"])
    bind = build_provider("bind", section, ZONE)

    assert str(bind.origin) == "other.example.test."


@pytest.mark.parametrize("kind", sorted(CHECK_SAMPLES))
async def test_each_check_kind_builds_its_prober(kind: str) -> None:
    raw, cls = CHECK_SAMPLES[kind]
    check: BaseCheck = TypeAdapter(CHECKS.union()).validate_python(raw)
    http = HttpClient()
    try:
        prober = build_prober(check, "192.0.2.1", 8443, http)
    finally:
        await http.close()

    assert type(prober) is cls
    assert prober.port == 8443


async def test_http_and_https_share_a_section_and_keep_their_scheme() -> None:
    adapter: TypeAdapter[BaseCheck] = TypeAdapter(CHECKS.union())
    http = HttpClient()
    try:
        probers = [
            build_prober(adapter.validate_python({"type": kind}), "192.0.2.1", 80, http)
            for kind in ("http", "https")
        ]
    finally:
        await http.close()

    assert [prober.scheme for prober in probers] == ["http", "https"]


def test_a_factory_that_is_not_callable_is_refused() -> None:
    family = Family("store", {"odd": Plugin(STORES.sections[0], "gtm.config.stores:STORES")})

    with pytest.raises(TypeError, match=r"gtm\.config\.stores:STORES is not callable"):
        family.factory("odd")
