"""What each holding register accepts (``holding.csv``, resolved per model).

The limits are data: ``holding.csv`` gives each writable register's default, range or allowed
words in a tiny expression language (``rated_w*11/1000``); :func:`holding_limits` resolves it
for one model. :func:`mock_sungrow.device.writes.validate_write` checks a write against these
limits before anything is applied.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mock_sungrow.device.catalog import CatalogError, InverterModel, RegisterDef, read_data


@dataclass(frozen=True, slots=True)
class HoldingLimit:
    """What a holding register accepts, from ``holding.csv`` (resolved for one model)."""

    address: int
    name: str
    default: int | None  # raw word; None for the live clock
    minimum: int | None
    maximum: int | None
    allowed: frozenset[int] | None
    signed: bool

    def check(self, word: int) -> str | None:
        """Why ``word`` is refused, or ``None`` when it is acceptable."""
        value = word - 0x10000 if (self.signed and word & 0x8000) else word
        if self.allowed is not None:
            if word not in self.allowed:
                allowed = ", ".join(f"0x{a:02X}" for a in sorted(self.allowed))
                return f"{self.name} accepts only {allowed}; got 0x{word:04X}"
            return None
        if self.minimum is not None and value < self.minimum:
            return f"{self.name} must be >= {self.minimum}; got {value}"
        if self.maximum is not None and value > self.maximum:
            return f"{self.name} must be <= {self.maximum}; got {value}"
        if self.name == "power_factor_setting" and abs(value) < 800:
            return f"power_factor_setting must satisfy |PF| >= 0.800; got {value / 1000:.3f}"
        return None


_EXPR = re.compile(r"^(-?)(rated_w|bdc_w|0x[0-9A-Fa-f]+|\d+)(?:\*(\d+))?(?:/(\d+))?$")


def _resolve(expr: str, names: Mapping[str, int]) -> int | None:
    """Evaluate the tiny expression language of ``holding.csv`` (``rated_w*11/1000``)."""
    expr = expr.strip()
    if not expr or expr == "clock":
        return None
    m = _EXPR.match(expr)
    if m is None:
        raise CatalogError(f"holding.csv: cannot read expression {expr!r}")
    sign, base, mul, div = m.groups()
    value = names[base] if base in names else int(base, 0)
    value = value * int(mul or 1) // int(div or 1)
    return -value if sign else value


#: The largest value one holding word says, unsigned and signed: one below the "unavailable"
#: sentinels 0xFFFF and 0x7FFF.
_WORD_TOP = {False: 0xFFFE, True: 0x7FFE}


@functools.cache
def _holding_rows() -> tuple[dict[str, str], ...]:
    return tuple(csv.DictReader(io.StringIO(read_data("holding.csv"))))


def holding_limits(model: InverterModel, rows: Sequence[RegisterDef]) -> dict[int, HoldingLimit]:
    """Limits for the holding rows ``model`` implements, keyed by documented address."""
    names = {"rated_w": model.rated_power_w, "bdc_w": model.rated_power_w}
    by_addr = {r.address: r for r in rows}
    limits: dict[int, HoldingLimit] = {}
    for spec in _holding_rows():
        addr = int(spec["address"])
        row = by_addr.get(addr)
        if row is None:
            continue
        allowed = spec["allowed"].split()
        signed = row.kind in ("S16", "S32")
        default = _resolve(spec["default"], names)
        if default is not None:
            # A default relative to the rating can outgrow the word (13074, the export limit
            # in W, is the rating: 100 000 on an SH100CX): the register then holds the largest
            # value it can say, below the type's "unavailable" word, as the codec clamps
            # values (spec B.2), never the low 16 bits of the number.
            default = min(default, _WORD_TOP[signed])
        limits[addr] = HoldingLimit(
            address=addr,
            name=spec["name"],
            default=default,
            minimum=_resolve(spec["min"], names),
            maximum=_resolve(spec["max"], names),
            allowed=frozenset(int(a, 0) for a in allowed) if allowed else None,
            signed=signed,
        )
    return limits

