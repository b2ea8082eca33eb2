"""The flap-damping section: how long a locator that keeps going down is kept from coming back."""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import Field, GetJsonSchemaHandler, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from gtm.config.durations import Duration
from gtm.config.problems import Problem, problems_error
from gtm.config.section import Section


class DampingConfig(Section):
    """Flap damping: each down verdict adds ``penalty``, which halves every ``half_life``; a
    locator whose penalty reaches ``suppress`` is held down when it recovers, until the
    penalty decays below ``reuse``. ``damping: off`` switches it off."""

    enabled: bool = True
    """Whether flap damping is on; ``damping: off`` is short for ``enabled: false``."""
    penalty: float = Field(default=1.0, gt=0, le=100)
    """Penalty added each time a locator goes down."""
    half_life: Duration = Field(default=60.0, gt=0, le=86400)
    """Time for the penalty to halve; a shorter one releases a held locator sooner."""
    suppress: float = Field(default=3.0, gt=0, le=1000)
    """Penalty at or above which a recovering locator is held down."""
    reuse: float = Field(default=1.5, gt=0, le=1000)
    """A held locator is released once its penalty decays below this; below ``suppress``."""

    @model_validator(mode="before")
    @classmethod
    def _off(cls, data: Any) -> Any:
        # YAML reads a bare ``off`` as false.
        if data is False or data == "off":
            return {"enabled": False}
        if isinstance(data, dict | DampingConfig):
            return data
        raise PydanticCustomError(
            "damping",
            "{value} is not a mapping or off; expected damping: off or damping: {half_life: 30s}",
            {"value": repr(data)},
        )

    @model_validator(mode="after")
    def _check_levels(self) -> Self:
        if self.reuse >= self.suppress:
            message = (
                f"is {self.reuse:g}, not below suppress ({self.suppress:g}); "
                "set reuse lower than suppress"
            )
            raise problems_error([Problem(("reuse",), message)])
        return self


class _OrOff:
    """Tells editors that ``off`` (or YAML's false) is accepted in place of the section."""

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"anyOf": [handler(schema), {"const": "off"}]}


Damping = Annotated[DampingConfig, _OrOff()]
"""A damping section, or ``off``."""
