"""The WiNet-S envelope and request fields: what every service and endpoint shares.

Replies are ``{"result_code": 1, "result_msg": "success", "result_data": {...}}``
(:func:`envelope`); a request the dongle cannot make sense of raises :class:`BadRequest`,
which the front end answers and records as a problem.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from mock_sungrow.frontends import jsonlimits
from mock_sungrow.frontends.winet import auth

Reply = dict[str, Any]
Notify = Callable[[Any, Reply], Awaitable[bool]]
Handler = Callable[[Mapping[str, Any], Any], Awaitable[Reply]]

#: The longest WebSocket text frame or HTTP body accepted (real requests are < 1 KiB).
MAX_MESSAGE = 64 * 1024
#: The longest WebSocket frame read at all: one up to this size is answered 400 and the
#: session carries on; a longer one closes the session with 1009 (message too big).
MAX_FRAME = 1024 * 1024
#: Services that work without a (logged-in) token.
OPEN_SERVICES = frozenset({"connect", "login", "ping"})
#: ASCII digits only: Python's \d also matches other scripts' digits (full-width ones), which
#: the firmware's C parser does not read as a number.
_DECIMAL = re.compile(r"\s*[+-]?\d{1,10}\s*", re.ASCII)
_LANG = re.compile(r"^[A-Za-z]{1,8}(?:[_-][A-Za-z0-9]{1,8})*$")


def envelope(
    code: int, message: str, service: str | None = None, data: Mapping[str, Any] | None = None
) -> Reply:
    """The dongle's reply: code, message and a ``result_data`` object (service first)."""
    result: dict[str, Any] = {} if service is None else {"service": service}
    if data:
        result.update(data)
    return {"result_code": code, "result_msg": message, "result_data": result}


class Encoded(dict[str, Any]):
    """A reply whose JSON text is known already (a kept one: :mod:`.memo`); never mutated."""

    __slots__ = ("text",)
    text: str


def notice(code: int = auth.NOTICE, message: str = auth.MSG_NOTICE) -> Reply:
    """The unsolicited frame a session receives when another login takes its place."""
    return envelope(code, message, "notice")


class BadRequest(ValueError):  # noqa: N818 - it is an answer, not a crash
    """A request the dongle cannot make sense of; the text says what is wrong."""


def parse_frame(text: str) -> dict[str, Any]:
    """The first JSON value of a frame, which must be an object; trailing bytes are ignored.

    freman/sungrow sends its ``devicelist`` with two stray characters after the object, which
    the real dongle accepts, so only the first value is decoded. Nesting, integer size, finite
    numbers and lone surrogates are limited (:mod:`mock_sungrow.frontends.jsonlimits`): such a
    frame is a bad request, not a crash.
    """
    stripped = text.lstrip()
    try:
        value, _end = jsonlimits.raw_decode(stripped)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"not JSON ({exc.msg} at character {exc.pos})") from None
    except jsonlimits.JsonLimitError as exc:
        raise BadRequest(f"JSON outside the limits: {exc}") from None
    if not isinstance(value, dict):
        raise BadRequest(f"a request is a JSON object, not {type(value).__name__}")
    return value


def integer(params: Mapping[str, Any], key: str, *, default: int | None = None) -> int:
    """An integer parameter sent as a number or a decimal string (``"1"`` or ``1``)."""
    value = params.get(key)
    if type(value) is str and 0 < len(value) <= 10 and value.isascii() and value.isdigit():
        return int(value)  # the usual "1" / "5001", without the pattern below
    if value is None or value == "":
        if default is not None:
            return default
        raise BadRequest(f"{key!r} is missing")
    if isinstance(value, bool):
        raise BadRequest(f"{key!r} must be an integer; got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        return int(value)
    raise BadRequest(f"{key!r} must be an integer; got {value!r}")


def text_field(params: Mapping[str, Any], key: str) -> str:
    """A string field that must be present."""
    value = params.get(key)
    if not isinstance(value, str):
        raise BadRequest(f"{key!r} must be a string; got {value!r}")
    return value


def hex_bytes(words: list[int]) -> str:
    """Register words as the dongle prints them: ``"0E 03 00 01 "`` (note the last space)."""
    return struct.pack(f">{len(words)}H", *words).hex(" ").upper() + " " if words else ""


def ip_literal(host: str) -> str:
    """The listener's address if it is an IP literal (winet-extractor validates ``ip``)."""
    import ipaddress

    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return "127.0.0.1"


def lang_ok(lang: str) -> bool:
    """Whether ``lang`` looks like a locale (``en_US``, ``de_de``)."""
    return bool(_LANG.match(lang))
