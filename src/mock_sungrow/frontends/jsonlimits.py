"""JSON from untrusted clients, decoded within limits (the WiNet-S API and the control API).

Python's :mod:`json` decodes anything a client sends, and three inputs then fail far from the
parser: nesting deep enough to exhaust the recursion limit (``RecursionError``), an integer
with more than 4,300 digits (``ValueError`` from the int conversion limit) and a lone
surrogate escape (``"\\ud800"``), which decodes fine and only fails when a reply echoing it
is encoded as UTF-8. Non-standard ``NaN`` / ``Infinity`` and numbers that overflow to
infinity (``1e400``) reach handlers as floats no range check expects.

:func:`loads` refuses all of them with a :class:`JsonLimitError` (a ``ValueError``) naming
what was wrong, before any value reaches a handler. The limits, documented here and in the
README:

* nesting at most :data:`MAX_DEPTH` arrays / objects deep (real requests nest 3 deep);
* integers of at most :data:`MAX_INT_DIGITS` digits (the longest real value is a
  millisecond timestamp, 13 digits);
* finite numbers only: no ``NaN``, ``Infinity``, ``-Infinity`` and no float that overflows;
* strings without lone surrogates (a valid pair such as ``"\\ud83d\\ude00"`` is one character
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
        token = match.group()
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth = max(depth - 1, 0)
    return deepest


def _int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise JsonLimitError(f"an integer of {digits} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise JsonLimitError(f"the number {text[:40]} is too large (it overflows a float)")
    return value


def _constant(name: str) -> Any:
    raise JsonLimitError(f"{name} is not a JSON number (only finite numbers are accepted)")


def _no_lone_surrogates(value: Any) -> None:
    if isinstance(value, str):
        found = _SURROGATE.search(value)
        if found is not None:
            raise JsonLimitError(
                f"a lone surrogate \\u{ord(found.group()):04x} in a string (not Unicode text)")
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_lone_surrogates(key)
            _no_lone_surrogates(item)
    elif isinstance(value, list):
        for item in value:
            _no_lone_surrogates(item)


_DECODER = json.JSONDecoder(parse_int=_int, parse_float=_float, parse_constant=_constant)


def raw_decode(text: str) -> tuple[Any, int]:
    """The first JSON value of ``text`` and where it ends, within the limits.

    Raises :class:`json.JSONDecodeError` for text that is not JSON and
    :class:`JsonLimitError` for JSON outside the limits; nothing else.
    """
    depth = nesting_depth(text)
    if depth > MAX_DEPTH:
        raise JsonLimitError(f"nesting {depth} deep (at most {MAX_DEPTH})")
    value, end = _DECODER.raw_decode(text)
    if _SURROGATE_ESCAPE.search(text, 0, end):
        _no_lone_surrogates(value)
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
