"""Register access for one simulated device, and the user-facing extension point.

:class:`RegisterBank` projects the plant onto a :class:`~mock_sungrow.registermap.RegisterMap`
(one table image per plant snapshot, so a read is a slice) and turns writes into plant changes.

:class:`SungrowModbusDataBlock` is what every front end calls: plain Modbus, encrypted Modbus
and the WiNet-S register API alike. It keeps the names and meaning of the pymodbus (<= 3.12)
data-block methods the original mock's README taught users to override::

    class FaultyModbusDataBlock(SungrowModbusDataBlock):
        def getValues(self, address, count=1):
            if address == 5009:
                return [42]
            return super().getValues(address, count)

    MockSungrowServer(datablock_class=FaultyModbusDataBlock)

``address`` is the **documented** register number, exactly what pymodbus <= 3.12 passed to a
data block (it added one to the wire address): a client that sends wire address 5008 reaches
``getValues(5009, ...)``. Raise :class:`~mock_sungrow.errors.ModbusError` to answer with a
Modbus exception. pymodbus 3.13 and later no longer call such overrides at all, which is why
this project owns the idiom instead of borrowing it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mock_sungrow.catalog import Table
from mock_sungrow.errors import ExceptionCode, ModbusError
from mock_sungrow.plant import PlantState
from mock_sungrow.registermap import IMAGE_SIZE, RegisterMap


class _TableState:
    """One table's image and which snapshot each of its live rows was encoded for."""

    __slots__ = ("filled", "image", "serial", "snap", "stamps")

    def __init__(self, regmap: RegisterMap, table: Table) -> None:
        self.image = regmap.new_image(table)
        self.stamps = [0] * regmap.row_count(table)
        self.serial = 0
        self.snap: object = None
        #: Spans already brought up to date for the current snapshot: a client polling the
        #: same block (or several clients) skips the per-row walk after the first read.
        self.filled: set[tuple[int, int]] = set()


class RegisterBank:
    """The registers of one device at the plant's current instant.

    Reads are on every request's path, so a table keeps one image whose rows are encoded
    lazily: a read encodes the rows it touches that are not yet encoded for the current
    snapshot, then slices. A day of minute-by-minute reads therefore costs what the client
    reads, not the whole register map per minute.
    """

    def __init__(self, plant: PlantState, regmap: RegisterMap) -> None:
        self.plant = plant
        self.map = regmap
        self._tables: dict[Table, _TableState] = {
            "input": _TableState(regmap, "input"), "holding": _TableState(regmap, "holding"),
        }
        self._pins: dict[Table, dict[int, int]] = {"input": {}, "holding": {}}

    def read(self, table: Table, address: int, count: int) -> list[int]:
        """Words ``address .. address + count - 1`` (documented numbers) of ``table``.

        Raises :class:`ModbusError` 2 when the span leaves the address space or touches no
        documented block of the model (and no pinned word).
        """
        end = address + count
        served = self.map.touches_defined(table, address, count) or self._pinned(
            table, address, end
        )
        if address < 1 or end > IMAGE_SIZE or not served:
            raise ModbusError(
                ExceptionCode.ILLEGAL_ADDRESS,
                f"no {table} register of {self.map.name} in {address}..{end - 1}",
            )
        state = self._tables[table]
        with self.plant.lock:
            snap = self.plant.snapshot()
            if state.snap is not snap:
                state.snap = snap
                state.serial += 1
                state.filled.clear()
            span = (address, end)
            if span not in state.filled:
                self.map.fill(table, state.image, state.stamps, state.serial, address, end,
                              snap, self.plant)
                state.filled.add(span)
            words = state.image[address:end].tolist()
        pins = self._pins[table]
        if pins:
            for addr, word in pins.items():
                if address <= addr < end:
                    words[addr - address] = word
        return words

    def _pinned(self, table: Table, address: int, end: int) -> bool:
        pins = self._pins[table]
        return bool(pins) and any(address <= a < end for a in pins)

    def write(self, address: int, values: Sequence[int]) -> None:
        """A client's holding-register write: validated in full, then applied atomically."""
        with self.plant.lock:
            checked = self.map.validate_write(address, values, self.plant.local_time())
            self.plant.write_holding(checked)

    def pin(self, table: Table, address: int, words: Sequence[int]) -> None:
        """Force words into a table, whatever the plant says, until :meth:`unpin`."""
        for offset, word in enumerate(words):
            if not 0 <= word <= 0xFFFF:
                raise ValueError(f"register words are 0..65535; got {word!r}")
            if not 1 <= address + offset < IMAGE_SIZE:
                raise ValueError(f"address {address + offset} is outside 1..65536")
        with self.plant.lock:
            for offset, word in enumerate(words):
                self._pins[table][address + offset] = word

    def unpin(self) -> None:
        """Drop every pinned word, in both tables."""
        with self.plant.lock:
            for pins in self._pins.values():
                pins.clear()


class SungrowModbusDataBlock:
    """One register table (``"input"`` or ``"holding"``) of one simulated device.

    Subclass it and override :meth:`getValues` / :meth:`setValues` (or their ``async_``
    variants, to add latency) to change what every front end answers. The server builds one
    instance per table with the class you pass as ``datablock_class``.
    """

    def __init__(self, table: Table, bank: RegisterBank) -> None:
        self.table: Table = table
        self.bank = bank

    @property
    def plant(self) -> PlantState:
        """The plant behind these registers."""
        return self.bank.plant

    def validate(self, address: int, count: int = 1) -> bool:
        """Whether a read of ``count`` registers at ``address`` would return values."""
        return self.bank.map.touches_defined(self.table, address, count)

    def getValues(self, address: int, count: int = 1) -> list[int]:
        """Return ``count`` words starting at documented register ``address``."""
        return self.bank.read(self.table, address, count)

    def setValues(self, address: int, values: Sequence[int]) -> None:
        """Apply a client's write of ``values`` starting at documented register ``address``."""
        if self.table != "holding":
            raise ModbusError(ExceptionCode.ILLEGAL_ADDRESS, "input registers are read-only")
        self.bank.write(address, values)

    async def async_getValues(self, address: int, count: int = 1) -> list[int]:
        """Async form of :meth:`getValues`; override it to delay an answer."""
        return self.getValues(address, count)

    async def async_setValues(self, address: int, values: Sequence[int]) -> None:
        """Async form of :meth:`setValues`."""
        self.setValues(address, values)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.table!r}, model={self.bank.map.name!r})"


@dataclass(frozen=True)
class SimulatedDevice:
    """A Modbus device behind the server: its unit ids and its two register tables."""

    name: str
    unit_ids: frozenset[int]
    input: SungrowModbusDataBlock
    holding: SungrowModbusDataBlock

    def block(self, table: Table) -> SungrowModbusDataBlock:
        """The data block serving ``table``."""
        return self.input if table == "input" else self.holding

    @property
    def is_async(self) -> bool:
        """Whether a block overrides an ``async_`` method, forcing the slower async path."""
        return any(
            type(b).async_getValues is not SungrowModbusDataBlock.async_getValues
            or type(b).async_setValues is not SungrowModbusDataBlock.async_setValues
            for b in (self.input, self.holding)
        )
