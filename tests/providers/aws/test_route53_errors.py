"""AWS errors in gtm's tree, and the bounded backoff (shared by Route 53 and ELBv2)."""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import pytest

from gtm.errors import Rejected, Unavailable
from gtm.providers.aws import AwsRejected, AwsUnavailable, Retry, call, translate

WHAT = "route53 r53: ChangeResourceRecordSets on hosted zone Z1"


def client_error(code: str, status: int, headers: dict[str, str] | None = None) -> Exception:
    response: Any = {
        "Error": {"Code": code, "Message": f"{code} happened"},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers or {}},
    }
    error: Exception = botocore.exceptions.ClientError(response, "ChangeResourceRecordSets")
    return error


@pytest.mark.parametrize(
    ("error", "kind", "code"),
    [
        (client_error("Throttling", 400), AwsUnavailable, "Throttling"),
        (client_error("PriorRequestNotComplete", 400), AwsUnavailable, "PriorRequestNotComplete"),
        (client_error("ServiceUnavailable", 503), AwsUnavailable, "ServiceUnavailable"),
        (client_error("AccessDenied", 403), AwsRejected, "AccessDenied"),
        (client_error("InvalidChangeBatch", 400), AwsRejected, "InvalidChangeBatch"),
        (client_error("NoSuchHostedZone", 404), AwsRejected, "NoSuchHostedZone"),
        (
            botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
            AwsUnavailable,
            "EndpointConnectionError",
        ),
        (botocore.exceptions.NoCredentialsError(), AwsRejected, "NoCredentialsError"),
    ],
)
def test_botocore_errors_become_unavailable_or_rejected(
    error: Exception, kind: type[Exception], code: str
) -> None:
    translated = translate(error, WHAT)

    assert type(translated) is kind
    assert issubclass(kind, Unavailable if kind is AwsUnavailable else Rejected)
    assert getattr(translated, "code", None) == code
    assert str(translated).startswith(WHAT + ": ")


def test_a_retry_after_header_is_the_hint() -> None:
    translated = translate(client_error("Throttling", 400, {"retry-after": "3"}), WHAT)

    assert isinstance(translated, AwsUnavailable)
    assert translated.retry_after == 3.0


def test_backoff_doubles_up_to_its_cap_and_honours_a_longer_hint() -> None:
    retry = Retry(tries=6, first_delay=0.25, max_delay=1.0)

    assert [retry.delay(n, None) for n in range(1, 6)] == [0.25, 0.5, 1.0, 1.0, 1.0]
    assert retry.delay(1, 4.0) == 4.0


async def test_call_waits_the_backoff_between_throttled_tries() -> None:
    waits: list[float] = []
    attempts: list[int] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    def operation() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise client_error("Throttling", 400)
        return "done"

    result = await call(operation, WHAT, Retry(tries=4, first_delay=0.5, max_delay=5.0), sleep)

    assert result == "done"
    assert waits == [0.5, 1.0]


async def test_call_does_not_retry_a_refusal() -> None:
    attempts: list[int] = []

    def operation() -> None:
        attempts.append(1)
        raise client_error("AccessDenied", 403)

    with pytest.raises(AwsRejected, match="AccessDenied"):
        await call(operation, WHAT, Retry(first_delay=0.0))
    assert attempts == [1]
