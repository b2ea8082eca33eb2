"""One exception tree for gtm, so callers can tell "try again" from "fix something".

::

    GtmError
    ├── ConfigError             a configuration file or value is wrong (permanent)
    ├── ListenError             an address gtm serves on cannot be listened on
    ├── Unavailable             a dependency did not answer; retry with backoff
    │   ├── StoreUnavailable    the registry's store did not answer
    │   │   ├── StoreInUse      another running gtm holds the store
    │   │   └── StoreStalled    a store call gave up waiting (another process's lock)
    │   └── ApiUnreachable      nothing answers at the gtm API's address
    └── Rejected                a request was refused and retrying will not help
        ├── ConflictError       a compare-and-set write lost against a newer version
        ├── NotFound            a service, intent or site that does not exist
        ├── Unauthorized        the API wants a token, or one of a stronger scope
        └── SafetyRefused       a safety rule forbids the change (names what stands in the way)

Library errors are translated at the boundary with ``raise ... from exc``; every message
starts with the component and names the values involved.
"""

from __future__ import annotations


class GtmError(Exception):
    """Base of every error gtm raises on purpose."""


class ConfigError(GtmError):
    """A configuration file or value is wrong; the message lists every problem."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems: list[str] = problems or [message]


class ListenError(GtmError):
    """An address gtm serves on (``dns.listen``, ``api.listen``) cannot be listened on.

    Args:
        message: The whole message: the config field, the address, why, and what to do.
        field: The config field that names the address (``dns.listen``).
        address: The address as configured (``127.0.0.1:15353``).
        errno: The operating system's error number (``errno.EADDRINUSE``), if any.
    """

    def __init__(self, message: str, *, field: str, address: str, errno: int | None) -> None:
        super().__init__(message)
        self.field = field
        self.address = address
        self.errno = errno


class Unavailable(GtmError):
    """A dependency did not answer; the same call may succeed later."""


class StoreUnavailable(Unavailable):
    """The registry's store did not answer."""


class StoreInUse(StoreUnavailable):
    """Another running gtm holds the store; one store serves one running instance.

    Args:
        message: The whole message, naming the store and its holder.
        path: The store's location (the SQLite file).
        holder: Who holds it, as recorded by the holder (``pid 1234 on host h``), or
            ``process unknown`` when it could not be read.
    """

    def __init__(self, message: str, *, path: str, holder: str) -> None:
        super().__init__(message)
        self.path = path
        self.holder = holder


class StoreStalled(StoreUnavailable):
    """A store call waited its bound for the backend and gave up; nothing of it was applied.

    For SQLite this is another process holding the database's write lock (a ``sqlite3``
    shell in a transaction, a backup, ``gtm plan`` on the same file) for longer than the
    store's busy timeout. The event loop kept serving meanwhile; the vantage's own health
    counts the stall, since a gtm that cannot write cannot publish what it decides.

    Args:
        message: The whole message, naming the store, the call and the wait.
        path: The store's location (the SQLite file).
        waited: Seconds the call waited before giving up.
    """

    def __init__(self, message: str, *, path: str, waited: float) -> None:
        super().__init__(message)
        self.path = path
        self.waited = waited


class ApiUnreachable(Unavailable):
    """Nothing answered at the gtm API's address: no gtm runs there, or the address is wrong.

    Args:
        message: The whole message, starting with the component.
        url: The address that was tried.
        reason: Why it did not answer, in a few words ("connection refused").
    """

    def __init__(self, message: str, *, url: str, reason: str) -> None:
        super().__init__(message)
        self.url = url
        self.reason = reason


class Rejected(GtmError):
    """A request was refused; retrying the same request will not help."""


class ConflictError(Rejected):
    """A compare-and-set write found a newer version than it expected."""


class NotFound(Rejected):
    """The named service, intent or site does not exist."""


class Unauthorized(Rejected):
    """The API refused a change: no token, an unknown one, or one of too weak a scope.

    Args:
        message: The whole message, starting with the component.
        code: The API's error code: ``unauthorized`` (no token), ``forbidden`` (not a
            configured token), ``insufficient_scope`` or ``read_only`` (none configured).
        needed: The scope the change needs (``read``, ``operate``, ``admin``), when known.
        token: The name of the token that was sent, when the API recognised it.
        scope: The scope of that token.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str,
        needed: str | None = None,
        token: str | None = None,
        scope: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.needed = needed
        self.token = token
        self.scope = scope


class SafetyRefused(Rejected):
    """A safety rule refused a change: a standing intent or a site's state stands in its
    way, and the message names it (the intent's id, who set it and why)."""
