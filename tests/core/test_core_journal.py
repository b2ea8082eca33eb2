"""Journal event kinds: one enum, and the names the kind= filters take derived from it."""

from __future__ import annotations

import pytest

from gtm.core.journal import EVENT_KINDS, EventKind


def test_the_filter_names_are_the_kinds_in_order() -> None:
    assert EVENT_KINDS == ("move", "run", "provider", "drift", "health", "burst")
    assert tuple(EventKind(name) for name in EVENT_KINDS) == tuple(EventKind)


@pytest.mark.parametrize("name", ["Move", "moves", ""])
def test_a_name_that_is_no_kind_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="is not a valid EventKind"):
        EventKind(name)
