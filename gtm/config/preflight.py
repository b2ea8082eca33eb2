"""What a valid configuration still needs before gtm starts: its secrets, readable and usable.

A file can be valid and still not start: an environment variable is not set, a key file
is missing, a TSIG key is not base64. Reading every secret once, up front, lets ``gtm run``
refuse before it binds a port or claims the store, with every such problem at once and
the field each comes from, instead of stopping at the first one some part happens to
read; ``gtm config check --secrets`` gives the same list without starting anything.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import SecretStr

from gtm.config.models import Config
from gtm.config.problems import FieldPath, Problem, render_path
from gtm.config.provider_checks import provider_problems, tsig_key_material
from gtm.config.providers import Rfc2136Provider, TsigConfig
from gtm.config.secrets import read_secret, secret_references
from gtm.errors import ConfigError


def preflight_problems(config: Config) -> list[Problem]:
    """Every problem that would stop ``config`` from starting, short of ports and store.

    Resolves every secret reference and checks what the value must be (TSIG key
    material is base64; API tokens differ from each other), and runs each provider's
    offline checks again, which a configuration assembled in code may have skipped.
    Nothing is contacted and nothing is logged; secret values never appear in a message.

    Returns:
        The problems in document order, paths from the top of the file
        (``api.tokens.alice.secret: environment variable GTM_TOKEN is not set``).
    """
    problems = [
        Problem(("providers", name, *problem.path), problem.message)
        for name, provider in config.providers.items()
        for problem in provider_problems(provider)
    ]
    values: dict[FieldPath, SecretStr] = {}
    for path, ref in secret_references(config):
        try:
            values[path] = read_secret(ref)
        except ValueError as exc:
            problems.append(Problem(path, str(exc)))
    problems += _tsig_problems(config, values)
    problems += _token_problems(config, values)
    return problems


def preflight(config: Config, *, within: Iterable[FieldPath] | None = None) -> None:
    """Refuse ``config`` when :func:`preflight_problems` finds anything.

    Args:
        config: The configuration.
        within: Only problems at or under these paths count (``("providers", "bind")``
            for a command that uses that provider alone); None: every problem.

    Raises:
        ConfigError: ``problems`` holds one line per problem, ``<field>: <message>``.
    """
    found = preflight_problems(config)
    if within is not None:
        wanted = tuple(within)
        found = [p for p in found if any(p.path[: len(w)] == w for w in wanted)]
    problems = [str(problem) for problem in found]
    if len(problems) == 1:
        raise ConfigError(f"config: {problems[0]}", problems)
    if problems:
        listed = "\n".join(f"  {line}" for line in problems)
        raise ConfigError(f"config: {len(problems)} problems:\n{listed}", problems)


def _tsig_problems(config: Config, values: dict[FieldPath, SecretStr]) -> list[Problem]:
    keys: list[tuple[FieldPath, TsigConfig]] = [
        (("providers", name, "tsig", "secret"), provider.tsig)
        for name, provider in config.providers.items()
        if isinstance(provider, Rfc2136Provider) and provider.tsig is not None
    ]
    if config.dns.transfer.tsig is not None:
        keys.append((("dns", "transfer", "tsig", "secret"), config.dns.transfer.tsig))
    problems: list[Problem] = []
    for path, tsig in keys:
        value = values.get(path)
        if value is None:
            continue  # already reported as unreadable
        try:
            tsig_key_material(value.get_secret_value())
        except ValueError as exc:
            problems.append(Problem(path, f"{tsig.secret} {exc}"))
    return problems


def _token_problems(config: Config, values: dict[FieldPath, SecretStr]) -> list[Problem]:
    """Tokens whose references differ but whose secrets are the same.

    Equal references are refused when the file is validated; this finds two variables or
    files holding one value, which would leave the API unable to tell who is asking.
    """
    problems: list[Problem] = []
    first: dict[str, FieldPath] = {}
    for name in config.api.tokens:
        path: FieldPath = ("api", "tokens", name, "secret")
        value = values.get(path)
        if value is None:
            continue
        earlier = first.setdefault(value.get_secret_value(), path)
        if earlier != path:
            problems.append(
                Problem(
                    path,
                    f"{config.api.tokens[name].secret} holds the same secret as "
                    f"{render_path(earlier)}; each token needs a secret of its own",
                )
            )
    return problems
