"""The server's Python API into its devices (the first inverter's, on the server itself).

The installation's devices, and the first inverter's reads, writes and plant, for the tests
that have one inverter. A mixin of :class:`~mock_sungrow.server.MockSungrowServer` (which
owns the lifecycle and the faults): every method here is a device's own
(:class:`~mock_sungrow.device.device.Device`), reached through the installation, so the
server holds no register or plant logic of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

    from mock_sungrow.device.catalog import InverterModel, Table
    from mock_sungrow.device.device import BatteryReadings, Device
    from mock_sungrow.device.registermap import RegisterMap
    from mock_sungrow.installation.installation import Installation
    from mock_sungrow.plant.snapshot import PlantSnapshot
    from mock_sungrow.plant.state import PlantState


class DeviceAccess:
    """The installation's devices, and the first inverter's API on the server itself."""

    installation: Installation

    @property
    def inverters(self) -> list[Device]:
        """The installation's inverters, in order (each with its ``battery``, if any)."""
        return list(self.installation.inverters)

    @property
    def devices(self) -> list[Device]:
        """Every device, each inverter followed by its battery (a WiNet-S device list's order).

        Each carries the device-list fields (``kind``, ``logical_id``, ``unit_id``, ``model``,
        ``device_type_code``, ``winet_dev_type``, ``serial``), its data blocks and its own
        Python API (:class:`~mock_sungrow.device.device.Device`).
        """
        return self.installation.devices

    def find_device(self, selector: str | int) -> Device:
        """A device by id (``"inverter[2]"``, ``"battery[1]"``), serial or (unique) unit."""
        return self.installation.find(selector)

    @property
    def device(self) -> Device:
        """The first inverter (whose data blocks serve the server's register methods)."""
        return self.installation.inverters[0]

    @property
    def plant(self) -> PlantState:
        """The first inverter's plant."""
        return self.device.plant

    @property
    def battery(self) -> Device | None:
        """The first inverter's SBR battery device, if it has one."""
        return self.device.battery

    @property
    def model(self) -> InverterModel:
        """The first inverter's model."""
        return self.device.catalog_model

    @property
    def register_map(self) -> RegisterMap:
        """The first inverter's register map."""
        return self.device.map

    @property
    def unit_id(self) -> int:
        """The first inverter's Modbus unit."""
        return self.device.unit

    # The first inverter's Python API (see Device for the same on every device).

    def snapshot(self) -> PlantSnapshot:
        """What the first inverter's plant measures right now."""
        return self.device.snapshot()

    def set_clock(self, when: datetime) -> None:
        """Set the first inverter's own clock (what holding 5000-5005 read)."""
        self.device.set_clock(when)

    def set_battery_soc(self, soc_pct: float) -> None:
        """Put the first inverter's battery at a state of charge (percent)."""
        self.device.set_battery_soc(soc_pct)

    def read_registers(self, table: Table, address: int, count: int = 1) -> list[int]:
        """Read the first inverter's words exactly as a client would (documented numbers)."""
        return self.device.read_registers(table, address, count)

    def write_registers(self, address: int, values: Sequence[int]) -> None:
        """Write the first inverter's holding registers as a client would."""
        self.device.write_registers(address, values)

    def read(self, name: str, table: Table = "input") -> Any:
        """Read one of the first inverter's catalogued registers, decoded."""
        return self.device.read(name, table)

    def set_register(self, table: Table, address: int, words: Sequence[int]) -> None:
        """Pin raw words into the first inverter's table until :meth:`clear_registers`."""
        self.device.set_register(table, address, words)

    def clear_registers(self) -> None:
        """Drop every word pinned on the first inverter."""
        self.device.clear_registers()

    def battery_readings(self) -> BatteryReadings:
        """The first inverter's battery's readings (``ValueError`` without a battery device)."""
        return self.device.readings()
