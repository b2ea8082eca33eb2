"""The DNS tests' samples: a fake mapping source, a sample service, the zone and its clock.

Kept out of conftest so test modules can import them by a name no other directory uses.
"""

from __future__ import annotations

from collections.abc import Callable

from gtm.core.model import NEVER, Locator, Mapping, State

ZONE = "gtm.example.test."
START = 1_700_000_000.0
"""The fake clock's time, so the SOA serial is known."""


class FakeSource:
    """A mapping source held in a dict; ``publish`` notifies like the registry does."""

    def __init__(self, *mappings: Mapping) -> None:
        self.mappings = {m.service: m for m in mappings}
        self.gets = 0
        self._callbacks: list[Callable[[Mapping], None]] = []

    def get(self, service: str) -> Mapping | None:
        self.gets += 1
        return self.mappings.get(service)

    def subscribe(self, callback: Callable[[Mapping], None]) -> Callable[[], None]:
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback)

    @property
    def subscribers(self) -> int:
        return len(self._callbacks)

    def publish(self, mapping: Mapping) -> None:
        self.mappings[mapping.service] = mapping
        for callback in list(self._callbacks):
            callback(mapping)


def billing_mapping() -> Mapping:
    """Active in aws-use1 (IPv4 and IPv6), gcp-euw1 next, dc-paris down, one site never."""
    return Mapping(
        service="billing",
        version=7,
        epoch=3,
        ttl=30,
        active_site="aws-use1",
        locators=(
            Locator("billing@aws-use1/lb-1", "aws-use1", "192.0.2.10", 443, 1, 100, State.UP),
            Locator("billing@aws-use1/lb-2", "aws-use1", "2001:db8::10", 443, 1, 100, State.UP),
            Locator("billing@gcp-euw1/lb-1", "gcp-euw1", "198.51.100.20", 8443, 2, 50, State.UP),
            Locator("billing@dc-paris/lb-1", "dc-paris", "203.0.113.30", 443, 3, 100, State.DOWN),
            Locator("billing@lab/lb-1", "lab", "203.0.113.40", 443, NEVER, 100, State.UP),
        ),
    )
