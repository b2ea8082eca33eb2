"""Loading configuration files: what is accepted, and how each problem is reported."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from gtm.config import (
    Config,
    HttpCheck,
    Listen,
    SqliteStoreConfig,
    TcpCheck,
    check_config,
    load_config,
)
from gtm.config.readiness import ReleaseConfig
from gtm.errors import ConfigError

CONFIG_DIR = Path(__file__).parents[2] / "config"

WriteConfig = Callable[[str], Path]

SITES = """\
zone: gtm.example.test.
sites:
  aws-use1: {provider: aws, region: us-east-1}
  gcp-euw1: {provider: gcp, region: europe-west1}
  dc-paris: {provider: onprem}
"""
"""The top of a configuration: a zone and the three sites every case uses."""

SAMPLE = """\
zone: gtm.example.test.
dns: {listen: "127.0.0.1:15353"}
api: {listen: "127.0.0.1:18080"}
store: {type: sqlite, path: var/gtm.db}
sites:
  aws-use1: {provider: aws, region: us-east-1}
  gcp-euw1: {provider: gcp, region: europe-west1}
  dc-paris: {provider: onprem}
services:
  billing:
    policy: whack-a-mole          # or: priority (with dwell), weighted
    ttl: 5
    all_down: stay                # or: open, closed
    check: {type: http, path: /health, interval: 1s, timeout: 500ms, rise: 2, fall: 3}
    locators:                     # site order = preference order
      - {site: aws-use1, address: 127.0.1.1, port: 18081}
      - {site: gcp-euw1, address: 127.0.2.1, port: 18081}
      - {site: dc-paris, address: 127.0.3.1, port: 18081}
"""

BILLING = """\
services:
  billing:
    locators:
      - {site: aws-use1, address: 127.0.1.1, port: 18081}
"""


def problems_in(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.problems


def test_sample_is_accepted_as_written(write_config: WriteConfig) -> None:
    path = write_config(SAMPLE)

    config = load_config(path)

    assert config.zone == "gtm.example.test."
    assert config.dns.listen == Listen("127.0.0.1", 15353)
    assert config.api.listen == Listen("127.0.0.1", 18080)
    assert config.api.token is None
    assert config.store == SqliteStoreConfig(path=str(path.parent / "var" / "gtm.db"))
    assert list(config.sites) == ["aws-use1", "gcp-euw1", "dc-paris"]
    assert config.sites["aws-use1"].provider == "aws"
    assert config.sites["aws-use1"].region == "us-east-1"
    assert config.sites["dc-paris"].region is None
    billing = config.services["billing"]
    assert (billing.policy, billing.ttl, billing.all_down) == ("whack-a-mole", 5, "stay")
    assert (billing.failback, billing.dwell, billing.min_healthy) == ("manual", 300.0, 1)
    assert billing.check == HttpCheck(path="/health", interval=1.0, timeout=0.5, rise=2, fall=3)
    assert billing.sites == ("aws-use1", "gcp-euw1", "dc-paris")
    assert [loc.id_in("billing") for loc in billing.locators] == [
        "billing@aws-use1/127.0.1.1:18081",
        "billing@gcp-euw1/127.0.2.1:18081",
        "billing@dc-paris/127.0.3.1:18081",
    ]
    assert check_config(path) == []


def test_example_file_loads() -> None:
    config = load_config(CONFIG_DIR / "gtm.example.yaml")

    assert {name: token.scope for name, token in config.api.bearer_tokens.items()} == {
        "alice": "admin",
        "ci-deployer": "operate",
        "dashboard": "read",
    }
    assert {type(service.check).__name__ for service in config.services.values()} == {
        "HttpCheck",
        "TcpCheck",
        "DnsCheck",
        "TlsCheck",
    }


def test_demo_file_loads() -> None:
    config = load_config(CONFIG_DIR / "demo.yaml")

    assert config.api.token == "env:GTM_TOKEN"
    assert config.store == SqliteStoreConfig(path=str((CONFIG_DIR / "var" / "demo.db").resolve()))
    assert {name: svc.locators[0].port for name, svc in config.services.items()} == {
        "billing": 18081,
        "search": 18082,
        "auth": 18083,
    }
    assert config.services["search"].sites[0] == "gcp-euw1"
    assert config.services["auth"].all_down == "closed"
    assert config.services["billing"].readiness == "strict"
    release = ReleaseConfig(header="X-Release")
    for service in config.services.values():
        assert service.check == HttpCheck(
            path="/health", interval=1.0, timeout=0.5, release=release
        )
        by_site = {loc.site: loc.address for loc in service.locators}
        assert by_site == {
            "aws-use1": "127.0.1.1",
            "gcp-euw1": "127.0.2.1",
            "dc-paris": "127.0.3.1",
        }


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        pytest.param(
            """\
services:
  billing:
    locators:
      - {site: aws-use1, address: 127.0.1.1, port: 18081}
      - {site: gcp-eu, address: 127.0.2.1, port: 18081}
