"""The value types of the configuration and the models used directly from Python."""

from __future__ import annotations

import re
import socket

import pytest
from pydantic import ValidationError

from gtm.config import (
    Config,
    HttpCheck,
    Listen,
    LocatorConfig,
    ServiceConfig,
    SiteConfig,
    format_duration,
    parse_duration,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("1s", 1.0),
        ("1.5s", 1.5),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("1m30s", 90.0),
        ("50ms", 0.05),
        ("0s", 0.0),
        (3, 3.0),
        (0.25, 0.25),
    ],
)
def test_durations_are_read_as_seconds(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    ["1 sec", "1", "1.5", "s", "-1s", "1d", "1S", " 1s", "", "1s ", True, -1, None, float("inf")],
)
def test_other_durations_are_refused(text: object) -> None:
    with pytest.raises(ValueError, match=r"is not a duration; expected a duration like 500ms"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.5, "500ms"),
        (0.05, "50ms"),
        (1.0, "1s"),
        (1.5, "1.5s"),
        (90, "90s"),
        (120, "2m"),
        (0, "0s"),
    ],
)
def test_durations_are_shown_in_their_usual_spelling(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("127.0.0.1:15353", "127.0.0.1", 15353),
        ("0.0.0.0:53", "0.0.0.0", 53),
        ("localhost:8080", "localhost", 8080),
        ("[::1]:53", "::1", 53),
        ("[2001:DB8::1]:443", "2001:db8::1", 443),
        ("127.0.0.1:0", "127.0.0.1", 0),
        ("127.0.0.1:65535", "127.0.0.1", 65535),
    ],
)
def test_listen_addresses_are_parsed(text: str, host: str, port: int) -> None:
    listen = Listen.parse(text)

    assert (listen.host, listen.port) == (host, port)
    assert Listen.parse(str(listen)) == listen


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("127.0.0.1", "is not a listen address"),
        (":53", "is not a listen address"),
        ("example.com:53", "'example.com' is not an IP address"),
        ("::1:53", "write IPv6 as [::1]:port"),
        ("127.0.0.1:65536", "port '65536' is not in 0..65535"),
        ("127.0.0.1:-1", "port '-1' is not in 0..65535"),
        ("127.0.0.1:http", "port 'http' is not in 0..65535"),
    ],
)
def test_bad_listen_addresses_are_refused(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        Listen.parse(text)


def test_listen_serializes_back_to_its_string() -> None:
    config = make_config(dns={"listen": "[::1]:5353"})

    assert config.model_dump(mode="json")["dns"]["listen"] == "[::1]:5353"
    host, port = config.dns.listen
    assert (host, port) == ("::1", 5353)


@pytest.mark.parametrize(
    ("zone", "stored"),
    [("gtm.example.test.", "gtm.example.test."), ("GTM.Example.Test", "gtm.example.test.")],
)
def test_zone_is_lowercased_and_absolute(zone: str, stored: str) -> None:
    assert make_config(zone=zone).zone == stored


@pytest.mark.parametrize("zone", [".", "", "a..b", "-a.test", "a b.test", "x" * 64 + ".test"])
def test_bad_zones_are_refused(zone: str) -> None:
    with pytest.raises(ValidationError, match="is not a zone"):
        make_config(zone=zone)


def test_locator_ids_use_the_name_or_the_endpoint() -> None:
    named = LocatorConfig(site="aws-use1", address="127.0.1.1", port=18081, name="lb-1")
    v6 = LocatorConfig(site="dc-paris", address="2001:DB8:0::1", port=18081)

    assert named.id_in("billing") == "billing@aws-use1/lb-1"
    assert v6.id_in("billing") == "billing@dc-paris/[2001:db8::1]:18081"


def test_site_preference_is_the_order_of_first_appearance() -> None:
    service = ServiceConfig(
        locators=[
            locator("gcp-euw1", "127.0.2.1"),
            locator("aws-use1", "127.0.1.1"),
            locator("gcp-euw1", "127.0.2.2"),
            locator("dc-paris", "127.0.3.1"),
        ]
    )

    assert service.sites == ("gcp-euw1", "aws-use1", "dc-paris")


@pytest.mark.parametrize("value", [1, 2, 0.5, 1.0])
def test_min_healthy_is_a_count_or_a_fraction(value: float) -> None:
    locators = [locator("aws-use1", "127.0.1.1"), locator("aws-use1", "127.0.1.2")]

    assert ServiceConfig(min_healthy=value, locators=locators).min_healthy == value


@pytest.mark.parametrize("value", [0, -1, 0.0, 1.5, True, "1"])
def test_other_min_healthy_values_are_refused(value: object) -> None:
    document = {"min_healthy": value, "locators": [{"site": "a", "address": "::1", "port": 1}]}

    with pytest.raises(ValidationError, match="is not a count or a fraction"):
        ServiceConfig.model_validate(document)


def test_hand_built_configs_are_checked_for_unknown_sites() -> None:
    service = ServiceConfig(locators=[locator("aws-use2", "127.0.1.1")])

    with pytest.raises(ValidationError, match="'aws-use2' is not a site; known sites: aws-use1"):
        Config(zone="gtm.example.test", sites={"aws-use1": SiteConfig()}, services={"s": service})


def test_models_are_frozen() -> None:
    check = HttpCheck()

    with pytest.raises(ValidationError, match="frozen"):
        check.path = "/other"


def test_instance_defaults_to_the_host_name() -> None:
    assert make_config().instance == socket.gethostname()


def locator(site: str, address: str) -> LocatorConfig:
    return LocatorConfig(site=site, address=address, port=18081)


def make_config(**fields: object) -> Config:
    document: dict[str, object] = {
        "zone": "gtm.example.test.",
        "sites": {"aws-use1": {}},
        "services": {"billing": {"locators": [{"site": "aws-use1", "address": "::1", "port": 1}]}},
        **fields,
    }
    return Config.model_validate(document)
