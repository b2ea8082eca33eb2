"""Release readiness: whether the site traffic moves to runs the release the active site runs.

Faux mobility only works when every site already runs the same release; "close" is not
good enough in production. Probes read each replica's release, each site's release is the
latest one seen there, and the rules here say what a move across releases means for a
service: nothing (``off``), a warning journaled with the move (``warn``), or (``strict``)
a refused planned move or pin unless forced, and an automatic move that prefers the
healthy sites running the active site's release. A healthy site on another release still
beats a dead one: when none runs the active site's release, the move happens, with a
warning.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Mapping as Lookup
from dataclasses import dataclass

from gtm.core.sites import SiteHealth


class Readiness(enum.StrEnum):
    """How a service treats a move to a site running another release than the active site."""

    OFF = "off"
    """Releases are shown, never judged."""
    WARN = "warn"
    """A move across releases goes ahead, with a warning in its reason and the journal."""
    STRICT = "strict"
    """A planned move or pin across releases is refused unless forced; an automatic move
    prefers the healthy sites running the active site's release."""


@dataclass(frozen=True, slots=True)
class SeenRelease:
    """The release one locator said it runs, and when a probe last read it."""

    release: str
    at: float


def site_releases(seen: Iterable[tuple[str, SeenRelease | None]]) -> dict[str, str]:
    """Each site's release: the one its locators' probes read most recently.

    Args:
        seen: ``(site, release seen)`` for each locator; None where none was read.

    Returns:
        The release by site, for the sites where one was read.
    """
    latest: dict[str, SeenRelease] = {}
    for site, release in seen:
        if release is not None and (site not in latest or release.at >= latest[site].at):
            latest[site] = release
    return {site: release.release for site, release in latest.items()}


@dataclass(frozen=True, slots=True)
class ServiceReleases:
    """A service's releases by site, as ``gtm status`` and ``/v1/releases`` show them."""

    service: str
    readiness: Readiness
    active_site: str | None
    sites: dict[str, str | None]
    """Every site of the service in preference order, with its release (None: not read)."""

    @property
    def drift(self) -> bool:
        """Whether sites of the service run different releases (of those read)."""
        return len({release for release in self.sites.values() if release is not None}) > 1

    def describe(self) -> str:
        """One line: ``release drift (strict): a 1.2 (active), b 1.1``, or ``release 1.2
        everywhere``."""
        if not self.drift:
            known = sorted({release for release in self.sites.values() if release is not None})
            unread = [site for site, release in self.sites.items() if release is None]
            if not known:
                return "no release read"
            missing = f" ({', '.join(unread)} not read)" if unread else ""
            return f"release {known[0]} everywhere{missing}"
        parts = [
            f"{site} {release or '?'}" + (" (active)" if site == self.active_site else "")
            for site, release in self.sites.items()
        ]
        return f"release drift ({self.readiness.value}): " + ", ".join(parts)


def release_of(sites: Lookup[str, SiteHealth], site: str | None) -> str | None:
    """The release ``site`` runs, as its health says; None when not read or no site."""
    health = sites.get(site) if site is not None else None
    return health.release if health is not None else None


@dataclass(frozen=True, slots=True)
class MoveCheck:
    """What readiness says about a planned move or a pin: refused, warned, or fine."""

    refusal: str | None = None
    """Why a strict service refuses the move; None when it may go ahead."""
    warning: str | None = None
    """What an operator should know about a move that goes ahead across releases."""


def check_move(
    readiness: Readiness,
    active_site: str | None,
    to_site: str,
    sites: Lookup[str, SiteHealth],
    *,
    force: bool = False,
) -> MoveCheck:
    """Whether a planned move (a run or a pin) of a service to ``to_site`` may go ahead.

    A move is across releases when the active site's release is known and the target's
    differs from it or was never read: under ``strict`` an unread release is no proof
    of readiness. Without a known release of the active site there is nothing to compare.

    Args:
        readiness: The service's rule.
        active_site: Where its traffic is now.
        to_site: Where it would go.
        sites: Each site's health, with the release it runs.
        force: The operator forces the move; strict then warns instead of refusing.
    """
    mismatch = _mismatch(sites, active_site, to_site, "the active site ")
    if readiness is Readiness.OFF or mismatch is None:
        return MoveCheck()
    if readiness is Readiness.STRICT and not force:
        return MoveCheck(
            refusal=f"readiness strict: {mismatch}; update {to_site} first, "
            "or force the move (--force)"
        )
    forced = " (forced)" if readiness is Readiness.STRICT else ""
    return MoveCheck(warning=f"readiness {readiness.value}{forced}: {mismatch}")


