"""Register encodings: engineering values <-> 16-bit words (spec §B.2).

Sungrow sends 32-bit values low word first; strings are UTF-8, two bytes per register. A value
beyond its type's range saturates at the largest (or smallest) value that is *not* the
"unavailable" sentinel; only a missing value (``None`` or NaN) encodes as the sentinel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mock_sungrow.device.catalog import RegisterDef

#: An engineering value: a number, a string, an array, or ``None`` for "not available".
Value = float | int | str | None | list[float | int | None]

_SENTINEL_WORDS = {
    "U16": (0xFFFF,),
    "S16": (0x7FFF,),
    "U32": (0xFFFF, 0xFFFF),
    "S32": (0xFFFF, 0x7FFF),  # 0x7FFFFFFF, low word first
}


def sentinel_words(row: RegisterDef) -> list[int]:
    """The words a row reads when its quantity is unavailable (spec §B.2)."""
    if row.kind == "UTF8":
        return [0] * row.words
    return list(_SENTINEL_WORDS[row.kind]) * row.count


def _encode_number(kind: str, value: float | int | None, scale: float) -> tuple[int, ...]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return _SENTINEL_WORDS[kind]
    raw = round(value / scale) if scale != 1 else round(value)
    if kind == "U16":
        return (min(max(raw, 0), 0xFFFE),)
    if kind == "S16":
        return (min(max(raw, -0x8000), 0x7FFE) & 0xFFFF,)
    if kind == "U32":
        raw = min(max(raw, 0), 0xFFFFFFFE)
    else:
        raw = min(max(raw, -0x80000000), 0x7FFFFFFE) & 0xFFFFFFFF
    return (raw & 0xFFFF, raw >> 16)  # Sungrow sends the low word first


def encode_value(row: RegisterDef, value: Value) -> list[int]:
    """Scale and encode an engineering value into the row's words."""
    if row.kind == "UTF8":
        text = "" if value is None else str(value)
        data = text.encode("utf-8")[: row.words * 2].ljust(row.words * 2, b"\0")
        return [(data[i] << 8) | data[i + 1] for i in range(0, len(data), 2)]
    if isinstance(value, str):
        raise TypeError(f"{row.name}: a string value for a numeric register")
    if row.is_array:
        items = value if isinstance(value, list) else [value] * row.count
        words: list[int] = []
        for item in (list(items) + [None] * row.count)[: row.count]:
            words.extend(_encode_number(row.kind, item, row.scale))
        return words
    if isinstance(value, list):
        raise TypeError(f"{row.name}: a list value for a scalar register")
    return list(_encode_number(row.kind, value, row.scale))


def decode_words(row: RegisterDef, words: Sequence[int]) -> Value:
    """Decode a row's words back into engineering units (the inverse of :func:`encode_value`).

    Sentinels decode to ``None``. Used by the Python API and by tests that check the encoder.
    """
    if row.kind == "UTF8":
        data = b"".join(w.to_bytes(2, "big") for w in words[: row.words])
        return data.rstrip(b"\0").decode("utf-8", errors="replace")
    per = row.element_words
    values: list[float | int | None] = []
    for i in range(row.count):
        chunk = tuple(words[i * per : (i + 1) * per])
        if chunk == _SENTINEL_WORDS[row.kind]:
            values.append(None)
            continue
        raw = chunk[0] if per == 1 else chunk[0] | (chunk[1] << 16)
        if row.kind == "S16" and raw & 0x8000:
            raw -= 0x10000
        elif row.kind == "S32" and raw & 0x80000000:
            raw -= 0x100000000
        values.append(raw * row.scale if row.scale != 1 else raw)
    return values if row.is_array else values[0]

