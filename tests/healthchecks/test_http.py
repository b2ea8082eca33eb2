"""HttpProbe against real aiohttp servers on loopback."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from healthchecks.http import HttpClient, HttpProbe, HttpsProbe

if TYPE_CHECKING:
    from tests.healthchecks.conftest import WebTarget

LOOPBACK = "127.0.0.1"


def probe_of(target: WebTarget, client: HttpClient, path: str, **fields: object) -> HttpProbe:
    return HttpProbe(target.host, target.port, path, client=client, **fields)  # type: ignore[arg-type]


async def test_healthy_endpoint_passes(web_target: WebTarget, http_client: HttpClient) -> None:
    result = await probe_of(web_target, http_client, "/ok").probe(timeout=2)

    assert result.ok
    assert result.reason == "status 200"
    assert result.latency >= 0
    assert result.started_at <= result.finished_at


async def test_unexpected_status_fails_with_the_status(
    web_target: WebTarget, http_client: HttpClient
) -> None:
    result = await probe_of(web_target, http_client, "/fail").probe(timeout=2)

    assert not result.ok
    assert result.reason == "status 503 not in {200}"


async def test_expected_statuses_are_configurable(
    web_target: WebTarget, http_client: HttpClient
) -> None:
    probe = probe_of(web_target, http_client, "/fail", expect_status=frozenset({200, 503}))

    assert (await probe.probe(timeout=2)).ok


async def test_redirect_is_judged_by_its_own_status(
    web_target: WebTarget, http_client: HttpClient
) -> None:
    result = await probe_of(web_target, http_client, "/moved").probe(timeout=2)

    assert result.reason == "status 302 not in {200}"
    assert web_target.requests == 1


async def test_body_must_contain_the_text(web_target: WebTarget, http_client: HttpClient) -> None:
    passing = await probe_of(web_target, http_client, "/ok", body_contains="all ok").probe(2)
    failing = await probe_of(web_target, http_client, "/ok", body_contains="ready").probe(2)

    assert passing.ok
    assert not failing.ok
    assert failing.reason == "body does not contain 'ready'"


async def test_slow_response_times_out(web_target: WebTarget, http_client: HttpClient) -> None:
    result = await probe_of(web_target, http_client, "/slow").probe(timeout=0.2)

    assert not result.ok
    assert result.reason == "timeout after 0.200s"
    assert result.latency >= 0.2


async def test_closed_port_is_refused(closed_port: int, http_client: HttpClient) -> None:
    result = await HttpProbe(LOOPBACK, closed_port, client=http_client).probe(timeout=2)

    assert not result.ok
    assert result.reason == "connect refused"


async def test_host_header_is_sent(web_target: WebTarget, http_client: HttpClient) -> None:
    probe = probe_of(web_target, http_client, "/ok", host_header="billing.example")

    assert (await probe.probe(timeout=2)).ok
    assert web_target.hosts_seen == ["billing.example"]


async def test_every_probe_opens_a_fresh_connection(
    web_target: WebTarget, http_client: HttpClient
) -> None:
    probe = probe_of(web_target, http_client, "/ok")

    for _ in range(3):
        assert (await probe.probe(timeout=2)).ok

    # A kept-alive connection would arrive from the same client port every time.
    assert len(set(web_target.peers_seen)) == 3


async def test_client_can_be_used_again_after_close(web_target: WebTarget) -> None:
    async with HttpClient() as client:
        probe = probe_of(web_target, client, "/ok")
        assert (await probe.probe(timeout=2)).ok
        await client.close()
        assert (await probe.probe(timeout=2)).ok


async def test_https_without_verification_passes(
    tls_web_target: WebTarget, http_client: HttpClient
) -> None:
    probe = HttpsProbe(LOOPBACK, tls_web_target.port, "/ok", tls_verify=False, client=http_client)

    result = await probe.probe(timeout=2)

    assert result.ok, result.reason


async def test_https_with_an_untrusted_certificate_is_a_tls_error(
    tls_web_target: WebTarget, http_client: HttpClient
) -> None:
    probe = HttpsProbe(LOOPBACK, tls_web_target.port, "/ok", client=http_client)

    result = await probe.probe(timeout=2)

    assert not result.ok
    assert result.reason.startswith("TLS error: certificate verify failed")


async def test_https_to_a_plain_http_server_fails(
    web_target: WebTarget, http_client: HttpClient
) -> None:
    probe = HttpsProbe(LOOPBACK, web_target.port, "/ok", tls_verify=False, client=http_client)

    result = await probe.probe(timeout=2)

    assert not result.ok
    assert result.reason.startswith("TLS error")


def test_https_probe_defaults_to_https() -> None:
    probe = HttpsProbe(LOOPBACK, 443, client=HttpClient())

    assert str(probe.url) == "https://127.0.0.1/"


def test_url_keeps_the_query_and_brackets_ipv6() -> None:
    probe = HttpProbe("::1", 8080, "/health?deep=1", client=HttpClient())

    assert str(probe.url) == "http://[::1]:8080/health?deep=1"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"scheme": "ftp"}, "scheme 'ftp' is not http or https"),
        ({"expect_status": frozenset()}, "expect_status is empty"),
    ],
)
def test_impossible_probes_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HttpProbe(LOOPBACK, 80, client=HttpClient(), **fields)  # type: ignore[arg-type]


SOURCE = "127.0.0.2"


@pytest.mark.parametrize("host", [LOOPBACK, "localhost"])
async def test_a_probe_leaves_from_the_clients_source_address(
    web_target: WebTarget, host: str
) -> None:
    # An address goes over the bare socket, a name over asyncio's transport: both bind.
    async with HttpClient(SOURCE) as client:
        result = await HttpProbe(host, web_target.port, "/ok", client=client).probe(timeout=2)

    assert result.ok
    assert [peer[0] for peer in web_target.peers_seen] == [SOURCE]


async def test_an_https_probe_leaves_from_the_clients_source_address(
    tls_web_target: WebTarget,
) -> None:
    async with HttpClient(SOURCE) as client:
        probe = HttpsProbe(LOOPBACK, tls_web_target.port, "/ok", tls_verify=False, client=client)
        result = await probe.probe(timeout=2)

    assert result.ok
    assert [peer[0] for peer in tls_web_target.peers_seen] == [SOURCE]


async def test_a_source_address_the_host_lacks_fails_the_probe(web_target: WebTarget) -> None:
    # 192.0.2.1 (TEST-NET-1) is on no interface of this machine: nothing is sent.
    async with HttpClient("192.0.2.1") as client:
        result = await probe_of(web_target, client, "/ok").probe(timeout=2)

    assert not result.ok
    assert web_target.requests == 0
