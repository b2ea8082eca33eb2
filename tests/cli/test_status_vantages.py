"""``gtm status`` shows the vantages of a cluster: each one's verdicts, who abstains, and
the disagreements that lasted, which are shown and never obeyed."""

from __future__ import annotations

from gtm.cli.render import clock
from gtm.cli.status import cluster_lines, vantages_lines

VANTAGES = {
    "quorum": "majority",
    "vantages": [
        {"name": "nyc", "degraded": False, "reasons": [], "verdicts": {"up": 3, "down": 0}},
        {
            "name": "paris",
            "degraded": True,
            "reasons": ["event loop 0.420s late (bound 0.100s)"],
            "verdicts": {"up": 2, "down": 1, "unknown": 0},
        },
        {"name": "tokyo", "degraded": False, "reasons": [], "verdicts": {"up": 2, "down": 1}},
    ],
    "disagreements": [
        {
            "vantage": "tokyo",
            "locator": "billing@paris/10.1.1.10:8080",
            "says": "down",
            "verdict": "up",
            "since": 1764633600.0,
        }
    ],
}


def test_each_vantage_and_each_lasting_disagreement_is_a_line() -> None:
    assert vantages_lines(VANTAGES) == [
        "    vantages (quorum majority):",
        "      nyc: 3 up, 0 down, 0 unknown",
        "      paris: 2 up, 1 down, 0 unknown DEGRADED, does not vote:"
        " event loop 0.420s late (bound 0.100s)",
        "      tokyo: 2 up, 1 down, 0 unknown",
        "      disagrees: tokyo says billing@paris/10.1.1.10:8080 is down, the quorum says up"
        f" (since {clock(1764633600.0)}; not obeyed)",
    ]


def test_a_lone_instance_has_no_vantage_lines() -> None:
    assert vantages_lines({}) == []


def test_the_cluster_block_holds_the_vantages() -> None:
    doc = {
        "instance": "nyc",
        "acting": True,
        "leader": {"instance": "nyc", "term": 3, "address": "10.1.0.5:8080"},
        "instances": [{"instance": "nyc", "alive": True, "leader": True}],
        "vantages": VANTAGES,
        "consul": {"ok": True, "leader": "10.1.0.10:8300", "peers": ["a", "b", "c"]},
    }
    lines = cluster_lines(doc)
    assert lines[0] == "cluster: leader nyc (term 3) at 10.1.0.5:8080; this instance, nyc, leads"
    assert "    vantages (quorum majority):" in lines
    assert lines[-1] == "    consul: leader 10.1.0.10:8300, 3 servers"
