"""One exception tree for gtm, so callers can tell "try again" from "fix something".

::

    GtmError
    ├── ConfigError             a configuration file or value is wrong (permanent)
    ├── Unavailable             a dependency did not answer; retry with backoff
    │   └── StoreUnavailable    the registry's store did not answer
    └── Rejected                a request was refused and retrying will not help
        ├── ConflictError       a compare-and-set write lost against a newer version
        ├── NotFound            a service, intent or site that does not exist
        └── SafetyRefused       a change a safety rule forbids (numbers in the message)

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


class Unavailable(GtmError):
    """A dependency did not answer; the same call may succeed later."""


class StoreUnavailable(Unavailable):
    """The registry's store did not answer."""


class Rejected(GtmError):
    """A request was refused; retrying the same request will not help."""


class ConflictError(Rejected):
    """A compare-and-set write found a newer version than it expected."""


class NotFound(Rejected):
    """The named service, intent or site does not exist."""


class SafetyRefused(Rejected):
    """A safety rule refused a change; the message gives the numbers."""