""",
            "services.billing.locators[1].site: 'gcp-eu' is not a site; "
            "known sites: aws-use1, dc-paris, gcp-euw1 (line 10)",
            id="unknown-site",
        ),
        pytest.param(
            BILLING + "    check: {type: http, interval: 1 sec}\n",
            "services.billing.check.interval: '1 sec' is not a duration; "
            "expected a duration like 500ms, 1s, 2m",
            id="bad-duration",
        ),
        pytest.param(
            BILLING.replace("18081", "70000"),
            "services.billing.locators[0].port: 70000 is out of range; expected 1..65535",
            id="port-out-of-range",
        ),
        pytest.param(
            BILLING + "    colour: blue\n",
            "services.billing.colour: unknown key; expected one of: all_down, burst, check, "
            "damping, dwell, failback, locators, min_healthy, policy, readiness, ttl",
            id="unknown-key",
        ),
        pytest.param(
            BILLING
            + "      - {site: gcp-euw1, address: 127.0.2.1, port: 18081}\n"
            + "      - {site: aws-use1, address: 127.0.1.1, port: 18081}\n",
            "services.billing.locators[2]: duplicate locator aws-use1 127.0.1.1:18081 "
            "(same as locators[0])",
            id="duplicate-locator",
        ),
        pytest.param(
            BILLING
            + "      - {site: aws-use1, address: 127.0.1.2, port: 18081, name: lb}\n"
            + "      - {site: aws-use1, address: 127.0.1.3, port: 18081, name: lb}\n",
            "services.billing.locators[2]: duplicate locator name aws-use1/lb "
            "(same as locators[1])",
            id="duplicate-locator-name",
        ),
        pytest.param(
            BILLING + "    check: {type: tcp, interval: 1s, timeout: 1s}\n",
            "services.billing.check.timeout: 1s is not less than interval 1s; "
            "expected timeout < interval",
            id="timeout-not-below-interval",
        ),
        pytest.param(
            "services: {}\n",
            "services: {} is empty; expected at least 1 entry",
            id="no-services",
        ),
        pytest.param(
            "services:\n  billing:\n    locators: []\n",
            "services.billing.locators: [] is empty; expected at least 1 entry",
            id="no-locators",
        ),
        pytest.param(
            "services:\n  billing: {}\n",
            "services.billing.locators: missing; this key is required",
            id="missing-locators",
        ),
        pytest.param(
            BILLING.replace("127.0.1.1", "billing.example"),
            "services.billing.locators[0].address: 'billing.example' is not an IP address; "
            "expected an IPv4 or IPv6 literal",
            id="host-name-address",
        ),
        pytest.param(
            BILLING + "    policy: round-robin\n",
            "services.billing.policy: 'round-robin' is not allowed; "
            "expected 'whack-a-mole', 'priority', 'weighted' or 'burst'",
            id="unknown-policy",
        ),
        pytest.param(
            BILLING + "    check: {type: htp}\n",
            "services.billing.check.type: 'htp' is not a known type; "
            "expected one of: 'http', 'https', 'tcp', 'dns', 'tls'",
            id="unknown-check-type",
        ),
        pytest.param(
            BILLING + "    check: {path: /ready, timeout: 2s}\n",
            "services.billing.check.timeout: 2s is not less than interval 1s",
            id="check-without-type-is-http",
        ),
        pytest.param(
            BILLING + "    check: {type: http, rise: 0}\n",
            "services.billing.check.rise: 0 is out of range; expected >= 1",
            id="rise-zero",
        ),
        pytest.param(
            BILLING + "    ttl: soon\n",
            "services.billing.ttl: 'soon' is not an integer; expected 1..86400",
            id="ttl-not-integer",
        ),
        pytest.param(
            BILLING + "    min_healthy: 1.5\n",
            "services.billing.min_healthy: 1.5 is not a count or a fraction",
            id="min-healthy-fraction-above-one",
        ),
        pytest.param(
            BILLING + "    min_healthy: 2\n",
            "services.billing.min_healthy: 2 is more than the locators of site aws-use1 (1)",
            id="min-healthy-unreachable",
        ),
        pytest.param(
            BILLING.replace("billing", "Billing"),
            "services.Billing: 'Billing' is not a valid name",
            id="service-name-not-a-label",
        ),
        pytest.param(
            BILLING + "store: {type: redis}\n",
            "store.type: 'redis' is not a known type; expected one of: 'memory', 'sqlite'",
            id="unknown-store",
        ),
        pytest.param(
            BILLING + "dns: {listen: '127.0.0.1:99999'}\n",
            "dns.listen: '127.0.0.1:99999' is not a listen address: "
            "port '99999' is not in 0..65535",
            id="listen-port-out-of-range",
        ),
        pytest.param(
            BILLING + "api: {token: hunter2}\n",
            "api.token: not a secret reference (value not shown); expected env:NAME or file:PATH",
            id="token-not-a-reference",
        ),
        pytest.param(
            BILLING + "  billing:\n    locators: [{site: dc-paris, address: 127.0.3.1, port: 1}]\n",
            "services.billing: duplicate key (first at line 7) (line 10)",
            id="duplicate-key",
        ),
    ],
)
def test_each_problem_is_reported_with_path_value_and_expectation(
    write_config: WriteConfig, snippet: str, expected: str
) -> None:
    path = write_config(SITES + snippet)

    problems = problems_in(path)

    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}: {expected}"), problems[0]
    assert check_config(path) == problems


def test_a_secret_that_is_not_a_reference_is_never_echoed(write_config: WriteConfig) -> None:
    path = write_config(SITES + BILLING + "api: {token: hunter2}\n")

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert "hunter2" not in str(caught.value)


def test_all_problems_are_reported_at_once_in_file_order(write_config: WriteConfig) -> None:
    path = write_config(
        SITES
        + """\