def choose(
    readiness: Readiness,
    previous: str,
    candidates: Sequence[str],
    eligible: Callable[[str], bool],
    sites: Lookup[str, SiteHealth],
) -> tuple[str | None, str]:
    """The site an automatic move away from ``previous`` takes, and a note on readiness.

    Under ``strict`` the eligible candidates running ``previous``'s release come first,
    in their order (:func:`rank`); the others follow, so a healthy site on another release
    still beats none. Otherwise the first eligible candidate is taken.

    Args:
        readiness: The service's rule.
        previous: The active site being left.
        candidates: Sites in the order the policy tries them.
        eligible: Whether traffic may go to a site (healthy, not drained).
        sites: Each site's health, with its release.

    Returns:
        The chosen site (None when no candidate is eligible) and a phrase saying why a
        site was skipped for its release ("" when readiness changed nothing).
    """
    usable = [site for site in candidates if eligible(site)]
    preferred = [site for site in rank(readiness, previous, candidates, sites) if eligible(site)]
    if not usable or preferred[0] == usable[0]:
        return (usable[0] if usable else None), ""
    chosen = preferred[0]
    skipped = usable[: usable.index(chosen)]
    passed = ", ".join(
        f"{site} runs {release_of(sites, site) or 'an unread release'}" for site in skipped
    )
    release = release_of(sites, previous)
    return chosen, f"readiness strict: {chosen} runs {previous}'s release {release}, {passed}"


def rank(
    readiness: Readiness, active: str, order: Sequence[str], sites: Lookup[str, SiteHealth]
) -> tuple[str, ...]:
    """``order`` as a ``strict`` service tries it when ``active`` fails: the sites running
    ``active``'s release first, each group in its own order; unchanged otherwise.

    The mapping ranks its standby sites this way too, so a client that cannot reach the
    active site fails over where the controller would.
    """
    release = release_of(sites, active)
    if readiness is not Readiness.STRICT or release is None:
        return tuple(order)
    same = tuple(site for site in order if release_of(sites, site) == release)
    return same + tuple(site for site in order if site not in same)


def move_note(
    readiness: Readiness, previous: str | None, active: str, sites: Lookup[str, SiteHealth]
) -> str:
    """The warning a move from ``previous`` to ``active`` across releases carries; "" if none.

    Under ``warn`` and ``strict`` alike, every move that lands on another release (an
    automatic one with no same-release site left, a forced pin) says so in its reason,
    which the journal records with the move.
    """
    if readiness is Readiness.OFF or previous is None or previous == active:
        return ""
    mismatch = _mismatch(sites, previous, active, "")
    return "" if mismatch is None else f"readiness warning: {mismatch}"


def _mismatch(
    sites: Lookup[str, SiteHealth], active: str | None, target: str, lead: str
) -> str | None:
    """``b runs release 1.1, <lead>a runs release 1.2`` when they differ; None when not."""
    release = release_of(sites, active)
    theirs = release_of(sites, target)
    if release is None or theirs == release:
        return None
    runs = f"runs release {theirs}" if theirs is not None else "has no release read"
    return f"{target} {runs}, {lead}{active} runs release {release}"


def service_releases(
    service: str,
    readiness: Readiness,
    active_site: str | None,
    order: Sequence[str],
    releases: Lookup[str, str],
) -> ServiceReleases:
    """A service's releases by site, every site in ``order`` listed."""
    return ServiceReleases(
        service, readiness, active_site, {site: releases.get(site) for site in order}
    )


def releases_to_dict(releases: ServiceReleases) -> dict[str, object]:
    """A service's releases as ``/v1/releases`` answers them."""
    return {
        "service": releases.service,
        "readiness": releases.readiness.value,
        "active_site": releases.active_site,
        "sites": [{"site": site, "release": release} for site, release in releases.sites.items()],
        "drift": releases.drift,
    }


def releases_from_dict(doc: Lookup[str, object]) -> ServiceReleases:
    """The value :func:`releases_to_dict` encoded (``drift`` is derived, not read)."""
    sites = doc["sites"]
    assert isinstance(sites, list)
    active = doc["active_site"]
    return ServiceReleases(
        service=str(doc["service"]),
        readiness=Readiness(str(doc["readiness"])),
        active_site=None if active is None else str(active),
        sites={
            str(item["site"]): None if item["release"] is None else str(item["release"])
            for item in sites
        },
    )
