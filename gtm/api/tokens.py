"""Named bearer tokens and their scopes: who may change what through the API.

A token's name, not anything the request body claims, is the caller's identity in the
audit trail, so each configured name maps to exactly one secret and one scope.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pydantic import SecretStr

from gtm.config.models import ApiConfig
from gtm.config.secrets import resolve_secret
from gtm.errors import ConfigError


class Scope(enum.IntEnum):
    """What a token may do; a higher scope includes every lower one."""

    READ = 1
    """Identify the caller; change nothing."""
    OPERATE = 2
    """Create and withdraw intents, start runs."""
    ADMIN = 3
    """Everything, including what overrides a safety check (a forced pin)."""

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Token:
    """A configured bearer token.

    Attributes:
        name: Label of the token, recorded as the author of what it changes.
        scope: What the token may do.
        secret: The token itself; a ``SecretStr`` so it never shows in a repr or a log.
    """

    name: str
    scope: Scope
    secret: SecretStr


def tokens_from_config(config: ApiConfig) -> dict[str, Token]:
    """The tokens of ``config`` by name, their secrets resolved.

    ``api.token`` counts as the admin token ``default``.

    Raises:
        ConfigError: A secret reference cannot be resolved, or two tokens resolve to the
            same secret (the API could not tell which of them is asking).
    """
    tokens: dict[str, Token] = {}
    owner: dict[str, str] = {}
    for name, token_config in config.bearer_tokens.items():
        secret = resolve_secret(token_config.secret)
        first = owner.setdefault(secret.get_secret_value(), name)
        if first != name:
            raise ConfigError(
                f"config: api.tokens.{name}: its secret ({token_config.secret}) is the same as "
                f"the secret of api.tokens.{first}; each token needs a secret of its own"
            )
        tokens[name] = Token(name, Scope[token_config.scope.upper()], secret)
    return tokens
