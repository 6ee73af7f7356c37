"""Fault parameters: their types, defaults, checks, and the light coercion CLI text needs.

Every mistake is a :class:`FaultSpecError` whose message names the kind, the parameter, what
was given and what is accepted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class FaultSpecError(ValueError):
    """A fault specification is invalid; the message says what is wrong."""


class UnknownFaultKindError(FaultSpecError):
    """The spec names no fault kind, or one the catalogue does not have.

    Separate so that an answer can list the kinds for this error only (the control API's
    ``kinds`` field), not for every misspelt parameter.
    """


# ----------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class Param:
    """One parameter of a fault kind."""

    name: str
    type: type | tuple[type, ...]
    default: Any = None
    required: bool = False
    check: Callable[[Any], str | None] | None = None
    doc: str = ""

    def json_schema(self) -> dict[str, Any]:
        """The parameter as JSON Schema (for the control API's OpenAPI document).

        Its JSON type comes from :attr:`type` and its bounds from the check, when the check
        says what it accepts (the common checks below carry a ``schema``).
        """
        types = self.type if isinstance(self.type, tuple) else (self.type,)
        names = [_JSON_TYPES[t] for t in types if t in _JSON_TYPES]
        schema: dict[str, Any] = {"type": names[0] if len(names) == 1 else names}
        schema.update(getattr(self.check, "schema", {}))
        if list in types:
            schema.setdefault("items", {"type": "integer"})
        if self.doc:
            schema["description"] = self.doc
        if self.default is not None:
            schema["default"] = self.default
        return schema

    def coerce(self, kind: str, value: Any) -> Any:
        """Validate ``value`` (with light coercion from CLI strings) or raise."""
        types = self.type if isinstance(self.type, tuple) else (self.type,)
        if isinstance(value, str) and str not in types:
            try:
                value = from_text(value, types)
            except ValueError:  # "1 x 3" for a list of integers
                raise FaultSpecError(
                    f"{kind}: {self.name} must be {_type_names(types)}; got {value!r}"
                ) from None
        if isinstance(value, bool) and bool not in types:
            raise FaultSpecError(f"{kind}: {self.name} must be {_type_names(types)}, not a bool")
        if float in types and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if int in types and float not in types:
            value = integral(value)
        if list in types and isinstance(value, tuple | list):
            value = [integral(v) for v in value]
        if not isinstance(value, types):
            raise FaultSpecError(
                f"{kind}: {self.name} must be {_type_names(types)}; got {value!r}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise FaultSpecError(f"{kind}: {self.name} must be a finite number; got {value!r}")
        if self.check is not None:
            problem = self.check(value)
            if problem:
                raise FaultSpecError(f"{kind}: {self.name} {problem}; got {value!r}")
        return value


def integral(value: Any) -> Any:
    """``value`` as an ``int`` if it is a float with no fractional part, else unchanged.

    JSON's ``2.0`` is the integer 2, as JSON Schema counts it.
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: Python types of parameters -> JSON Schema types.
_JSON_TYPES = {int: "integer", float: "number", str: "string", bool: "boolean", list: "array"}


def _type_names(types: tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
             list: "a list"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def from_text(text: str, types: tuple[type, ...]) -> Any:
    """``text`` (from a CLI flag or a scenario) as the first of ``types`` it reads as."""
    if bool in types and text.lower() in ("true", "false", "yes", "no", "on", "off"):
        return text.lower() in ("true", "yes", "on")
    for t in (int, float):
        if t in types:
            try:
                return int(text, 0) if t is int else float(text)
            except ValueError:
                continue
    if list in types:
        try:
            return [int(x, 0) for x in text.replace(";", " ").replace("/", " ").split()]
        except ValueError:  # not a list of numbers: the caller says what was expected
            return text
    return text



# ----------------------------------------------------------------------------- common checks


def with_schema(schema: dict[str, Any]) -> Callable[[Callable[[Any], str | None]],
                                                   Callable[[Any], str | None]]:
    """Attach the JSON Schema keywords a check enforces (``minimum``, ``enum``...) to it."""

    def attach(check: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
        check.schema = schema  # type: ignore[attr-defined]
        return check

    return attach


@with_schema({"minimum": 0})
def non_negative(v: float) -> str | None:
    """Check: ``v >= 0``."""
    return "must be >= 0" if v < 0 else None


@with_schema({"exclusiveMinimum": 0})
def positive(v: float) -> str | None:
    """Check: ``v > 0``."""
    return "must be > 0" if v <= 0 else None


def one_of(*allowed: str) -> Callable[[Any], str | None]:
    """Check: ``v`` is one of ``allowed``."""

    @with_schema({"enum": list(allowed)})
    def check(v: Any) -> str | None:
        return None if v in allowed else f"must be one of {', '.join(allowed)}"

    return check
