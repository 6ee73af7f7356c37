"""A model's register map: what it serves, how values encode, which writes it accepts.

The map is generated from the catalogue (``registers.csv``) and the holding-register limits
(``holding.csv``, :mod:`mock_sungrow.device.limits`); values are encoded by
:mod:`mock_sungrow.device.codec`; it is immutable and cached per model, so a hundred servers of one
model share one map. Addresses here are always *documented* register numbers; the wire address a
Modbus client sends is one less, and only the Modbus codec knows that.

Reading follows the protocol's own rules (spec §B.7):

* a row the model has answers its value (or the type's "unavailable" sentinel when the plant
  has no such quantity, such as MPPT 3 on a two-tracker model);
* reserved addresses between rows answer the filler (0xFFFF) as long as the read touches a
  documented block (rows at most :data:`BLOCK_GAP` registers apart, and the gaps between them);
* a read touching no block raises :class:`~mock_sungrow.errors.ModbusError` with code 2.
"""


from __future__ import annotations

import bisect
import functools
import itertools
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mock_sungrow.device.catalog import (
    TABLES,
    CatalogError,
    InverterModel,
    RegisterDef,
    Table,
    load_catalog,
)
from mock_sungrow.device.codec import encode_value, sentinel_words
from mock_sungrow.device.family import TableRules, View, rules_for
from mock_sungrow.device.limits import holding_limits
from mock_sungrow.device.reads import (
    INPUT,
    INPUT_BY_ADDRESS,
    MODULE_FIRMWARE,
    Projector,
    clock_word,
    const,
)

if TYPE_CHECKING:
    from mock_sungrow.plant.snapshot import PlantSnapshot
    from mock_sungrow.plant.state import PlantState

#: Value a register between documented rows reads (a real SG3.0RS answers 0xFFFF there).
FILLER = 0xFFFF
#: Size of a table image: documented addresses 1..65536 (index 0 is never read).
IMAGE_SIZE = 65537
#: Rows closer than this many registers form one documented *block*; reserved addresses
#: inside a block answer the filler even when read alone (a real SG3.0RS answers holding
#: 5009-5019 with 0xFFFF), while a read outside every block is refused with exception 2.
BLOCK_GAP = 32


@dataclass(frozen=True, slots=True)
class ServedRow:
    """A row as one model serves it: with a real value (``live``) or as a sentinel."""

    row: RegisterDef
    live: bool


