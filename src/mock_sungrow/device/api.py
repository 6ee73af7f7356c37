"""The Python API of one device: its plant's snapshot and commands, its registers, its faults.

What a test calls to look inside a device and steer it: read words exactly as a client would
(through the data blocks, so a ``datablock_class`` override and pinned words apply), read a
catalogued register by name, write and pin words, move the plant's clock or state of charge,
inject a fault that matches this device only. :class:`~mock_sungrow.device.device.Device` is a
``DeviceApi``; :class:`~mock_sungrow.server.MockSungrowServer` offers the same methods for its
first inverter.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mock_sungrow.device.codec import decode_words
from mock_sungrow.device.writes import START_VALUE, STOP_VALUE, start_stop_address

if TYPE_CHECKING:
    from mock_sungrow.device.bank import RegisterBank
    from mock_sungrow.device.catalog import Table
    from mock_sungrow.device.datablock import SungrowModbusDataBlock
    from mock_sungrow.device.registermap import RegisterMap
    from mock_sungrow.faults.spec import Fault
    from mock_sungrow.plant.snapshot import PlantSnapshot
    from mock_sungrow.plant.state import PlantState

#: How a device injects a fault: ``injector(device, spec, **fields)`` (the server sets it).
Injector = Callable[..., "Fault"]


class DeviceApi:
    """Reads, writes, plant commands and faults of one device."""

    plant: PlantState
    map: RegisterMap
    bank: RegisterBank
    unit: int
    serial: str
    kind: str
    #: Set by the server the device belongs to (a device on its own cannot inject).
    injector: Injector | None = None

    def block(self, table: Table) -> SungrowModbusDataBlock:
        """The data block serving ``table``."""
        raise NotImplementedError

    def snapshot(self) -> PlantSnapshot:
        """What the plant measures right now (the same instant every front end serves)."""
        return self.plant.snapshot()  # a plant fault whose duration is over has ended by then

    def set_clock(self, when: datetime) -> None:
        """Set the inverter's own clock (what holding 5000-5005 read)."""
        self.plant.set_clock(when)

    def set_battery_soc(self, soc_pct: float) -> None:
        """Put the battery at a state of charge (percent), as if it had got there by itself."""
        self.plant.set_battery_soc(soc_pct)

    def read_registers(self, table: Table, address: int, count: int = 1) -> list[int]:
        """Read words exactly as a client would, by *documented* register number."""
        return self.block(table).getValues(address, count)

    def write_registers(self, address: int, values: Sequence[int]) -> None:
        """Write holding registers exactly as a client would (validated, with effects)."""
        self.block("holding").setValues(address, list(values))

    def read(self, name: str, table: Table = "input") -> Any:
        """Read one catalogued register by name, decoded into engineering units."""
        row = self.map.by_name.get((table, name))
        if row is None:
            raise KeyError(self._unknown_register(name, table))
        return decode_words(row, self.read_registers(table, row.address, row.words))

    def _unknown_register(self, name: str, table: Table) -> str:
        """The error for a register name this device does not serve, with suggestions.

        A typo (``daily_yeild``) gets the closest names of the same table; a name served in
        the other table says so (``read(name, "holding")``).
        """
        names = [n for (t, n) in self.map.by_name if t == table]
        message = f"{self.map.name} has no {table} register named {name!r}"
        other: Table = "holding" if table == "input" else "input"
        if (other, name) in self.map.by_name:
            return f"{message}; it is a {other} register: read({name!r}, {other!r})"
        close = difflib.get_close_matches(name, names, n=3)
        if close:
            message += f". Did you mean {' or '.join(repr(c) for c in close)}?"
        return message + " (mock-sungrow registers MODEL lists them)"

    def set_register(self, table: Table, address: int, words: Sequence[int]) -> None:
        """Pin raw words into a table, overriding the plant, until :meth:`clear_registers`."""
        self.bank.pin(table, address, words)

    def clear_registers(self) -> None:
        """Drop every word pinned on this device."""
        self.bank.unpin()

    def start(self) -> None:
        """Write the start command to the start/stop register, as a client would."""
        self.write_registers(start_stop_address(self.map.model), [START_VALUE])

    def stop(self) -> None:
        """Write the stop command to the start/stop register, as a client would."""
        self.write_registers(start_stop_address(self.map.model), [STOP_VALUE])

    def inject(self, spec: Mapping[str, Any] | str | Fault | None = None, /,
               **kwargs: Any) -> Fault:
        """Inject a fault that matches this device: its ``unit`` (and serial) are added.

        Takes what :meth:`MockSungrowServer.inject` takes; a ``unit`` or ``device`` given
        explicitly wins.
        """
        if self.injector is None:
            raise RuntimeError(f"{self!r} belongs to no server: nothing to inject into")
        return self.injector(self, spec, **kwargs)
