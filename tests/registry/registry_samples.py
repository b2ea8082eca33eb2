"""Small model values for the registry tests."""

from __future__ import annotations

from gtm.core.model import Event, Intent, IntentKind, Locator, Mapping, State


def mapping(
    version: int = 1, epoch: int = 1, site: str = "aws-use1", service: str = "billing"
) -> Mapping:
    """A mapping of ``service`` active in ``site``, with one locator there."""
    return Mapping(
        service=service,
        version=version,
        epoch=epoch,
        ttl=30,
        active_site=site,
        locators=(
            Locator(
                id=f"{service}@{site}/lb-1",
                site=site,
                address="127.0.1.1",
                port=8080,
                state=State.UP,
            ),
        ),
        reason=f"{site} is healthy",
        updated_at=1_700_000_000.0 + version,
    )


def intent(intent_id: str = "", created_at: float = 100.0, site: str = "gcp-euw1") -> Intent:
    """An operator's drain of ``site`` for billing."""
    return Intent(
        id=intent_id,
        kind=IntentKind.DRAIN,
        service="billing",
        site=site,
        who="ops",
        why="maintenance",
        created_at=created_at,
    )


def event(time: float, service: str | None = "billing", kind: str = "move") -> Event:
    """A journal event of ``service`` at ``time``."""
    return Event(
        kind=kind,
        service=service,
        time=time,
        reason="aws-use1 is down",
        from_site="aws-use1",
        to_site="gcp-euw1",
        timeline={"verdict": time - 1.0, "published": time},
    )