services:
  billing:
    colour: blue
    check: {type: http, interval: 1 sec}
    locators:
      - {site: aws-use1, address: 127.0.1.1, port: 70000}
      - {site: gcp-eu, address: 127.0.2.1, port: 18081}
  search:
    check: {type: tcp, interval: 1s, timeout: 2s}
    locators:
      - {site: aws-use1, address: 127.0.1.1, port: 18082}
      - {site: aws-use1, address: 127.0.1.1, port: 18082}
"""
    )

    problems = problems_in(path)

    fields = [line.split(": ")[1] for line in problems]
    assert fields == [
        "services.billing.colour",
        "services.billing.check.interval",
        "services.billing.locators[0].port",
        "services.billing.locators[1].site",
        "services.search.check.timeout",
        "services.search.locators[1]",
    ]
    lines = [
        int(match.group(1)) for line in problems if (match := re.search(r"line (\d+)\)$", line))
    ]
    assert lines == [8, 9, 11, 12, 14, 17]


def test_error_message_summarises_every_problem(write_config: WriteConfig) -> None:
    path = write_config(SITES + BILLING.replace("18081", "0") + "    ttl: 0\n")

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert str(caught.value) == (
        f"{path}: 2 problems:\n"
        "  services.billing.locators[0].port: 0 is out of range; expected 1..65535 (line 9)\n"
        "  services.billing.ttl: 0 is out of range; expected 1..86400 (line 10)"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("zone: [a\nsites: {}\n", "invalid YAML: ", id="syntax"),
        pytest.param("zone: a\n  sites: b\n", "(line 2, column", id="syntax-line"),
        pytest.param("", "the file is empty", id="empty"),
        pytest.param("# nothing here\n", "the file is empty", id="only-comments"),
        pytest.param("- zone\n", "['zone'] is not a mapping", id="top-level-list"),
        pytest.param("a: 1\n---\nb: 2\n", "invalid YAML: ", id="two-documents"),
    ],
)
def test_unreadable_documents_are_config_errors(
    write_config: WriteConfig, text: str, expected: str
) -> None:
    path = write_config(text)

    problems = problems_in(path)

    assert len(problems) == 1
    assert problems[0].startswith(f"{path}: ")
    assert expected in problems[0]


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"

    assert check_config(path) == [f"{path}: cannot read: No such file or directory"]


def test_services_without_check_take_the_default_check(write_config: WriteConfig) -> None:
    config = load_config(
        write_config(
            SITES
            + "defaults: {check: {type: tcp, interval: 2s}}\n"
            + BILLING
            + "  search:\n"
            + "    check: {type: http, path: /ready}\n"
            + "    locators: [{site: gcp-euw1, address: 127.0.2.1, port: 18082}]\n"
        )
    )

    assert config.services["billing"].check == TcpCheck(type="tcp", interval=2.0)
    assert config.services["search"].check == HttpCheck(path="/ready")


def test_without_defaults_a_service_is_probed_with_http_health(write_config: WriteConfig) -> None:
    config = load_config(write_config(SITES + BILLING))

    assert config.services["billing"].check == HttpCheck(path="/health", method="GET")


def test_a_bad_default_check_is_reported_once(write_config: WriteConfig) -> None:
    path = write_config(SITES + "defaults: {check: {type: tcp, rise: 0}}\n" + BILLING)

    assert [line.split(": ")[1] for line in problems_in(path)] == ["defaults.check.rise"]


def test_relative_paths_are_relative_to_the_config_file(
    write_config: WriteConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(
        SITES + BILLING + "store: {type: sqlite, path: db/gtm.db}\napi: {token: file:token}\n"
    )
    monkeypatch.chdir("/")

    config = load_config(str(path))

    assert config.store == SqliteStoreConfig(path=str(tmp_path / "db" / "gtm.db"))
    assert config.api.token == f"file:{tmp_path / 'token'}"


def test_memory_store_and_absolute_paths_are_kept(write_config: WriteConfig) -> None:
    config = load_config(write_config(SITES + BILLING + "store: {type: memory}\n"))

    assert config.store.type == "memory"
    assert isinstance(config, Config)
