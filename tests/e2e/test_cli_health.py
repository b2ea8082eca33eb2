"""``gtm health``: each locator's verdict and the probes behind it, as an operator reads it."""

from __future__ import annotations

import json

from gtm.demo.scenario import wait_for_dns
from gtm.demo.sites import SiteFleet
from gtm.runtime import Runtime

from .support import SITES, ZONE
from .test_cli import gtm_cli


async def test_health_shows_a_killed_site_down_with_its_failed_probes(
    gtm: Runtime, fleet: SiteFleet
) -> None:
    api = f"http://127.0.0.1:{gtm.api_port}"
    fleet["aws-use1"].kill()
    await wait_for_dns("127.0.0.1", gtm.dns_port, f"billing.{ZONE}", leaves=SITES["aws-use1"])

    code, out, err = await gtm_cli("health", "billing", "--api", api)
    assert code == 0, err
    header, *lines = out.splitlines()
    assert header.split()[:4] == ["LOCATOR", "VERDICT", "STATE", "SINCE"]
    # Locator ids are service@site/address:port.
    rows = {line.split()[0].split("/")[0]: line.split() for line in lines}
    assert set(rows) == {f"billing@{site}" for site in SITES}
    aws = rows["billing@aws-use1"]
    assert aws[1:3] == ["down", "down"]
    assert "x" in next(cell for cell in aws if set(cell) <= set(".x?") and len(cell) > 1)
    assert rows["billing@dc-paris"][1:3] == ["up", "up"]

    code, out, err = await gtm_cli("health", "--json", "--api", api)
    assert code == 0, err
    locators = json.loads(out)["locators"]
    assert {loc["service"] for loc in locators} == {"billing", "search"}
    down = next(loc for loc in locators if loc["id"].startswith("billing@aws-use1/"))
    assert down["probes"][-1]["result"] == "fail"
    assert down["fail_streak"] >= 1 and down["required_failures"] >= 3


async def test_health_of_an_unknown_service_is_one_clear_line(gtm: Runtime) -> None:
    code, out, err = await gtm_cli("health", "nope", "--api", f"http://127.0.0.1:{gtm.api_port}")
    assert code != 0 and out == ""
    assert "no service 'nope'" in err and len(err.strip().splitlines()) == 1
