"""What the API serves for the dashboard, read over HTTP from a real ``gtm run``: the page,
its modules and style, their headers, and what a stray path gets. No browser needed."""

from __future__ import annotations

import re
import tomllib
import urllib.error
import urllib.request
from fnmatch import fnmatch
from pathlib import Path

from gtm.core.journal import EVENT_KINDS

from .conftest import GtmServer

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "gtm" / "api" / "ui" / "static"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of GET ``url``, redirects not followed."""
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=5) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def referenced(name: str) -> set[str]:
    """The files ``name`` loads: the page's script and style, a module's imports."""
    text = (STATIC / name).read_text()
    found = set(re.findall(r'(?:src|href)="([\w.-]+)"', text))
    found |= set(re.findall(r'from "\./([\w.-]+)"', text))
    return found


def test_the_page_and_every_file_it_loads_are_served(gtm: GtmServer) -> None:
    for path in ("/", "/ui"):
        status, headers, _ = fetch(gtm.api + path)
        assert status == 302 and headers["Location"] == "ui/", path
    status, headers, body = fetch(gtm.api + "/ui/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b'<script type="module" src="app.js">' in body
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["Cache-Control"] == "no-cache"

    seen: set[str] = set()
    todo = referenced("index.html")
    while todo:
        name = todo.pop()
        seen.add(name)
        status, headers, body = fetch(f"{gtm.api}/ui/{name}")
        assert status == 200, name
        assert body == (STATIC / name).read_bytes()
        expected = "text/css" if name.endswith(".css") else "text/javascript"
        assert headers["Content-Type"].startswith(expected), name
        todo |= referenced(name) - seen
    assert seen == {p.name for p in STATIC.iterdir()} - {"index.html"}


def test_a_stray_path_is_a_json_404(gtm: GtmServer) -> None:
    status, headers, body = fetch(gtm.api + "/ui/secrets.txt")
    assert status == 404 and headers["Content-Type"].startswith("application/json")
    assert b"open /ui/" in body
    status, _, _ = fetch(gtm.api + "/ui/..%2Fapp.py")
    assert status == 404


def test_every_file_of_the_page_is_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["gtm"]
    for path in STATIC.iterdir():
        relative = path.relative_to(ROOT / "gtm").as_posix()
        assert any(fnmatch(relative, pattern) for pattern in patterns), relative


def test_the_journal_filter_offers_every_kind_gtm_journals() -> None:
    text = (STATIC / "journal.js").read_text()
    found = re.search(r"export const KINDS = \[([^\]]*)\];", text)
    assert found is not None
    assert sorted(re.findall(r'"([\w-]+)"', found.group(1))) == sorted(EVENT_KINDS)
