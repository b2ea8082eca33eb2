"""The HAProxy provider against a real HAProxy in front of real simulated sites."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Literal

import pytest
from haproxy_harness import SERVICE, Place, StartHaproxy, Traffic, backends_for, provider_for

from gtm.config.providers import HaproxyProvider
from gtm.core.changes import Change, ChangeKind, Owned, diff
from gtm.core.model import Locator, Mapping, State
from gtm.errors import Rejected, Unavailable
from gtm.providers import haproxy
from gtm.providers.base import Provider
from gtm.providers.haproxy import Haproxy, HaproxyRejected, HaproxyUnavailable
from gtm.providers.haproxy_settings import ServerSetting


async def reconcile(
    provider: Provider[ServerSetting], mapping: Mapping
) -> list[Change[ServerSetting]]:
    """Observe, diff and apply ``mapping``; the changes that were applied."""
    changes = diff(provider.desired([mapping]), await provider.observe())
    await provider.apply(changes)
    return changes


async def pending(
    provider: Provider[ServerSetting], mapping: Mapping
) -> list[Change[ServerSetting]]:
    """What still differs between ``mapping`` and HAProxy."""
    return diff(provider.desired([mapping]), await provider.observe())


@pytest.mark.parametrize("stats_socket", ["unix", "tcp"])
async def test_traffic_follows_the_mapping_from_site_to_site(
    place: Place,
    start_haproxy: StartHaproxy,
    traffic: Traffic,
    stats_socket: Literal["unix", "tcp"],
) -> None:
    on_a = place({"site-a": 1, "site-b": 2, "site-c": 3})
    server = start_haproxy(backends_for(on_a), stats_socket)
    provider = provider_for(server)
    # Every server starts at weight 1, so HAProxy spreads traffic before gtm acts.
    assert set(await traffic(server)) == {"site-a", "site-b", "site-c"}

    changes = await reconcile(provider, on_a)

    assert [c.key for c in changes] == ["billing/site-a", "billing/site-b", "billing/site-c"]
    assert set(await traffic(server)) == {"site-a"}
    assert await pending(provider, on_a) == []

    on_b = place({"site-b": 1, "site-c": 2, "site-a": 3})
    changes = await reconcile(provider, on_b)

    assert {c.key: c.describe() for c in changes} == {
        "billing/site-a": "~ billing/site-a: weight 100 ready -> weight 0 ready",
        "billing/site-b": "~ billing/site-b: weight 0 ready -> weight 100 ready",
    }
    assert set(await traffic(server)) == {"site-b"}
    assert await pending(provider, on_b) == []


async def test_the_weighted_policy_splits_traffic_between_sites_at_priority_1(
    place: Place, start_haproxy: StartHaproxy, traffic: Traffic
) -> None:
    both = place({"site-a": 1, "site-b": 1, "site-c": 2}, weights={"site-a": 60, "site-b": 20})
    server = start_haproxy(backends_for(both))
    provider = provider_for(server)

    await reconcile(provider, both)

    seen = Counter(await traffic(server, 16))
    assert set(seen) == {"site-a", "site-b"}
    assert seen["site-a"] > seen["site-b"]
    observed = await provider.observe()
    assert {key: owned.item.weight for key, owned in observed.items()} == {
        "billing/site-a": 60,
        "billing/site-b": 20,
        "billing/site-c": 0,
    }


async def test_a_drained_site_gets_drain_and_a_down_one_stays_ready(
    place: Place, start_haproxy: StartHaproxy, traffic: Traffic
) -> None:
    mapping = place({"site-a": 1, "site-b": 2}, states={"site-b": State.DOWN})
    server = start_haproxy(backends_for(mapping))
    provider = provider_for(server)

    await reconcile(provider, mapping)

    observed = await provider.observe()
    assert {key: owned.item.describe() for key, owned in observed.items()} == {
        "billing/site-a": "weight 100 ready",
        "billing/site-b": "weight 0 ready",
        "billing/site-c": "weight 0 drain",
    }
    assert set(await traffic(server)) == {"site-a"}

    back = place({"site-c": 1, "site-a": 2, "site-b": 3})
    await reconcile(provider, back)

    assert set(await traffic(server)) == {"site-c"}
    assert await pending(provider, back) == []


async def test_a_weight_changed_by_hand_is_found_and_repaired(
    place: Place, start_haproxy: StartHaproxy, traffic: Traffic
) -> None:
    on_a = place({"site-a": 1, "site-b": 2, "site-c": 3})
    server = start_haproxy(backends_for(on_a))
    provider = provider_for(server)
    await reconcile(provider, on_a)

    assert server.command("set server billing/site-b weight 50") == "\n"
    assert "site-b" in await traffic(server)

    drift = await pending(provider, on_a)
    assert [c.describe() for c in drift] == ["~ billing/site-b: weight 50 ready -> weight 0 ready"]
    await provider.apply(drift)

    assert await pending(provider, on_a) == []
    assert set(await traffic(server)) == {"site-a"}


@pytest.mark.parametrize("how", ["stop", "kill"])
async def test_an_unreachable_runtime_api_is_unavailable_naming_the_socket(
    place: Place, start_haproxy: StartHaproxy, how: str
) -> None:
    mapping = place({"site-a": 1})
    server = start_haproxy(backends_for(mapping))
    provider = provider_for(server)
    changes = diff(provider.desired([mapping]), await provider.observe())
    getattr(server, how)()

    with pytest.raises(HaproxyUnavailable) as observing:
        await provider.observe()
    with pytest.raises(HaproxyUnavailable) as applying:
        await provider.apply(changes)

    for error in (observing.value, applying.value):
        assert isinstance(error, Unavailable)
        message = str(error)
        assert message.startswith(f"haproxy lb-main: runtime API {server.socket} unreachable: ")


async def test_a_missing_backend_is_rejected_naming_it(
    place: Place, start_haproxy: StartHaproxy
) -> None:
    server = start_haproxy(backends_for(place({"site-a": 1})))
    provider = provider_for(server, SERVICE, "search")

    with pytest.raises(HaproxyRejected) as caught:
        await provider.observe()

    assert isinstance(caught.value, Rejected)
    assert str(caught.value) == ("haproxy lb-main: backend search not found; add it to haproxy.cfg")


async def test_with_no_services_listed_the_backends_of_the_mappings_are_read(
    place: Place, start_haproxy: StartHaproxy
) -> None:
    mapping = place({"site-a": 1})
    server = start_haproxy(backends_for(mapping))
    provider = Haproxy("lb-main", HaproxyProvider(type="haproxy", socket=server.socket))
    assert await provider.observe() == {}

    desired = provider.desired([mapping])

    assert (
        set(await provider.observe())
        == set(desired)
        == {
            "billing/site-a",
            "billing/site-b",
            "billing/site-c",
        }
    )


async def test_a_refused_command_is_rejected_naming_it_and_the_rest_is_applied(
    place: Place, start_haproxy: StartHaproxy
) -> None:
    mapping = place({"site-a": 1})
    server = start_haproxy(backends_for(mapping))
    provider = provider_for(server)
    missing = ServerSetting(SERVICE, "site-z", 100, "ready")
    changes = diff(provider.desired([mapping]), await provider.observe())
    changes.append(Change(ChangeKind.CREATE, missing.key, SERVICE, None, missing))

    with pytest.raises(HaproxyRejected) as caught:
        await provider.apply(changes)

    assert str(caught.value) == (
        "haproxy lb-main: 'set server billing/site-z weight 100' refused: No such server.; "
        "haproxy.cfg lacks it (see the naming rule); "
        "'set server billing/site-z state ready' refused: No such server.; "
        "haproxy.cfg lacks it (see the naming rule)"
    )
    assert await pending(provider, mapping) == []


async def test_a_server_no_locator_maps_to_is_emptied_and_reported(
    place: Place, start_haproxy: StartHaproxy, traffic: Traffic
) -> None:
    mapping = place({"site-a": 1, "site-b": 2})
    stray = ("old", "127.0.3.1", mapping.locators[2].port)
    server = start_haproxy(backends_for(mapping, stray))
    provider = provider_for(server)
    changes = diff(provider.desired([mapping]), await provider.observe())
    assert [c.kind for c in changes if c.key == "billing/old"] == [ChangeKind.DELETE]

    with pytest.raises(HaproxyRejected, match=r"billing/old in HAProxy but no locator maps"):
        await provider.apply(changes)

    assert (await provider.observe())["billing/old"].item.weight == 0
    assert set(await traffic(server)) == {"site-a"}


async def test_more_changes_than_a_batch_are_all_applied(
    place: Place, start_haproxy: StartHaproxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(haproxy, "MAX_BATCH", 100)  # sessions of 100: 130 changes take two
    site = place({"site-a": 1}).locators[0]
    count = haproxy.MAX_BATCH + 30
    locators = tuple(
        Locator(
            f"{SERVICE}@site-a/lb-{n}", "site-a", site.address, site.port, 1, 2 + n % 99, State.UP
        )
        for n in range(1, count + 1)
    )
    mapping = Mapping(SERVICE, 1, 1, 30, "site-a", locators)
    server = start_haproxy(backends_for(mapping))
    provider: Provider[ServerSetting] = provider_for(server)

    changes = await reconcile(provider, mapping)

    assert len(changes) == count
    observed: dict[str, Owned[ServerSetting]] = await provider.observe()
    assert observed["billing/site-a-130"].item.weight == 33
    assert diff(provider.desired([mapping]), observed) == []


async def test_a_request_through_the_frontend_shows_which_site_answered(
    place: Place, start_haproxy: StartHaproxy
) -> None:
    on_a = place({"site-a": 1, "site-b": 2, "site-c": 3})
    server = start_haproxy(backends_for(on_a))
    frontend = f"127.0.0.1:{server.frontend_port(SERVICE)}"
    config = HaproxyProvider(
        type="haproxy", socket=server.socket, services=[SERVICE], frontends={SERVICE: frontend}
    )
    provider = Haproxy("lb-main", config)
    await reconcile(provider, on_a)

    assert await provider.reaches(on_a) is None
    on_b = place({"site-b": 1, "site-c": 2, "site-a": 3})
    problem = await provider.reaches(on_b)  # HAProxy still sends traffic to site-a
    assert problem is not None
    assert f"through {frontend} reached site-a, not site-b of site-b" in problem
    await reconcile(provider, on_b)
    assert await provider.reaches(on_b) is None
    unchecked = Haproxy("lb-other", HaproxyProvider(type="haproxy", socket=server.socket))
    assert await unchecked.reaches(on_b) is None  # no frontend configured: not checked


async def test_verify_reads_back_only_the_backends_a_change_touched(
    place: Place, start_haproxy: StartHaproxy
) -> None:
    on_a = place({"site-a": 1, "site-b": 2, "site-c": 3})
    other = dataclasses.replace(
        on_a,
        service="search",
        locators=tuple(
            dataclasses.replace(loc, id=loc.id.replace(SERVICE, "search", 1))
            for loc in on_a.locators
        ),
    )
    server = start_haproxy({**backends_for(on_a), **backends_for(other)})
    provider = provider_for(server, SERVICE, "search")
    await provider.apply(diff(provider.desired([on_a, other]), await provider.observe()))
    on_b = place({"site-b": 1, "site-c": 2, "site-a": 3})

    changes = diff(provider.desired([on_b, other]), await provider.observe())
    await provider.apply(changes)
    read = await provider.verify(changes)

    assert {owned.service for owned in read.values()} == {SERVICE}
    assert {key: owned.item.weight for key, owned in read.items()} == {
        "billing/site-a": 0,
        "billing/site-b": 100,
        "billing/site-c": 0,
    }
