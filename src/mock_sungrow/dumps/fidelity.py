"""Fidelity: how close the normal model (no replay) comes to a recorded unit.

For every address a dump recorded, one single-address read of the simulated model (the
dump's model and unit, a manual clock) is set beside the recording:

* **presence**: both answer, or both refuse;
* **identity**: the protocol words (input 4950-4953), the device type code (input 5000) and
  the firmware strings (ARM and DSP software 4954-4983, the firmware versions 2582+ and
  13250+) must be equal;
* **settings**: the recorded holding words at the model's setting addresses (writable rows,
  not the clock and not commands: :func:`mock_sungrow.dumps.settings.setting_addresses`).
  They are an owner's choices, so with ``settings=True`` the model starts with the dump's
  own (``settings_from``) and they must all be equal; without it they measure the defaults;
* **read-only holding**: every other recorded holding word the model answers (the words a
  family rule gives, the cluster words): they must be equal;
* **sentinels**: where the unit sent an "unavailable" sentinel (0xFFFF, 0x7FFF, 0x8000), the
  model must send the same word. A word of a 32-bit value counts only when the recorded pair
  is that type's sentinel: 0xFFFF as the high word of a small negative S32 (-5 var of reactive
  power: 0xFFFB 0xFFFF) is a value, not "unavailable".

The serial number and the clock (a unit's own, and the recording's moment) are left out. A
unit that recorded itself as a cluster's master or slave (holding 33500-33502: 0xAA, its
role, the cluster's size) is compared as that member of a cluster of that size (an
installation of a master and its slaves, docs/installations.md), not as a stand-alone unit.

The report names the disagreeing ranges, so a reader sees which bands a family rule misses.
``python -m mock_sungrow.dumps.fidelity [--settings] DUMP ...`` prints it; the suite checks
that no change makes any dump's figures worse (tests/test_fidelity.py).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from mock_sungrow.device.datablock import SungrowModbusDataBlock
from mock_sungrow.device.device import CLUSTER_ADDRESS, CLUSTER_MASTER, Device
from mock_sungrow.device.registermap import ServedRow
from mock_sungrow.device.writes import SWITCH_ON
from mock_sungrow.dumps.formats import Dump, Table, load_dump
from mock_sungrow.dumps.replay import model_of
from mock_sungrow.dumps.settings import setting_addresses
from mock_sungrow.errors import ModbusError

#: Words real units send for "no value" (U16, S16 max, S16 min).
SENTINELS = frozenset({0xFFFF, 0x7FFF, 0x8000})
#: The recorded unit's identity words (documented input addresses).
IDENTITY = frozenset({4950, 4951, 4952, 4953, 5000})
#: Input rows whose words are identity too: the firmware strings (ARM and DSP software at
#: 4954-4983, the hybrids' firmware versions at 2582+ and 13250+).
_VERSION_ROWS = ("software_version", "firmware_version")
#: Input 13265-13279: the communication module's firmware string.
MODULE_FIRMWARE = 13265
#: Left out of every comparison: the serial number (input 4990-4999, a unit's own and blanked
#: by some publishers) and the clock (holding 5000-5005, the time the recording was made).
NOT_COMPARED = frozenset({("input", a) for a in range(4990, 5000)}
                         | {("holding", a) for a in range(5000, 5006)})


#: The word categories a report keeps apart, as the report names them.
CATEGORIES = ("identity", "settings", "read-only holding", "sentinels")


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
    #: Per category: how many words were compared, and the ``(table, address, unit's word,
    #: model's word)`` that differ.
    counted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    wrong: dict[str, list[tuple[Table, int, int, int]]] = field(
        default_factory=lambda: {c: [] for c in CATEGORIES})
    #: Whether the model started with the dump's settings (``compare(settings=True)``).
    with_settings: bool = False

    @property
    def presence(self) -> float:
        """Share of recorded addresses where answering or refusing agrees."""
        return self.present_agree / self.total if self.total else 1.0

    def share(self, category: str) -> float:
        """Share of a category's words that are equal (1.0 when there are none)."""
        total = self.counted[category]
        return 1 - len(self.wrong[category]) / total if total else 1.0

    @property
    def identity(self) -> float:
        """Share of identity words (protocol, device type, firmware strings) that are equal."""
        return self.share("identity")

    @property
    def settings(self) -> float:
        """Share of setting words that are equal."""
        return self.share("settings")

    @property
    def read_only(self) -> float:
        """Share of the other (read-only) holding words that are equal."""
        return self.share("read-only holding")

    @property
    def sentinels(self) -> float:
        """Share of recorded sentinels the model sends too."""
        return self.share("sentinels")

    def text(self) -> str:
        """The report for a reader: figures, then the disagreeing ranges."""
        figures = ", ".join(f"{c} {self.share(c):.1%} of {self.counted[c]}" for c in CATEGORIES)
        with_settings = " with its settings" if self.with_settings else ""
        lines = [f"{self.source} ({self.model}{with_settings}): presence {self.presence:.1%} "
                 f"of {self.total}, {figures}"]
        for what, found in (("answered by the unit, refused by the model", self.missing),
                            ("refused by the unit, answered by the model", self.extra)):
            if found:
                lines.append(f"  {what}: {_ranges(found)}")
        for category in CATEGORIES:
            words = self.wrong[category]
            if words:
                shown = ", ".join(f"{t} {a}: unit 0x{u:04X} model 0x{m:04X}"
                                  for t, a, u, m in words[:8])
                more = f" (+{len(words) - 8} more)" if len(words) > 8 else ""
                lines.append(f"  {category} words differ: {shown}{more}")
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


