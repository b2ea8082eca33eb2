"""What the Route 53 and ELBv2 providers share: a boto3 client, and AWS errors in gtm's tree.

boto3 is blocking and raises its own exceptions; the providers call it through
:func:`call`, which runs it in a thread, retries throttling with a bounded exponential
backoff, and translates what is left into :class:`AwsUnavailable` (retry later) or
:class:`AwsRejected` (fix something), naming the resource involved.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import boto3
import botocore.config
import botocore.exceptions

from gtm.config.providers import AwsCredentials
from gtm.config.secrets import resolve_secret
from gtm.errors import GtmError, Rejected, Unavailable

T = TypeVar("T")

THROTTLED = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "PriorRequestNotComplete",
    }
)
"""Error codes that mean "too fast, slow down": Route 53 answers ``Throttling`` past the
request rate and ``PriorRequestNotComplete`` while a change to the same zone is still
being processed; ELBv2 answers ``Throttling`` too."""


class AwsUnavailable(Unavailable):
    """An AWS endpoint did not answer, failed on its side, or throttled us.

    Attributes:
        code: The AWS error code (``Throttling``) or the connection problem's class name.
        retry_after: Seconds to wait before trying again: the server's Retry-After, or
            after throttling that outlasted the retries, the next backoff step.
    """

    def __init__(self, message: str, code: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after


class AwsRejected(Rejected):
    """AWS refused a request (access denied, bad change batch, no such zone or listener).

    Attributes:
        code: The AWS error code (``NoSuchHostedZone``).
    """

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Retry:
    """How often, and how patiently, a throttled call is tried again before giving up."""

    tries: int = 4
    """Attempts in all, the first included."""
    first_delay: float = 0.2
    """Wait after the first throttled attempt; doubles after each one."""
    max_delay: float = 2.0
    """Longest single wait, unless the server's Retry-After asks for more."""

    def delay(self, attempt: int, hint: float | None) -> float:
        """The wait after failed attempt number ``attempt`` (1-based)."""
        backoff = min(self.first_delay * 2.0 ** (attempt - 1), self.max_delay)
        return max(backoff, hint or 0.0)


def make_client(
    service: Literal["route53", "elbv2"],
    *,
    region: str,
    endpoint_url: str | None,
    credentials: AwsCredentials | None,
    timeout: float,
) -> Any:
    """A boto3 client for ``service`` built from a provider's settings.

    Args:
        service: ``route53`` or ``elbv2``.
        region: AWS region name.
        endpoint_url: A custom endpoint (a local moto server), or None for AWS's own.
        credentials: Secret references to resolve; None uses boto3's credential chain.
        timeout: Seconds for connecting and for reading one answer.

    Raises:
        ConfigError: A credential reference cannot be resolved.
    """
    keys: dict[str, str] = {}
    if credentials is not None:
        keys["aws_access_key_id"] = resolve_secret(credentials.access_key_id).get_secret_value()
        keys["aws_secret_access_key"] = resolve_secret(
            credentials.secret_access_key
        ).get_secret_value()
    config = botocore.config.Config(
        connect_timeout=timeout,
        read_timeout=timeout,
        # botocore's own retries would hide throttling from the bounded backoff in
        # ``call`` and stretch a dead endpoint into many silent attempts; the reconciler
        # already retries an unavailable provider, so one attempt per call here.
        retries={"total_max_attempts": 1},
    )
    # Its own boto3 Session: the default one is shared module state, not safe to build
    # clients from in several threads at once.
    session = boto3.session.Session()
    return session.client(
        service, region_name=region, endpoint_url=endpoint_url, config=config, **keys
    )


def translate(exc: Exception, what: str) -> GtmError:
    """``exc`` from botocore as a gtm error whose message starts with ``what``.

    Throttling, server-side (5xx) failures and connection problems become
    :class:`AwsUnavailable`; everything else AWS refuses, and missing credentials,
    :class:`AwsRejected`.

    Args:
        exc: The exception boto3 raised.
        what: Component, operation and resource, e.g.
            ``route53 r53-main: ChangeResourceRecordSets on hosted zone Z123``.
    """
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        meta = exc.response.get("ResponseMetadata", {})
        code = str(error.get("Code") or "Unknown")
        detail = str(error.get("Message") or "").strip()
        status = int(meta.get("HTTPStatusCode") or 0)
        message = f"{what}: {code}" + (f": {detail}" if detail else "")
        if code in THROTTLED:
            return AwsUnavailable(message, code, _retry_after(meta.get("HTTPHeaders", {})))
        if status >= 500:
            return AwsUnavailable(message, code)
        return AwsRejected(message, code)
    if isinstance(
        exc, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError
    ):
        return AwsRejected(f"{what}: no usable AWS credentials: {exc}", type(exc).__name__)
    return AwsUnavailable(f"{what}: {exc}", type(exc).__name__)


def _retry_after(headers: dict[str, str]) -> float | None:
    value = headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        # An HTTP date instead of seconds: not worth parsing for a hint.
        return None


async def call(
    operation: Callable[[], T],
    what: str,
    retry: Retry,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Run the blocking ``operation`` in a thread, retrying it while it is throttled.

    Args:
        operation: A boto3 call with its arguments bound.
        what: Component, operation and resource, for error messages.
        retry: How many throttled attempts to make and how long to wait between them.
        sleep: The wait between attempts (the event loop's, unless a test injects one).

    Raises:
        AwsUnavailable: The endpoint is unreachable or failing, or it was still
            throttling after ``retry.tries`` attempts.
        AwsRejected: AWS refused the request.
    """
    attempt = 1
    while True:
        try:
            return await asyncio.to_thread(operation)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            error = translate(exc, what)
            if not (isinstance(error, AwsUnavailable) and error.code in THROTTLED):
                raise error from exc
            wait = retry.delay(attempt, error.retry_after)
            if attempt >= retry.tries:
                # The wait the next attempt would have had is the hint for whoever
                # retries later (the reconciler's own backoff).
                raise AwsUnavailable(
                    f"{error} (still throttled after {attempt} tries)", error.code, wait
                ) from exc
            await sleep(wait)
            attempt += 1
