"""What each provider would refuse in its options, found without reaching its system.

A provider is built when gtm starts; an option it cannot use (a socket address in neither
form, a zone that is not a domain name, a region boto3 rejects) used to surface there, one
at a time and after other parts had started. These checks are pure functions of a
provider's section, so ``gtm config check`` runs them on the whole file and the provider's
constructor runs the same ones: one answer to "is this usable?", whoever asks.

Checks that need a secret's value (is the TSIG key base64?) take the value as an
argument; resolving it is :mod:`gtm.config.preflight`'s job.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import NamedTuple
from urllib.parse import urlsplit

import dns.exception
import dns.name

from gtm.config.names import normalize_zone
from gtm.config.problems import Problem, render_path
from gtm.config.providers import (
    Elbv2Provider,
    HaproxyProvider,
    ProviderBase,
    Rfc2136Provider,
    Route53Provider,
)
from gtm.errors import ConfigError

SOCKET_FORMS = "unix:/run/haproxy/admin.sock, 127.0.0.1:9999"
"""Examples of the two forms of an HAProxy runtime API address."""

# HAProxy accepts letters, digits and ``_.:-`` in proxy and server names; anything else
# in the backend template would split or break the commands.
HAPROXY_NAME = re.compile(r"[A-Za-z0-9_.:-]+")

# What botocore accepts as a region name (``botocore.utils.validate_region_name``),
# spelled out so that checking a file does not import botocore.
_AWS_REGION = re.compile(r"(?![0-9]+$)(?!-)[a-zA-Z0-9-]{1,63}(?<!-)")
_HOST = re.compile(r"((?!-)[A-Za-z\d-]{1,63}(?<!-)\.)*((?!-)[A-Za-z\d-]{1,63}(?<!-))\.?")


class RuntimeSocket(NamedTuple):
    """An HAProxy runtime API address: a Unix socket path, or a host and a TCP port."""

    path: str | None
    host: str
    port: int


def parse_runtime_socket(address: str) -> RuntimeSocket:
    """The runtime API address ``unix:/path`` or ``host:port`` (``[::1]:9999`` for IPv6).

    Raises:
        ValueError: ``address`` is neither form; the message starts with the address.
    """
    if address.startswith("unix:"):
        path = address.removeprefix("unix:")
        if path:
            return RuntimeSocket(path, "", 0)
    else:
        host, _, port = address.rpartition(":")
        host = host.strip("[]")
        if host and port.isascii() and port.isdigit() and 1 <= int(port) <= 65535:
            return RuntimeSocket(None, host, int(port))
    raise ValueError(
        f"{address!r} is neither unix:/path nor host:port with a port in 1..65535 ({SOCKET_FORMS})"
    )


def tsig_key_material(secret: str) -> bytes:
    """The key bytes of a TSIG secret written in base64 (as ``tsig-keygen`` prints it).

    Whitespace is ignored, anything else outside the base64 alphabet is refused rather
    than skipped, so a mistyped key fails here and not as BADSIG at the server.

    Raises:
        ValueError: The text is not base64, or holds no bytes. The message does not
            show the secret.
    """
    try:
        material = base64.b64decode("".join(secret.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is not base64 key material (value not shown)") from None
    if not material:
        raise ValueError("holds no key material")
    return material


def provider_problems(provider: ProviderBase) -> list[Problem]:
    """Every option of ``provider`` its constructor would refuse, paths within its section.

    Pure: no secret is read and no system reached. Secrets are checked by
    :func:`gtm.config.preflight.preflight_problems`.
    """
    if isinstance(provider, HaproxyProvider):
        return haproxy_problems(provider)
    if isinstance(provider, Rfc2136Provider):
        return rfc2136_problems(provider)
    if isinstance(provider, Route53Provider):
        return _zone_problems(provider.zone) + _aws_problems(provider.region, provider.endpoint_url)
    if isinstance(provider, Elbv2Provider):
        return _aws_problems(provider.region, provider.endpoint_url)
    # A kind whose options pydantic checks in full has nothing more to refuse.
    return []


def check_provider(who: str, provider: ProviderBase) -> None:
    """Refuse ``provider`` if :func:`provider_problems` finds anything.

    For providers built from a section made in code; a loaded file has been checked.

    Args:
        who: The message prefix naming the provider (``haproxy lb-main``).
        provider: Its section.

    Raises:
        ConfigError: One problem per line: ``<who>: <field> <what is wrong>``.
    """
    problems = [
        f"{who}: {render_path(problem.path)} {problem.message}"
        for problem in provider_problems(provider)
    ]
    if problems:
        raise ConfigError("; ".join(problems), problems)


def haproxy_problems(provider: HaproxyProvider) -> list[Problem]:
    """What :class:`gtm.providers.haproxy.Haproxy` would refuse in ``provider``."""
    problems: list[Problem] = []
    try:
        parse_runtime_socket(provider.socket)
    except ValueError as exc:
        problems.append(Problem(("socket",), str(exc)))
    template = provider.backend
    if not HAPROXY_NAME.fullmatch(template.replace("{service}", "x")):
        problems.append(
            Problem(
                ("backend",),
                f"{template!r} is not a valid HAProxy name once {{service}} is replaced "
                "(letters, digits and _.:- only)",
            )
        )
    elif "{service}" not in template and len(set(provider.services)) != 1:
        problems.append(
            Problem(
                ("backend",),
                f"{template!r} has no {{service}}, so it needs exactly one service in "
                "services, or the services' servers would collide",
            )
        )
    for service, frontend in provider.frontends.items():
        if frontend.port == 0:
            problems.append(
                Problem(
                    ("frontends", service),
                    f"'{frontend}' has port 0; expected the port HAProxy listens on for "
                    f"{service}, where a planned failover sends its test request",
                )
            )
    return problems


def rfc2136_problems(provider: Rfc2136Provider) -> list[Problem]:
    """What :class:`gtm.providers.rfc2136.Rfc2136` would refuse in ``provider``."""
    problems = _zone_problems(provider.zone)
    if provider.server.port == 0:
        problems.append(
            Problem(
                ("server",),
                f"'{provider.server}' has port 0; expected the port the DNS server takes "
                "updates on (53)",
            )
        )
    if provider.tsig is not None:
        try:
            dns.name.from_text(provider.tsig.name)
        except dns.exception.DNSException as exc:
            reason = str(exc).rstrip(".")
            problems.append(
                Problem(
                    ("tsig", "name"),
                    f"{provider.tsig.name!r} is not a key name: {reason}; expected a domain "
                    "name such as gtm-key.",
                )
            )
    return problems


def _zone_problems(zone: str | None) -> list[Problem]:
    if zone is None:
        return []
    try:
        normalize_zone(zone)
    except ValueError as exc:
        return [Problem(("zone",), str(exc))]
    return []


def _aws_problems(region: str, endpoint_url: str | None) -> list[Problem]:
    problems: list[Problem] = []
    if not _AWS_REGION.fullmatch(region):
        problems.append(
            Problem(("region",), f"{region!r} is not an AWS region name (such as us-east-1)")
        )
    if endpoint_url is not None and not _is_endpoint(endpoint_url):
        problems.append(
            Problem(
                ("endpoint_url",),
                f"{endpoint_url!r} is not an endpoint; expected http:// or https:// and a "
                "host, such as http://127.0.0.1:5000",
            )
        )
    return problems


def _is_endpoint(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return False
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host or any(c.isspace() for c in url):
        return False
    return ":" in host or _HOST.fullmatch(host) is not None