def compare(dump: Dump, model: str | None = None, *, settings: bool = False) -> Report:
    """Read every recorded address from the normal model and set it beside the recording.

    ``settings`` starts the model with the dump's recorded settings (``settings_from``), so
    the comparison measures the model's firmware behaviour rather than an owner's choices.
    """
    name = model or model_of(dump)
    device = _device(dump, name, settings)
    # A dump recorded through a WiNet-S is set beside the dongle's view (the "sungrow" port).
    inp, hold = device.view_blocks("winet" if dump.transport == "winet" else "lan")
    blocks: dict[Table, SungrowModbusDataBlock] = {"input": inp, "holding": hold}
    report = Report(dump.source, name, with_settings=settings)
    pairs = {table: _pairs(blocks[table].bank.map.rows[table]) for table in blocks}
    identity = IDENTITY | {a for served in inp.bank.map.rows["input"]
                           if any(v in served.row.name for v in _VERSION_ROWS)
                           for a in range(served.row.address, served.row.end)}
    setting_rows = setting_addresses(hold.bank.map)
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
        category = None
        if table == "holding":
            category = "settings" if address in setting_rows else "read-only holding"
        elif address in identity:
            category = "identity"
        elif recorded in SENTINELS and _unavailable(dump, table, address, pairs[table]):
            category = "sentinels"
        if category is not None:
            report.counted[category] += 1
            if ours != recorded:
                report.wrong[category].append((table, address, recorded, ours))
    return report


def _device(dump: Dump, name: str, settings: bool) -> Device:
    """The model's device for ``dump``: stand-alone, or the recorded member of its cluster."""
    from mock_sungrow.clock import ManualClock
    from mock_sungrow.installation.installation import Installation
    from mock_sungrow.installation.spec import InstallationSpec
    from mock_sungrow.plant.physics import Site

    # A unit recorded through its WiNet-S has that dongle plugged in (the dongle generation
    # whose firmware it reported at input 13265); one recorded on its LAN port has none.
    dongle = dump.transport == "winet"
    spec = InstallationSpec.from_kwargs(
        {"model": name, "unit_id": dump.unit, "settings_from": dump if settings else None,
         "battery_make": _battery_make(dump),
         **({"winet_profile": _dongle_profile(dump)} if dongle else {})},
        ("modbus", "sungrow") if dongle else ("modbus",), Site())
    member = _cluster_member(dump)
    if member is None:
        return Installation(spec, ManualClock(), SungrowModbusDataBlock).inverters[0]
    position, size = member
    recorded = spec.inverters[0]
    others = dataclasses.replace(recorded.plant, settings_from=None)
    members = tuple(
        dataclasses.replace(recorded, role="slave" if position else "master", ports={})
        if j == position else
        dataclasses.replace(recorded, plant=dataclasses.replace(others, seed=1000 + j),
                            role="slave" if j else "master", unit=None, ports={})
        for j in range(size))
    spec = dataclasses.replace(spec, inverters=members)
    return Installation(spec, ManualClock(), SungrowModbusDataBlock).inverters[position]


def _battery_make(dump: Dump) -> str:
    """``third-party`` where the recorder named a battery that is no Sungrow SBR."""
    named = (dump.battery or "").upper()
    return "third-party" if named and not named.startswith(("SBR", "SUNGROW")) else "sungrow"


def _dongle_profile(dump: Dump) -> str:
    """The WiNet-S profile whose firmware the dump's input 13265 names (else the default)."""
    from mock_sungrow.config import WINET_PROFILES, WinetConfig

    words = [dump.words.get(("input", a)) for a in range(MODULE_FIRMWARE, MODULE_FIRMWARE + 15)]
    text = b"".join((w or 0).to_bytes(2, "big") for w in words).rstrip(b"\0")
    found = [n for n in WINET_PROFILES if WinetConfig(profile=n).firmware.encode() == text]
    return found[0] if found else WINET_PROFILES[0]


def _cluster_member(dump: Dump) -> tuple[int, int] | None:
    """(position among the slaves, 0 for the master; cluster size) a dump says, if any."""
    words = [dump.words.get(("holding", CLUSTER_ADDRESS + i)) for i in range(3)]
    on, role, size = words
    if on != SWITCH_ON or role is None or size is None or not 2 <= size <= 16:
        return None
    position = role - CLUSTER_MASTER
    return (position, size) if 0 <= position < size else None


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
    """Print the report of each dump given (``--settings``: with each dump's own settings)."""
    args = list(sys.argv[1:] if argv is None else argv)
    settings = "--settings" in args
    paths = [a for a in args if a != "--settings"]
    if not paths:
        print("usage: python -m mock_sungrow.dumps.fidelity [--settings] DUMP [DUMP ...]",
              file=sys.stderr)
        return 2
    for path in paths:
        print(compare(load_dump(path), settings=settings).text())
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
