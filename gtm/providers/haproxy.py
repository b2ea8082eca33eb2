"""HAProxy as a provider: server weights and states follow the mappings via the runtime API.

Each managed service has a backend in ``haproxy.cfg`` with one server per locator, named
by the rule in :mod:`gtm.providers.haproxy_settings`. gtm never adds or removes servers: it
sets their weight and administrative state (``ready``, ``drain``, ``maint``), which takes
effect at once and needs no reload. Health checks stay gtm's; the servers need none.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from gtm.config.provider_checks import check_provider, parse_runtime_socket
from gtm.config.providers import HaproxyProvider
from gtm.core.changes import Change, ChangeKind, Owned, batches
from gtm.core.model import Mapping
from gtm.errors import ConfigError, Rejected, Unavailable
from gtm.providers.base import Capabilities, managed
from gtm.providers.haproxy_settings import (
    ServerSetting,
    backend_name,
    parse_servers_state,
    render_commands,
    replies,
    script,
    server_names,
    settings,
)
from gtm.providers.haproxy_stats import COLUMNS, stat_column
from gtm.slices import in_slices

PARSE_SLICE = 100
"""Backend dumps read back per turn of the event loop: a site lost re-reads a thousand."""

MAX_BATCH = 5000
"""Changes per runtime API session. HAProxy reads an interactive session's commands one
line at a time, so their number is bounded by time, not by a buffer: a whole site of a
thousand services with three servers each goes out in one connection, one round trip."""

# HAProxy's refusals that mean haproxy.cfg lacks what the naming rule expects.
_MISSING = ("No such server.", "No such backend.")


class HaproxyUnavailable(Unavailable):
    """The runtime API did not answer: the socket is missing, refused or timed out."""


class HaproxyRejected(Rejected):
    """HAProxy refused a command, or lacks a backend or server the mappings need."""


class RuntimeApi:
    """One HAProxy runtime API endpoint, with one connection per request.

    Args:
        address: ``unix:/path/to/socket`` or ``host:port`` (``[::1]:9999`` for IPv6).
        timeout: Seconds one request may take, connecting included.
        who: The message prefix naming the provider (``haproxy lb-main``).

    Raises:
        ConfigError: ``address`` is neither form.
    """

    def __init__(self, address: str, timeout: float, who: str) -> None:
        self.address = address
        self._timeout = timeout
        self._who = who
        try:
            self._path, self._host, self._port = parse_runtime_socket(address)
        except ValueError as exc:
            raise ConfigError(f"{who}: socket {exc}") from exc

    async def run(self, commands: Sequence[str]) -> list[str]:
        """Send ``commands`` in one connection; HAProxy's reply to each, in order.

        Raises:
            HaproxyUnavailable: The socket is unreachable, too slow, or closed before
                answering every command.
        """
        try:
            async with asyncio.timeout(self._timeout):
                if self._path is not None:
                    reader, writer = await asyncio.open_unix_connection(self._path)
                else:
                    reader, writer = await asyncio.open_connection(self._host, self._port)
                try:
                    writer.write(script(commands))
                    await writer.drain()
                    data = await reader.read()
                finally:
                    writer.close()
                    with contextlib.suppress(OSError):
                        await writer.wait_closed()
        except TimeoutError as exc:
            raise HaproxyUnavailable(
                f"{self._who}: runtime API {self.address} did not answer within {self._timeout:g} s"
            ) from exc
        except OSError as exc:
            raise HaproxyUnavailable(
                f"{self._who}: runtime API {self.address} unreachable: {exc}"
            ) from exc
        answers = replies(data.decode(errors="replace"), len(commands))
        if len(answers) < len(commands):
            raise HaproxyUnavailable(
                f"{self._who}: runtime API {self.address} closed the connection after "
                f"answering {len(answers)} of {len(commands)} command(s)"
            )
        return answers


class Haproxy:
    """Sets the weight and state of every server of the managed services' backends.

    Args:
        name: The provider's name from the config (``lb-main``).
        config: Its config section.

    Raises:
        ConfigError: The socket address or the backend template is unusable.
    """

    kind = "haproxy"

    def __init__(self, name: str, config: HaproxyProvider) -> None:
        self.name = name
        self.services = frozenset(config.services)
        self.capabilities = Capabilities(max_batch=MAX_BATCH)
        self._who = f"haproxy {name}"
        self._template = config.backend
        check_provider(self._who, config)
        self._api = RuntimeApi(config.socket, config.timeout, self._who)
        self._frontends = dict(config.frontends)
        self._timeout = config.timeout
        # Backend name -> service: what ``observe`` reads and whose items it reports.
        self._backends = {backend_name(self._template, s): s for s in sorted(self.services)}

    def desired(self, mappings: Sequence[Mapping]) -> dict[str, Owned[ServerSetting]]:
        """The setting of every server of the managed services' backends, by ``backend/server``.

        With no services configured, every service is managed and the backends to read
        are those of the mappings seen here; they are remembered (not looked up) so that
        ``observe`` reads exactly the backends this result names.
        """
        chosen = managed(mappings, self.services)
        if not self.services:
            self._backends = {backend_name(self._template, m.service): m.service for m in chosen}
        items: dict[str, Owned[ServerSetting]] = {}
        for mapping in chosen:
            for setting in settings(mapping, self._template):
                items[setting.key] = Owned(mapping.service, setting)
        return items

    async def observe(self) -> dict[str, Owned[ServerSetting]]:
        """Every server of the managed backends as HAProxy holds it now.

        Raises:
            HaproxyRejected: A backend is not in HAProxy, or its dump is unreadable.
            HaproxyUnavailable: The runtime API did not answer.
        """
        return await self._read(sorted(self._backends))

    async def verify(
        self, changes: Sequence[Change[ServerSetting]]
    ) -> dict[str, Owned[ServerSetting]]:
        """The servers of the backends ``changes`` touched, as HAProxy holds them now: a
        read-back of what was applied, costing what changed rather than every backend.

        Raises:
            HaproxyRejected: A backend is not in HAProxy, or its dump is unreadable.
            HaproxyUnavailable: The runtime API did not answer.
        """
        touched = {change.service for change in changes}
        return await self._read(sorted(b for b, s in self._backends.items() if s in touched))

    async def _read(self, backends: list[str]) -> dict[str, Owned[ServerSetting]]:
        """The servers of ``backends``, one ``show servers state`` each, sessions of
        ``MAX_BATCH`` commands."""
        items: dict[str, Owned[ServerSetting]] = {}
        for start in range(0, len(backends), MAX_BATCH):
            chunk = backends[start : start + MAX_BATCH]
            answers = await self._api.run([f"show servers state {b}" for b in chunk])
            async for part in in_slices(list(zip(chunk, answers, strict=True)), PARSE_SLICE):
                for backend, answer in part:
                    self._parse_into(items, backend, answer)
        return items

    def _parse_into(
        self, items: dict[str, Owned[ServerSetting]], backend: str, answer: str
    ) -> None:
        """Add to ``items`` the servers one ``show servers state`` dump of ``backend`` shows."""
        if answer.startswith("Can't find backend"):
            raise HaproxyRejected(
                f"{self._who}: backend {backend} not found; add it to haproxy.cfg"
            )
        try:
            found = parse_servers_state(answer)
        except ValueError as exc:
            raise HaproxyRejected(f"{self._who}: show servers state {backend}: {exc}") from exc
        service = self._backends[backend]
        items.update({s.key: Owned(service, s) for s in found})

    async def apply(self, changes: Sequence[Change[ServerSetting]]) -> None:
        """Send ``changes`` in sessions of at most ``MAX_BATCH``, one connection each (one
        for a whole site's worth).

        Every batch is sent even when HAProxy refuses a command in an earlier one, so
        one service's missing server does not hold back the others' moves; the refusals
        are raised together at the end.

        Raises:
            HaproxyRejected: HAProxy refused commands, or holds servers no locator maps
                to (they are set to weight 0 first, since the mappings send them nothing).
            HaproxyUnavailable: The runtime API did not answer; later batches are not sent.
        """
        problems: list[str] = []
        for batch in batches(changes, MAX_BATCH):
            commands = render_commands(batch)
            if not commands:
                continue
            answers = await self._api.run(commands)
            for command, answer in zip(commands, answers, strict=True):
                if not answer:
                    continue
                hint = "; haproxy.cfg lacks it (see the naming rule)" if answer in _MISSING else ""
                problems.append(f"{command!r} refused: {answer.strip()}{hint}")
        strays = [change.key for change in changes if change.kind is ChangeKind.DELETE]
        if strays:
            problems.append(
                f"{', '.join(strays)} in HAProxy but no locator maps to it; weight set to 0, "
                "remove it from haproxy.cfg or add its locator"
            )
        if problems:
            raise HaproxyRejected(f"{self._who}: " + "; ".join(problems))

    async def reaches(self, mapping: Mapping) -> str | None:
        """Send one request through the service's frontend; None when the active site took it.

        Which server answered is read from HAProxy's own session counters (``stot`` in
        ``show stat``) before and after the request, so any HTTP application works.
        Services without a configured frontend are not checked (None).

        Returns:
            None, or one sentence saying what answered instead.
        """
        frontend = self._frontends.get(mapping.service)
        if frontend is None:
            return None
        backend = backend_name(self._template, mapping.service)
        before = await self._sessions(backend)
        try:
            await _request(frontend.host, frontend.port, self._timeout)
        except (OSError, TimeoutError) as exc:
            return f"{self._who}: request through {frontend} failed: {exc or type(exc).__name__}"
        after = await self._sessions(backend)
        served = [name for name, count in after.items() if count > before.get(name, 0)]
        names = server_names(mapping)
        active = {names[loc.id] for loc in mapping.locators if loc.site == mapping.active_site}
        if served and set(served) <= active:
            return None
        return (
            f"{self._who}: a request through {frontend} reached {', '.join(served) or 'no server'}"
            f", not {', '.join(sorted(active))} of {mapping.active_site}"
        )

    async def load_figures(self, mapping: Mapping, metric: str) -> dict[str, float]:
        """Each locator's figure of ``metric`` (``sessions`` or ``queue``) in ``show stat``.

        Locators whose server is not in the service's backend are left out.

        Raises:
            HaproxyRejected: The dump is unreadable.
            HaproxyUnavailable: The runtime API did not answer.
        """
        [answer] = await self._api.run(["show stat"])
        backend = backend_name(self._template, mapping.service)
        try:
            figures = stat_column(answer, backend, COLUMNS[metric])
        except ValueError as exc:
            raise HaproxyRejected(f"{self._who}: {exc}") from exc
        names = server_names(mapping)
        return {lid: figures[name] for lid, name in names.items() if name in figures}

    async def _sessions(self, backend: str) -> dict[str, int]:
        """Total sessions per server of ``backend``, from ``show stat``."""
        [answer] = await self._api.run(["show stat"])
        lines = answer.splitlines()
        header = lines[0].lstrip("# ").split(",") if lines else []
        if "stot" not in header:
            raise HaproxyRejected(f"{self._who}: show stat has no stot column: {answer[:80]!r}")
        proxy, server, total = header.index("pxname"), header.index("svname"), header.index("stot")
        counts: dict[str, int] = {}
        for line in lines[1:]:
            fields = line.split(",")
            if (
                len(fields) > total
                and fields[proxy] == backend
                and fields[server] not in ("FRONTEND", "BACKEND")
            ):
                counts[fields[server]] = int(fields[total] or 0)
        return counts

    async def close(self) -> None:
        """Nothing to release: every request opens and closes its own connection."""


async def _request(host: str, port: int, timeout: float) -> None:
    """One plain HTTP/1.0 GET of ``/``; the answer's content does not matter."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            await writer.drain()
            await reader.read()
        finally:
            writer.close()
            await writer.wait_closed()