class RegisterMap:
    """The registers one device serves, in both tables. Build it with :meth:`for_model`.

    By default the rows are the inverter catalogue's rows for ``model``; a device that is not
    an inverter (the SBR battery) passes its own ``rows`` and ``projectors``. Values are
    produced lazily, row by row, as reads touch them (:meth:`fill`): a snapshot's image is
    never built whole, so a read costs what it reads, not what the device could serve.
    """

    def __init__(
        self,
        model: InverterModel,
        *,
        rows: Sequence[RegisterDef] | None = None,
        projectors: Mapping[str, Projector] | None = None,
        address_projectors: Mapping[int, Projector] | None = None,
        view: View = "lan",
        dongle: str | None = None,
    ) -> None:
        self.model = model
        self.view = view
        #: The firmware of the WiNet-S plugged into the inverter (``None``: none is), which
        #: the inverter reports at input 13265: the SH10RT recorded without a dongle reads
        #: the string empty, the SH10RT-20 its WiNet-S's WINET-SV200.001.00.P040.
        self.dongle = dongle
        self.projectors: Mapping[str, Projector] = INPUT if projectors is None else projectors
        if dongle is not None:
            self.projectors = {**self.projectors, MODULE_FIRMWARE: const(dongle)}
        by_address = INPUT_BY_ADDRESS if address_projectors is None else address_projectors
        self.rows: dict[Table, tuple[ServedRow, ...]] = {}
        self._prefix: dict[Table, array[int]] = {}
        self._templates: dict[Table, array[int]] = {}
        self._segments: dict[Table, _Segments] = {}
        self._offsets: dict[Table, tuple[int, ...]] = {}
        self._live: dict[Table, tuple[RegisterDef, ...]] = {}
        self._ends: dict[Table, list[int]] = {}
        self._input_projectors: tuple[Projector, ...] = ()
        self._refused: dict[Table, array[int]] = {}
        #: Per table, start addresses whose first read on a connection fails once (the
        #: dongle view's ``retry`` rules; the front end keeps the per-connection state).
        self.first_try: dict[Table, frozenset[int]] = {}
        self.by_name: dict[tuple[Table, str], RegisterDef] = {}
        for table in TABLES:
            rules = TableRules()
            if rows is None:
                rules = rules_for(model.name, table, view)
                served = self._catalogue_rows(model, table, rules)
            else:
                served = sorted(
                    (ServedRow(r, True) for r in rows if r.table == table),
                    key=lambda s: s.row.address,
                )
            self.rows[table] = tuple(served)
            defined = bytearray(IMAGE_SIZE)
            template = array("H", [FILLER]) * IMAGE_SIZE
            previous_end: int | None = None
            for s in served:
                start = s.row.address
                if previous_end is not None and 0 < start - previous_end <= BLOCK_GAP:
                    start = previous_end  # bridge the reserved gap inside a block
                defined[start : s.row.end] = b"\1" * (s.row.end - start)
                previous_end = max(previous_end or 0, s.row.end)
                if not s.live:
                    template[s.row.address : s.row.end] = array("H", sentinel_words(s.row))
                if s.live and s.row.matches(model.name):
                    self.by_name.setdefault((table, s.row.name), s.row)
            for s in served:  # rows a family rule serves name a value after the model's own
                if s.live:
                    self.by_name.setdefault((table, s.row.name), s.row)
            _apply_rules(rules, served, defined, template)
            self.first_try[table] = frozenset(rules.first_try)
            if rules.refused:
                refused = bytearray(IMAGE_SIZE)
                for a in rules.refused:
                    refused[a] = 1
                self._refused[table] = array("I", itertools.accumulate(refused, initial=0))
            self._prefix[table] = array("I", itertools.accumulate(defined, initial=0))
            segments = _Segments(defined)
            self._segments[table] = segments
            self._templates[table] = segments.compact(template)
            live = tuple(s.row for s in served if s.live)
            self._live[table] = live
            self._offsets[table] = tuple(segments.index(r.address) for r in live)
            self._ends[table] = [r.end for r in live]
            if table == "input":
                missing = [r.name for r in live
                           if r.address not in by_address and r.name not in self.projectors]
                if missing:
                    raise CatalogError(f"{model.name}: no projection for {sorted(missing)}")
                self._input_projectors = tuple(
                    by_address.get(r.address) or self.projectors[r.name] for r in live
                )
        self.holding_limits = holding_limits(
            model, [s.row for s in self.rows["holding"] if s.live]
        )
        self._holding_rows = {
            addr: s.row for s in self.rows["holding"] if s.live
            for addr in range(s.row.address, s.row.end)
        }

    @staticmethod
    def _catalogue_rows(model: InverterModel, table: Table, rules: TableRules
                        ) -> list[ServedRow]:
        catalog = load_catalog()
        own = [r for r in catalog.registers if r.table == table and r.matches(model.name)]
        # Where two rows share an address (5004 is kWh on SG, 0.1 kWh on SH) the model's
        # own row wins; a row for the other family never shadows it.
        occupied: set[int] = set()
        for r in own:
            occupied.update(range(r.address, r.end))
        # A family rule serves a catalogue row live where the model's own rows leave room.
        promoted = [r for r in catalog.registers
                    if r.table == table and r.address in rules.live and not r.matches(model.name)
                    and not occupied.intersection(range(r.address, r.end))]
        for r in promoted:
            occupied.update(range(r.address, r.end))
        others = [r for r in catalog.registers
                  if r.table == table and not r.matches(model.name) and r not in promoted
                  and model.family in catalog.row_families(r)
                  and not occupied.intersection(range(r.address, r.end))]
        served = [ServedRow(r, True) for r in own + promoted] + [
            # a sentinel row gives way to an answer band's recorded fill
            ServedRow(r, False) for r in others
            if not any(a in rules.fill for a in range(r.address, r.end))]
        # Words and refusals of a family rule replace whatever rows lie there.
        served = [s for s in served
                  if not any(a in rules.refused or a in rules.constant
                             for a in range(s.row.address, s.row.end))]
        served.sort(key=lambda s: s.row.address)
        return served

    @staticmethod
    def for_model(name: str, view: View = "lan", dongle: str | None = None) -> RegisterMap:
        """The (cached, shared) map of the named model, as ``view`` serves it.

        ``dongle`` is the firmware of the inverter's WiNet-S (``None``: it has none).
        """
        return _map_for(name, view, dongle)

    @property
    def name(self) -> str:
        """The device's model name (for messages)."""
        return self.model.name

    def holding_row(self, address: int) -> RegisterDef | None:
        """The live holding row covering documented ``address`` (``None``: no such row)."""
        return self._holding_rows.get(address)

    def holding_defaults(self) -> dict[int, int]:
        """The holding-register words a freshly built inverter reads (``holding.csv``)."""
        return {
            addr: lim.default for addr, lim in self.holding_limits.items()
            if lim.default is not None
        }

    def touches_defined(self, table: Table, address: int, count: int) -> bool:
        """Whether ``[address, address + count)`` touches a documented block of the model.

        A read touching an address a family rule refuses is refused whole, as real units
        refuse a block read that covers one (the recorders fell back to single addresses).
        """
        prefix = self._prefix[table]
        lo, hi = address, address + count
        if address < 0 or hi > IMAGE_SIZE:
            lo, hi = max(0, min(address, IMAGE_SIZE)), max(0, min(hi, IMAGE_SIZE))
        refused = self._refused.get(table)
        if refused is not None and refused[hi] > refused[lo]:
            return False
        return prefix[hi] > prefix[lo]

    def new_image(self, table: Table) -> array[int]:
        """A device's image of ``table``: the constant words (fillers and sentinels) at first.

        Only the documented blocks are stored, end to end (a few hundred words per table
        rather than 65 536), so ten thousand devices of a model fit in memory; :meth:`words`
        reads a span of it by documented address.
        """
        return array("H", self._templates[table])

    def words(self, table: Table, image: array[int], lo: int, hi: int) -> list[int]:
        """Words ``lo .. hi - 1`` (documented numbers) of a device's ``image`` of ``table``.

        A read inside one block (every client's normal read) is one slice; anything else is
        assembled block by block, with the filler between them.
        """
        return self._segments[table].read(image, lo, hi)

    def row_count(self, table: Table) -> int:
        """How many rows of ``table`` carry live values (the size of a stamp array)."""
        return len(self._live[table])

    def fill(  # noqa: PLR0917 - the hot path of every read; keywords would cost time
        self,
        table: Table,
        image: array[int],
        stamps: array[int],
        serial: int,
        lo: int,
        hi: int,
        snap: PlantSnapshot,
        plant: PlantState,
        holding: Mapping[int, int],
    ) -> None:
        """Encode into ``image`` every live row overlapping ``[lo, hi)`` not yet at ``serial``.

        ``stamps[i]`` records which snapshot serial row ``i`` was last encoded for, so rows
        are encoded once per snapshot and only when a read touches them. Input rows are
        projected from the plant; holding rows read the device's ``holding`` memory, except
        the clock, which is the plant's.
        """
        live = self._live[table]
        offsets = self._offsets[table]
        i = bisect.bisect_right(self._ends[table], lo)
        n = len(live)
        if table == "input":
            projectors = self._input_projectors
            while i < n:
                row = live[i]
                if row.address >= hi:
                    break
                if stamps[i] != serial:
                    value = projectors[i](snap, plant)
                    at = offsets[i]
                    image[at : at + row.end - row.address] = array("H", encode_value(row, value))
                    stamps[i] = serial
                i += 1
            return
        local = snap.local
        while i < n:
            row = live[i]
            addr = row.address
            if addr >= hi:
                break
            if stamps[i] != serial:
                if 5000 <= addr <= 5005:
                    image[offsets[i]] = clock_word(local, addr)
                else:
                    image[offsets[i]] = holding.get(addr, FILLER) & 0xFFFF
                stamps[i] = serial
            i += 1


