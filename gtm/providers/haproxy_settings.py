"""What HAProxy server settings the mappings call for, and their runtime API text form.

Pure, so the whole translation (mappings to settings, changes to commands, command
replies and ``show servers state`` dumps back to settings) is tested without a socket;
:mod:`gtm.providers.haproxy` only carries the text.

Naming rule, shared with whoever writes ``haproxy.cfg``: a service's backend is the
configured template with ``{service}`` replaced; a locator's server is named after its
site when the site has one locator in the service, else ``<site>-<n>`` with ``n`` counting
from 1 in the order the mapping lists that site's locators.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from gtm.core.changes import Change, ChangeKind
from gtm.core.model import NEVER, Mapping

ServerState = Literal["ready", "drain", "maint"]
"""The administrative states ``set server <b>/<s> state`` accepts."""

MAX_WEIGHT = 256
"""The largest weight HAProxy accepts for a server."""

# Admin-state bits from HAProxy's management guide (``show servers state``). A server is
# in maintenance when forced (FMAINT), inherited from a tracked server (IMAINT), disabled
# in the configuration (CMAINT) or unresolvable (RMAINT); 0x40 (HMAINT) only records that
# the FQDN was set at run time and does not stop traffic.
_MAINT_BITS = 0x01 | 0x02 | 0x04 | 0x20
_DRAIN_BITS = 0x08 | 0x10

_FORMAT_VERSION = "1"
"""The ``show servers state`` dump format this parser knows (HAProxy 1.6 to 2.x)."""

PROMPT = "> "
"""What HAProxy prints before reading each command in interactive mode."""


@dataclass(frozen=True, slots=True)
class ServerSetting:
    """The weight and administrative state of one server in one HAProxy backend."""

    backend: str
    server: str
    weight: int
    state: ServerState

    def __post_init__(self) -> None:
        if not 0 <= self.weight <= MAX_WEIGHT:
            raise ValueError(
                f"haproxy: weight {self.weight} of {self.key} is outside 0..{MAX_WEIGHT}"
            )

    @property
    def key(self) -> str:
        """The item key: ``<backend>/<server>``, as the runtime API names the server."""
        return f"{self.backend}/{self.server}"

    def describe(self) -> str:
        """A short form for plans: ``weight 100 ready``."""
        return f"weight {self.weight} {self.state}"


def backend_name(template: str, service: str) -> str:
    """The backend that carries ``service``: ``template`` with ``{service}`` replaced."""
    return template.replace("{service}", service)


def server_names(mapping: Mapping) -> dict[str, str]:
    """The HAProxy server name of each locator of ``mapping``, by locator id.

    A site with one locator gives its name to the server (``aws-use1``); a site with
    several numbers them in mapping order (``aws-use1-1``, ``aws-use1-2``), so a name
    stays put as long as the service's configured locators keep their order.
    """
    per_site: dict[str, list[str]] = {}
    for locator in mapping.locators:
        per_site.setdefault(locator.site, []).append(locator.id)
    names: dict[str, str] = {}
    for site, ids in per_site.items():
        if len(ids) == 1:
            names[ids[0]] = site
        else:
            names.update({locator_id: f"{site}-{n}" for n, locator_id in enumerate(ids, 1)})
    return names


def settings(mapping: Mapping, template: str) -> list[ServerSetting]:
    """The setting of every server of ``mapping``'s backend, so traffic goes where it says.

    Locators in ``mapping.best()`` are ready with their weight: HAProxy weights are
    relative within a backend and the locator's 0..100 fits its 0..256 as it is, so the
    shares are exactly the mapping's with no rounding; when every chosen weight is 0 each
    gets 1 (equal shares, the selection rule's reading of all-zero weights). Every other
    locator is ready at weight 0, so it can take traffic again by a weight change alone;
    except a drained site's locators (priority 255 and weight 0, as the policy marks
    drained sites), which are set to ``drain``.
    """
    backend = backend_name(template, mapping.service)
    names = server_names(mapping)
    chosen = {locator.id for locator in mapping.best()}
    equal = sum(loc.weight for loc in mapping.locators if loc.id in chosen) == 0
    result: list[ServerSetting] = []
    for locator in mapping.locators:
        state: ServerState = "ready"
        weight = 0
        if locator.id in chosen:
            weight = 1 if equal else locator.weight
        elif locator.priority == NEVER and locator.weight == 0:
            state = "drain"
        result.append(ServerSetting(backend, names[locator.id], weight, state))
    return result


def render_commands(changes: Iterable[Change[ServerSetting]]) -> list[str]:
    """The runtime API commands that carry out ``changes``, make before break.

    Commands that give a server traffic (a higher weight, back to ``ready``) come before
    those that take it away, so a move between sites never passes through a moment with
    no server taking traffic. A created item (a server HAProxy did not list) gets both
    commands and HAProxy's own refusal names what is missing; a deleted item (a server
    no locator maps to) is set to weight 0, since the mapping sends it nothing.
    """
    gain: list[str] = []
    lose: list[str] = []
    for change in changes:
        before, after = change.before, change.after
        if change.kind is ChangeKind.DELETE:
            assert before is not None
            if before.weight:
                lose.append(f"set server {before.key} weight 0")
            continue
        assert after is not None
        if before is None or before.weight != after.weight:
            up = before is None or after.weight > before.weight
            (gain if up else lose).append(f"set server {after.key} weight {after.weight}")
        if before is None or before.state != after.state:
            up = after.state == "ready"
            (gain if up else lose).append(f"set server {after.key} state {after.state}")
    return gain + lose


def script(commands: Sequence[str]) -> bytes:
    """One request carrying ``commands`` in interactive mode, one per line, then ``quit``.

    The non-interactive form (``a;b;c``) ends each reply with an empty line, but HAProxy
    2.6 leaves that line out after some refusals ("Trailing garbage in weight string"), so
    replies cannot be matched to commands by position. In interactive mode HAProxy prints
    its prompt before every command it reads, which splits the replies reliably; the
    commands still go in one write and one connection.
    """
    return ("prompt\n" + "".join(f"{command}\n" for command in commands) + "quit\n").encode()


def replies(text: str, count: int) -> list[str]:
    """The complete reply to each of ``count`` commands sent by :func:`script`, in order.

    A reply is the text between the prompt before its command and the next prompt,
    without its closing empty line; text after the last prompt is not known to be
    complete and is dropped. A list shorter than ``count`` means the connection ended
    early.
    """
    chunks: list[list[str]] = [[]]
    for line in text.split("\n"):
        if line.startswith(PROMPT):
            chunks.append([line[len(PROMPT) :]])
        else:
            chunks[-1].append(line)
    # The first chunk answers ``prompt`` itself; when the whole script was read, the last
    # one is after the prompt for ``quit``, which answers nothing.
    return ["\n".join(chunk).strip("\n") for chunk in chunks[1:-1]][:count]


def parse_servers_state(text: str) -> list[ServerSetting]:
    """The servers in a ``show servers state`` dump (format 1), in dump order.

    Columns are found by the header's names, so fields added by later versions do not
    shift them. The admin-state bits decide the state: maintenance wins over drain.

    Raises:
        ValueError: The text is not a format-1 dump (for instance an error message).
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or lines[0].strip() != _FORMAT_VERSION:
        raise ValueError(f"not a 'show servers state' dump: {text.strip()[:200]!r}")
    columns: list[str] = []
    result: list[ServerSetting] = []
    for line in lines[1:]:
        if line.startswith("#"):
            columns = columns or line.lstrip("#").split()
            continue
        row = dict(zip(columns, line.split(), strict=False))
        try:
            admin = int(row["srv_admin_state"])
            state: ServerState = "ready"
            if admin & _MAINT_BITS:
                state = "maint"
            elif admin & _DRAIN_BITS:
                state = "drain"
            result.append(
                ServerSetting(row["be_name"], row["srv_name"], int(row["srv_uweight"]), state)
            )
        except (KeyError, ValueError) as exc:
            raise ValueError(f"unreadable 'show servers state' line {line!r}: {exc}") from exc
    return result
