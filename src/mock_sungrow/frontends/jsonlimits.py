r"""JSON from untrusted clients, decoded within limits (the WiNet-S API and the control API).

Python's :mod:`json` decodes anything a client sends, and three inputs then fail far from the
parser: nesting deep enough to exhaust the recursion limit (``RecursionError``), an integer
with more than 4,300 digits (``ValueError`` from the int conversion limit) and a lone
surrogate escape (``"\ud800"``), which decodes fine and only fails when a reply echoing it
is encoded as UTF-8. Non-standard ``NaN`` / ``Infinity`` and numbers that overflow to
infinity (``1e400``) reach handlers as floats no range check expects.

:func:`loads` refuses all of them with a :class:`JsonLimitError` (a ``ValueError``) naming
what was wrong, before any value reaches a handler. The limits, documented here and in the
README:

* nesting at most :data:`MAX_DEPTH` arrays / objects deep (real requests nest 3 deep);
* integers of at most :data:`MAX_INT_DIGITS` digits (the longest real value is a
  millisecond timestamp, 13 digits);
* finite numbers only: no ``NaN``, ``Infinity``, ``-Infinity`` and no float that overflows;
* strings without lone surrogates (a valid pair such as ``"\ud83d\ude00"`` is one character
  and is accepted).

The size of the text is the caller's limit (WebSocket frame size, HTTP body size).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

#: Deepest nesting of arrays and objects accepted.
MAX_DEPTH = 32
#: Most digits an integer may have.
MAX_INT_DIGITS = 40

#: A string literal (skipped by the depth scan) or a bracket.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
#: A \\uD800-\\uDFFF escape: only then can a decoded string hold a lone surrogate.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonLimitError(ValueError):
    """JSON that is well-formed enough to parse but outside the limits above."""


def nesting_depth(text: str) -> int:
    """How deeply arrays and objects nest in ``text`` (brackets inside strings do not count).

    Unbalanced text is measured as far as it goes; the decoder reports the syntax error.
    """
    depth = deepest = 0
    for match in _TOKENS.finditer(text):
        found = match.group()
        if found in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif found in "]}":
            depth = max(depth - 1, 0)
    return deepest


class _Refused:
    """Stands in for a value outside the limits until its place in the document is known."""

    __slots__ = ("why",)

    def __init__(self, why: str) -> None:
        self.why = why


def _int(text: str) -> int | _Refused:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        return _Refused(f"an integer of {digits} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _float(text: str) -> float | _Refused:
    value = float(text)
    if math.isinf(value):
        return _Refused(f"the number {text[:40]} is too large (it overflows a float)")
    return value


def _constant(name: str) -> _Refused:
    return _Refused(f"{name} is not a JSON number (only finite numbers are accepted)")


def _lone_surrogate(text: str) -> str | None:
    found = _SURROGATE.search(text)
    if found is None:
        return None
    return f"a lone surrogate \\u{ord(found.group()):04x} in a string (not Unicode text)"


def _first_refusal(value: Any, path: str) -> str | None:
    """``"<path>: <why>"`` for the first value outside the limits, or ``None``."""
    if isinstance(value, _Refused):
        return f"{path or 'the value'}: {value.why}"
    if isinstance(value, str):
        why = _lone_surrogate(value)
        return None if why is None else f"{path or 'the value'}: {why}"
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            why = _lone_surrogate(key)
            if why is not None:
                return f"a key of {path or 'the object'}: {why}"
            found = _first_refusal(item, where)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _first_refusal(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


class _Outside(Exception):  # noqa: N818 - internal: the slow path below names the problem
    """A number or constant outside the limits, met by the quick decoder."""


def _quick_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _Outside
    return int(text)


def _quick_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _Outside
    return value


def _quick_constant(text: str) -> float:
    raise _Outside


#: One decoder for every call (as :func:`json.loads` has): it refuses what the limits refuse
#: by raising, and :func:`raw_decode` then decodes again the slow way to say what and where.
_QUICK = json.JSONDecoder(parse_int=_quick_int, parse_float=_quick_float,
                          parse_constant=_quick_constant)


def raw_decode(text: str) -> tuple[Any, int]:
    """The first JSON value of ``text`` and where it ends, within the limits.

    Raises :class:`json.JSONDecodeError` for text that is not JSON and
    :class:`JsonLimitError` for JSON outside the limits (the message names where, as a path
    such as ``list[0].param_value``); nothing else.
    """
    # Fewer opening brackets than the limit cannot nest deeper (the common case: no scan).
    depth = (nesting_depth(text) if text.count("[") + text.count("{") > MAX_DEPTH else 0)
    if depth > MAX_DEPTH:
        raise JsonLimitError(f"nesting {depth} deep (at most {MAX_DEPTH})")
    try:
        value, end = _QUICK.raw_decode(text)
    except _Outside:
        pass  # decoded again below, noting every refusal
    else:
        if _SURROGATE_ESCAPE.search(text, 0, end):
            problem = _first_refusal(value, "")
            if problem is not None:
                raise JsonLimitError(problem)
        return value, end
    refused: list[_Refused] = []

    def note(result: Any) -> Any:
        if isinstance(result, _Refused):
            refused.append(result)
        return result

    decoder = json.JSONDecoder(parse_int=lambda t: note(_int(t)),
                               parse_float=lambda t: note(_float(t)),
                               parse_constant=lambda t: note(_constant(t)))
    value, end = decoder.raw_decode(text)
    if refused or _SURROGATE_ESCAPE.search(text, 0, end):
        problem = _first_refusal(value, "")
        if problem is not None:
            raise JsonLimitError(problem)
    return value, end


def loads(text: str) -> Any:
    """The JSON value ``text`` holds (nothing may follow it but white space)."""
    value, end = raw_decode(text.lstrip())
    if text.lstrip()[end:].strip():
        raise json.JSONDecodeError("extra data", text.lstrip(), end)
    return value


def dumps_text(payload: Any) -> str:
    """``payload`` as UTF-8-safe JSON text: non-ASCII as is, a lone surrogate escaped.

    Replies echo what clients sent; a string that cannot be encoded as UTF-8 would otherwise
    fail when the reply is sent, after the handler has answered.
    """
    text = json.dumps(payload, ensure_ascii=False)
    if _SURROGATE.search(text):
        text = json.dumps(payload, ensure_ascii=True)
    return text
