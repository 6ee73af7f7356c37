"""Register access for one simulated device, and the user-facing extension point.

The registers themselves are a :class:`~mock_sungrow.device.bank.RegisterBank`.
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
from typing import ClassVar

from mock_sungrow.device.bank import RegisterBank
from mock_sungrow.device.catalog import Table
from mock_sungrow.errors import ExceptionCode, ModbusError
from mock_sungrow.plant.state import PlantState


class SungrowModbusDataBlock:
    """One register table (``"input"`` or ``"holding"``) of one simulated device.

    Subclass it and override :meth:`getValues` / :meth:`setValues` (or their ``async_``
    variants, to add latency) to change what every front end answers. The server builds one
    instance per table with the class you pass as ``datablock_class``.
    """

    #: Whether the map's ``retry`` rules (a dongle failing a connection's first read once)
    #: apply to reads of this block; a replayed recording carries its own first tries.
    follows_retry_rules: ClassVar[bool] = True

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
