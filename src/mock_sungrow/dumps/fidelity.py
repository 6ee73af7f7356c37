"""Fidelity: how close the normal model (no replay) comes to a recorded unit.

For every address a dump recorded, one single-address read of the simulated model (the
dump's model and unit, a manual clock) is set beside the recording:

* **presence**: both answer, or both refuse;
* **identity and settings**: the protocol words (input 4950-4953), the device type code (input
  5000) and every recorded holding word the model answers must be equal (the serial number
  and the clock, a unit's own and the recording's moment, are left out);
* **sentinels**: where the unit sent an "unavailable" sentinel (0xFFFF, 0x7FFF, 0x8000), the
  model must send the same word. A word of a 32-bit value counts only when the recorded pair
  is that type's sentinel: 0xFFFF as the high word of a small negative S32 (-5 var of reactive
  power: 0xFFFB 0xFFFF) is a value, not "unavailable".

The report names the disagreeing ranges, so a reader sees which bands a family rule misses.
``python -m mock_sungrow.dumps.fidelity DUMP ...`` prints it; the suite checks that no change
makes any dump's figures worse (tests/test_fidelity.py).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from mock_sungrow.device.registermap import ServedRow
from mock_sungrow.dumps.formats import Dump, Table, load_dump
from mock_sungrow.dumps.replay import model_of
from mock_sungrow.errors import ModbusError

#: Words real units send for "no value" (U16, S16 max, S16 min).
SENTINELS = frozenset({0xFFFF, 0x7FFF, 0x8000})
#: The recorded unit's identity words (documented input addresses).
IDENTITY = frozenset({4950, 4951, 4952, 4953, 5000})
#: Left out of every comparison: the serial number (input 4990-4999, a unit's own and blanked
#: by some publishers) and the clock (holding 5000-5005, the time the recording was made).
NOT_COMPARED = frozenset({("input", a) for a in range(4990, 5000)}
                         | {("holding", a) for a in range(5000, 5006)})


@dataclass
class Report:
    """One dump against the normal model."""

    source: str
    model: str
    total: int = 0
    present_agree: int = 0
    #: ``(table, address)`` the unit answered and the model refuses, and the reverse.
    missing: list[tuple[Table, int]] = field(default_factory=list)
    extra: list[tuple[Table, int]] = field(default_factory=list)
    identity_total: int = 0
    identity_wrong: list[tuple[Table, int, int, int]] = field(default_factory=list)
    sentinel_total: int = 0
    sentinel_wrong: list[tuple[Table, int, int, int]] = field(default_factory=list)

    @property
    def presence(self) -> float:
        """Share of recorded addresses where answering or refusing agrees."""
        return self.present_agree / self.total if self.total else 1.0

    @property
    def identity(self) -> float:
        """Share of identity and setting words that are equal."""
        return 1 - len(self.identity_wrong) / self.identity_total if self.identity_total else 1.0

    @property
    def sentinels(self) -> float:
        """Share of recorded sentinels the model sends too."""
        return 1 - len(self.sentinel_wrong) / self.sentinel_total if self.sentinel_total else 1.0

    def text(self) -> str:
        """The report for a reader: figures, then the disagreeing ranges."""
        lines = [f"{self.source} ({self.model}): presence {self.presence:.1%} of {self.total}, "
                 f"identity/settings {self.identity:.1%} of {self.identity_total}, sentinels "
                 f"{self.sentinels:.1%} of {self.sentinel_total}"]
        for what, found in (("answered by the unit, refused by the model", self.missing),
                            ("refused by the unit, answered by the model", self.extra)):
            if found:
                lines.append(f"  {what}: {_ranges(found)}")
        for what, words in (("identity/setting words differ", self.identity_wrong),
                            ("sentinels differ", self.sentinel_wrong)):
            if words:
                shown = ", ".join(f"{t} {a}: unit 0x{u:04X} model 0x{m:04X}"
                                  for t, a, u, m in words[:8])
                more = f" (+{len(words) - 8} more)" if len(words) > 8 else ""
                lines.append(f"  {what}: {shown}{more}")
        return "\n".join(lines)


def _ranges(found: Iterable[tuple[Table, int]]) -> str:
    out = []
    for table in ("input", "holding"):
        addresses = sorted(a for t, a in found if t == table)
        out += [f"{table} {r[0]}" if r[0] == r[1] else f"{table} {r[0]}-{r[1]}"
                for r in _runs(addresses)]
    return ", ".join(out)


def _runs(addresses: list[int]) -> Iterator[tuple[int, int]]:
    if not addresses:
        return
    start = prev = addresses[0]
    for a in addresses[1:]:
        if a != prev + 1:
            yield start, prev
            start = a
        prev = a
    yield start, prev


def compare(dump: Dump, model: str | None = None) -> Report:
    """Read every recorded address from the normal model and set it beside the recording."""
    from mock_sungrow.clock import ManualClock
    from mock_sungrow.device.datablock import SungrowModbusDataBlock
    from mock_sungrow.installation.installation import Installation
    from mock_sungrow.installation.spec import InstallationSpec
    from mock_sungrow.plant.physics import Site

    name = model or model_of(dump)
    spec = InstallationSpec.from_kwargs({"model": name, "unit_id": dump.unit}, ("modbus",),
                                        Site())
    device = Installation(spec, ManualClock(), SungrowModbusDataBlock).inverters[0]
    # A dump recorded through a WiNet-S is set beside the dongle's view (the "sungrow" port).
    inp, hold = device.view_blocks("winet" if dump.transport == "winet" else "lan")
    blocks: dict[Table, SungrowModbusDataBlock] = {"input": inp, "holding": hold}
    report = Report(dump.source, name)
    pairs = {table: _pairs(blocks[table].bank.map.rows[table]) for table in blocks}
    for (table, address), recorded in sorted(dump.words.items()):
        if (table, address) in NOT_COMPARED:
            continue
        block = blocks[table]
        ours: int | None
        try:
            ours = block.getValues(address, 1)[0] if block.validate(address, 1) else None
        except ModbusError:
            ours = None
        report.total += 1
        if (recorded is None) == (ours is None):
            report.present_agree += 1
        elif recorded is None:
            report.extra.append((table, address))
        else:
            report.missing.append((table, address))
        if recorded is None or ours is None:
            continue
        if (table == "input" and address in IDENTITY) or table == "holding":
            report.identity_total += 1
            if ours != recorded:
                report.identity_wrong.append((table, address, recorded, ours))
        elif recorded in SENTINELS and _unavailable(dump, table, address, pairs[table]):
            report.sentinel_total += 1
            if ours != recorded:
                report.sentinel_wrong.append((table, address, recorded, ours))
    return report


def _pairs(rows: Iterable[ServedRow]) -> dict[int, tuple[int, tuple[int, int]]]:
    """Address -> (low word's address, the sentinel pair) for the model's 32-bit rows."""
    out: dict[int, tuple[int, tuple[int, int]]] = {}
    for served in rows:
        row = served.row
        if row.kind in ("U32", "S32"):
            pair = (0xFFFF, 0xFFFF) if row.kind == "U32" else (0xFFFF, 0x7FFF)
            for low in range(row.address, row.end, 2):
                out[low] = out[low + 1] = (low, pair)
    return out


def _unavailable(dump: Dump, table: Table, address: int,
                 pairs: dict[int, tuple[int, tuple[int, int]]]) -> bool:
    """Whether a recorded sentinel-looking word means "no value" (not half of a value)."""
    if address not in pairs:
        return True
    low, sentinel = pairs[address]
    return (dump.words.get((table, low)), dump.words.get((table, low + 1))) == sentinel


def main(argv: Sequence[str] | None = None) -> int:
    """Print the report of each dump given."""
    paths = list(sys.argv[1:] if argv is None else argv)
    if not paths:
        print("usage: python -m mock_sungrow.dumps.fidelity DUMP [DUMP ...]", file=sys.stderr)
        return 2
    for path in paths:
        print(compare(load_dump(path)).text())
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
