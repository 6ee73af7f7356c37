"""The Python API of one device: its plant's snapshot and commands, its registers.

What a test calls to look inside a device and steer it: read words exactly as a client would
(through the data blocks, so a ``datablock_class`` override and pinned words apply), read a
catalogued register by name, pin words, move the plant's clock or state of charge.
:class:`~mock_sungrow.server.MockSungrowServer` offers it for its (first) inverter.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mock_sungrow.device.codec import decode_words

if TYPE_CHECKING:
    from mock_sungrow.device.catalog import InverterModel, Table
    from mock_sungrow.device.device import BatteryDevice, BatteryReadings, SimulatedDevice
    from mock_sungrow.device.registermap import RegisterMap
    from mock_sungrow.plant.snapshot import PlantSnapshot
    from mock_sungrow.plant.state import PlantState


class DeviceApi:
    """Reads, writes and plant commands on :attr:`device` and its :attr:`plant`."""

    model: InverterModel
    plant: PlantState
    device: SimulatedDevice
    register_map: RegisterMap
    battery: BatteryDevice | None

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
        return self.device.block(table).getValues(address, count)

    def write_registers(self, address: int, values: Sequence[int]) -> None:
        """Write holding registers exactly as a client would (validated, with effects)."""
        self.device.holding.setValues(address, list(values))

    def read(self, name: str, table: Table = "input") -> Any:
        """Read one catalogued register by name, decoded into engineering units."""
        row = self.register_map.by_name.get((table, name))
        if row is None:
            raise KeyError(f"{self.model.name} has no {table} register named {name!r}")
        return decode_words(row, self.read_registers(table, row.address, row.words))

    def set_register(self, table: Table, address: int, words: Sequence[int]) -> None:
        """Pin raw words into a table, overriding the plant, until :meth:`clear_registers`."""
        self.device.input.bank.pin(table, address, words)

    def clear_registers(self) -> None:
        """Drop every pinned word."""
        self.device.input.bank.unpin()

    def battery_readings(self) -> BatteryReadings:
        """The battery's own readings now (raises ``ValueError`` without a battery device)."""
        if self.battery is None:
            raise ValueError(f"this {self.model.name} has no battery device")
        return self.battery.readings()
