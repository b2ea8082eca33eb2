"""The dashboard at ``/ui``: one page that shows and steers every service, served by the API.

The page is plain HTML, CSS and JavaScript modules shipped in ``static/`` with the package:
no build step, nothing fetched from anywhere but this instance. It reads the same public
endpoints as the CLI (``/v1/services``, ``/v1/locators``, ``/v1/events``, ``/v1/runs``, ...)
and acts through ``/v1/intents`` and ``/v1/runs`` with a token the operator types in, so it
holds no state and decides nothing of its own.
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

from gtm.api.errors import ApiError

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
"""The files the dashboard serves, by suffix, with their media types."""

HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
}
"""Sent with every file: revalidate on each load, run only this instance's own scripts,
talk only to this instance, never be framed."""

INDEX = "index.html"


def load_files() -> dict[str, tuple[bytes, str]]:
    """Every file of ``static/`` the dashboard serves: name -> (content, media type)."""
    files: dict[str, tuple[bytes, str]] = {}
    for entry in (resources.files(__name__) / "static").iterdir():
        suffix = entry.name[entry.name.rfind(".") :] if "." in entry.name else ""
        if entry.is_file() and suffix in CONTENT_TYPES:
            files[entry.name] = (entry.read_bytes(), CONTENT_TYPES[suffix])
    return files


class Dashboard:
    """Answers ``/``, ``/ui`` and ``/ui/{file}`` from the files shipped with gtm.

    The files are read once, when the API is built, so a request never touches the disk.
    """

    def __init__(self) -> None:
        self._files = load_files()
        if INDEX not in self._files:
            raise RuntimeError(f"api: the dashboard's {INDEX} is missing from the gtm package")

    def routes(self) -> list[web.RouteDef]:
        """The routes the dashboard answers."""
        return [
            web.get("/", self.home),
            web.get("/ui", self.home),
            web.get("/ui/", self.index),
            web.get("/ui/{file}", self.file),
        ]

    async def home(self, request: web.Request) -> web.Response:
        """Redirect to ``/ui/``. The location is relative (``ui/`` from ``/`` and from
        ``/ui`` alike), so a proxy's path prefix is kept and the page's links resolve."""
        return web.Response(status=302, headers={"Location": "ui/", **HEADERS})

    async def index(self, request: web.Request) -> web.Response:
        """The page itself."""
        return self._answer(INDEX)

    async def file(self, request: web.Request) -> web.Response:
        """One of the page's scripts or style sheets; 404 for anything else."""
        name = request.match_info["file"]
        if name not in self._files:
            raise ApiError(
                404,
                "not_found",
                f"the dashboard has no file {name!r}; open /ui/",
                detail={"file": name},
            )
        return self._answer(name)

    def _answer(self, name: str) -> web.Response:
        body, content_type = self._files[name]
        return web.Response(body=body, headers={"Content-Type": content_type, **HEADERS})
