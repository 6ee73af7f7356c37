"""What a control request carries, checked: JSON bodies, integers, tables, times, devices.

The handlers (:mod:`mock_sungrow.frontends.control.api`) take their inputs through these, so
every bad value gets the same kind of answer: HTTP 400 for a body that is not JSON within the
limits, 404 for a table or device that does not exist, 422 for a value out of range, each with
a JSON body saying what was expected (:class:`ApiError`).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from aiohttp import web

from mock_sungrow.frontends import jsonlimits

if TYPE_CHECKING:
    from mock_sungrow.device.device import Device
    from mock_sungrow.server import MockSungrowServer


class ApiError(Exception):
    """An error with an HTTP status and a JSON body."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": message, **extra}


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON reply (the control API answers everything in JSON, errors included)."""
    return web.json_response(data, status=status, dumps=lambda v: json.dumps(v, default=str))



async def read_body(request: web.Request, fields: tuple[str, ...] | None = None
                ) -> dict[str, Any]:
    """The JSON object a request carries (``{}`` without a body), within the JSON limits.

    Nesting, integer size and non-finite numbers are limited
    (:mod:`mock_sungrow.frontends.jsonlimits`), so no value outside them reaches a handler.
    The media type was checked by the guard (:mod:`mock_sungrow.frontends.control.app`).
    A field not in ``fields`` (when given) is refused with 422 naming it: a misspelt
    ``inverter_tim`` would otherwise be ignored without a word.
    """
    if not request.body_exists:  # read already (frontends/web.py): still there
        return {}
    raw = await request.read()
    if not raw:  # an empty body is no body; one of blanks only is not JSON (400)
        return {}
    try:
        data = jsonlimits.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(400, "the body is not valid JSON: it is not UTF-8") from None
    except jsonlimits.JsonLimitError as exc:
        raise ApiError(400, f"the body is outside the JSON limits: {exc}") from None
    except ValueError as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    unknown = sorted(set(data) - set(fields)) if fields is not None else []
    if unknown:
        raise ApiError(422, f"unknown field(s) {', '.join(map(repr, unknown))}; accepted: "
                            f"{', '.join(fields or ())}")
    return data


def integer(value: Any, name: str, low: int, high: int) -> int:
    """An integer ``low..high`` from a JSON integer or a decimal string (a query value)."""
    problem = f"{name} must be an integer {low}..{high}; got {value!r}"
    if isinstance(value, float) and value.is_integer():  # JSON's 2.0 is the integer 2
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ApiError(422, problem)
    if isinstance(value, str):
        text = value.strip()
        digits = text.lstrip("+-")
        if not (digits.isascii() and digits.isdigit()) or len(text) > 20:  # not '¹
            raise ApiError(422, problem)
        value = int(text)
    number: int = value
    if not low <= number <= high:
        raise ApiError(422, f"{name} must be an integer {low}..{high}; got {number}")
    return number


def table_of(request: web.Request) -> str:
    """The register table a path names (404 for anything but input and holding)."""
    table = request.match_info["table"]
    if table not in ("input", "holding"):
        raise ApiError(404, f"unknown table {table!r}; tables are 'input' and 'holding'")
    return table


def device_of(server: MockSungrowServer, request: web.Request) -> Device:
    """The device a request names (``?device=`` id or serial, ``?unit=``), else the first."""
    q = request.query
    unit = integer(q["unit"], "unit", 0, 255) if "unit" in q else None  # checked even if unused
    selector: str | int | None = q.get("device")
    if selector is None:
        selector = unit
    if selector is None:
        return server.device
    try:
        return server.find_device(selector)
    except LookupError as exc:
        raise ApiError(404, str(exc).strip("'\"")) from None


def snapshot_dict(device: Device) -> dict[str, Any]:
    """A device's plant snapshot as JSON values (times in ISO 8601, modes by name)."""
    snap = device.snapshot()
    out: dict[str, Any] = {}
    for f in dataclasses.fields(snap):
        value = getattr(snap, f.name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif hasattr(value, "value") and not isinstance(value, float | int):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def parse_time(value: Any, name: str, *, naive_ok: bool = False) -> datetime:
    """An ISO 8601 string or POSIX seconds as a datetime; ``ValueError`` naming ``name``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(float(value), timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{name}: {value!r} POSIX seconds is not a time in years "
                             "1..9999") from None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be an ISO 8601 string or POSIX seconds; "  # noqa: TRY004
                         f"got {value!r}")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name}: {value[:60]!r} is not an ISO 8601 time "
                         "(for example 2026-06-21T12:00:00+00:00)") from None
    if when.tzinfo is None and not naive_ok:
        raise ValueError(f"{name}: give the time zone (for example 2026-06-21T12:00:00+00:00)")
    return when
