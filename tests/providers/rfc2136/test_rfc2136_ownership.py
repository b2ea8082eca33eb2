"""In a zone it shares, the provider touches only what it owns, on a real BIND.

Names it was not configured for are left alone and never put it in error, even when their
TXT looks like a status (``version=1.4.2``); names an earlier gtm wrote for a configured
service are taken over; names it marked for a service since dropped are recognised.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from rfc2136_samples import make_provider, mapping, nsupdate
from test_rfc2136_bind import dig, reconcile

from gtm.controller.reconciler import PassResult, Reconciler
from gtm.core.model import Mapping
from gtm.providers.rfc2136 import Rfc2136
from gtm.registry.registry import Registry
from gtm.registry.stores import MemoryStore
from testbed.bind import BindServer

APPLICATION = (
    'update add app.gtm.example.test. 300 TXT "version=1.4.2"',
    "update add www.gtm.example.test. 300 A 192.0.2.80",
    'update add www.gtm.example.test. 300 TXT "version=1.4.2"',
)
"""Records the application's team keeps in the zone by hand."""


@pytest.fixture
async def registry() -> AsyncIterator[Registry]:
    opened = await Registry.open(MemoryStore(), "gtm-test")
    yield opened
    await opened.close()


async def passes(
    provider: Rfc2136, registry: Registry, *mappings: Mapping, count: int = 3
) -> tuple[Reconciler, list[PassResult]]:
    """``count`` reconciler passes of ``provider`` over ``mappings``, each observing afresh."""
    for wanted in mappings:
        await registry.put(wanted)
    reconciler = Reconciler([provider], registry)
    results = [await reconciler.run_pass(provider.name) for _ in range(count)]
    return reconciler, results


async def test_hand_made_names_survive_every_pass_and_cause_no_error(
    bind: BindServer, registry: Registry
) -> None:
    nsupdate(bind, *APPLICATION)
    provider = make_provider(bind, [], name="every-service")

    reconciler, results = await passes(provider, registry, mapping("shop"))

    touched = {change.service for result in results for change in result.changes}
    assert touched == {"shop"}
    assert all(not result.refused for result in results)
    assert reconciler.status()[0]["last_error"] is None
    assert results[-1].changes == [] and results[-1].remaining == []
    assert dig(bind, "app.gtm.example.test.", "TXT") == ['"version=1.4.2"']
    assert dig(bind, "www.gtm.example.test.", "A") == ["192.0.2.80"]
    assert dig(bind, "www.gtm.example.test.", "TXT") == ['"version=1.4.2"']
    assert dig(bind, "shop.gtm.example.test.", "TXT") == [
        '"gtm-owner=every-service" "version=1" "epoch=1" "active=aws-use1"'
    ]


async def test_a_status_written_by_an_earlier_gtm_is_taken_over(
    bind: BindServer, registry: Registry
) -> None:
    nsupdate(
        bind,
        "update add basket.gtm.example.test. 30 A 192.0.2.10",
        'update add basket.gtm.example.test. 30 TXT "version=1" "epoch=1" "active=aws-use1"',
    )
    provider = make_provider(bind, [], name="taking-over")

    reconciler, results = await passes(provider, registry, mapping("basket"), count=2)

    first = {(change.kind.value, change.key) for change in results[0].changes}
    assert ("update", "basket.gtm.example.test. TXT") in first
    # Its A was observed as the provider's: kept as it is, not created over (YXRRSET).
    assert not any(key == "basket.gtm.example.test. A" for _kind, key in first)
    assert reconciler.status()[0]["last_error"] is None
    assert results[-1].changes == []
    assert dig(bind, "basket.gtm.example.test.", "TXT") == [
        '"gtm-owner=taking-over" "version=1" "epoch=1" "active=aws-use1"'
    ]


async def test_its_own_marked_names_are_recognised_and_others_are_not(bind: BindServer) -> None:
    writer = make_provider(bind, [], name="marker")
    assert await reconcile(writer, mapping("bygone"))

    # The service left the config: no mapping names it, yet its names are the provider's.
    same = make_provider(bind, [], name="marker")
    same.desired([])
    observed = await same.observe()
    assert {o.service for o in observed.values()} == {"bygone"}
    # Another provider (another gtm sharing the zone) leaves them alone.
    other = make_provider(bind, [], name="someone-else")
    other.desired([])
    assert await other.observe() == {}
