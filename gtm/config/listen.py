"""Listen addresses ("127.0.0.1:15353", "[::1]:53") as one validated value.

The DNS responder and the API bind sockets from these, so a typo should fail when the
file is loaded, not when a socket is opened minutes later.
"""

from __future__ import annotations

import ipaddress
from typing import Any, NamedTuple

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

EXPECTED = 'expected "host:port" or "[ipv6]:port" with an IP address or localhost'


class Listen(NamedTuple):
    """Where a server binds: an IP literal or ``localhost``, and a port (0: any free port).

    A tuple, so it unpacks straight into the ``(host, port)`` that socket APIs take.
    """

    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Listen:
        """The listen address spelled ``host:port``, or ``[ipv6]:port`` for IPv6.

        Raises:
            ValueError: ``text`` is not such an address; the message says why.
        """
        host, sep, port_text = text.rpartition(":")
        if not sep or not host:
            raise ValueError(f"{text!r} is not a listen address; {EXPECTED}")
        bracketed = host.startswith("[") and host.endswith("]")
        if bracketed:
            host = host[1:-1]
        if host != "localhost":
            try:
                address = ipaddress.ip_address(host)
            except ValueError:
                raise ValueError(
                    f"{text!r} is not a listen address: {host!r} is not an IP address; {EXPECTED}"
                ) from None
            # "::1:53" could be the address ::1 and port 53 or the address ::1:53.
            if address.version == 6 and not bracketed:
                raise ValueError(f"{text!r} is ambiguous; write IPv6 as [{host}]:port")
            host = str(address)
        if not port_text.isdigit() or int(port_text) > 65535:
            raise ValueError(
                f"{text!r} is not a listen address: port {port_text!r} is not in 0..65535"
            )
        return cls(host, int(port_text))

    def __str__(self) -> str:
        if ":" in self.host:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """Validate from a string (or an existing Listen) and serialize back to the string."""
        return core_schema.no_info_plain_validator_function(
            _validate, serialization=core_schema.to_string_ser_schema()
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """A string, with examples of both spellings."""
        return {"type": "string", "examples": ["127.0.0.1:15353", "[::1]:53"]}


def _validate(value: object) -> Listen:
    if isinstance(value, Listen):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError(
            "listen", "{value} is not a listen address; " + EXPECTED, {"value": repr(value)}
        )
    try:
        return Listen.parse(value)
    except ValueError as exc:
        raise PydanticCustomError("listen", "{message}", {"message": str(exc)}) from None