class _Segments:
    """Where the documented blocks of a table lie, and where each sits in a compact image.

    A compact image stores the blocks (maximal runs of documented addresses, reserved gaps
    inside a block included) one after another; everything outside them reads the filler.
    """

    __slots__ = ("ends", "offsets", "starts")

    def __init__(self, defined: bytearray) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.offsets: list[int] = []
        size = 0
        address = defined.find(1)
        while address >= 0:
            end = defined.find(0, address)
            end = len(defined) if end < 0 else end
            self.starts.append(address)
            self.ends.append(end)
            self.offsets.append(size)
            size += end - address
            address = defined.find(1, end)

    def compact(self, full: array[int]) -> array[int]:
        """The blocks of a full-size image, end to end."""
        out = array("H")
        for start, end in zip(self.starts, self.ends, strict=True):
            out.extend(full[start:end])
        return out

    def index(self, address: int) -> int:
        """Where documented ``address`` (inside a block) sits in a compact image."""
        i = bisect.bisect_right(self.starts, address) - 1
        if i < 0 or address >= self.ends[i]:
            raise ValueError(f"address {address} lies in no block")
        return self.offsets[i] + address - self.starts[i]

    def read(self, image: array[int], lo: int, hi: int) -> list[int]:
        """Words ``lo .. hi - 1`` of a compact image (the filler outside the blocks)."""
        starts = self.starts
        i = bisect.bisect_right(starts, lo) - 1
        if i >= 0 and hi <= self.ends[i]:
            at = self.offsets[i] + lo - starts[i]
            return image[at : at + hi - lo].tolist()
        out = [FILLER] * (hi - lo)
        j = max(i, 0)
        while j < len(starts) and starts[j] < hi:
            start, end = max(starts[j], lo), min(self.ends[j], hi)
            if start < end:
                at = self.offsets[j] + start - starts[j]
                out[start - lo : end - lo] = image[at : at + end - start].tolist()
            j += 1
        return out


def _apply_rules(rules: TableRules, served: Sequence[ServedRow], defined: bytearray,
                 template: array[int]) -> None:
    """Answer bands and constant words where no live row is; refused addresses undefined."""
    if not (rules.fill or rules.refused):
        return
    live = {a for s in served if s.live for a in range(s.row.address, s.row.end)}
    for address, word in rules.fill.items():
        if address not in live:
            defined[address] = 1
            template[address] = word
    for address in rules.refused:
        defined[address] = 0


@functools.lru_cache(maxsize=256)
def _map_for(name: str, view: View = "lan", dongle: str | None = None) -> RegisterMap:
    return RegisterMap(load_catalog().model(name), view=view, dongle=dongle)
