"""What the WiNet-S front end sees: its dongle and the devices behind it, never the server.

A :class:`WinetView` is built from the endpoint's
:class:`~mock_sungrow.frontends.base.Binding`: the dongle's settings and sessions (looked up on
every use: a firmware-profile fault and ``reset()`` replace them), the inverter it polls and the
battery behind it (looked up by their WiNet-S ``dev_id`` in the endpoint's device map, which a
reset rebuilds in place), the traffic its requests pass, and a Modbus application over the
same devices for the RTU passthrough.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mock_sungrow.frontends.modbus.app import ModbusApplication

if TYPE_CHECKING:
    from mock_sungrow.device.device import Device
    from mock_sungrow.diagnostics import Diagnostics
    from mock_sungrow.faults.traffic import Traffic
    from mock_sungrow.frontends.base import Binding
    from mock_sungrow.frontends.dongle import Dongle
    from mock_sungrow.frontends.winet.auth import SessionStore, WinetSettings

#: The dongle's logical ids: the inverter is device 1, its SBR battery device 2.
INVERTER_ID = 1
BATTERY_ID = 2


class WinetView:
    """The dongle of one inverter, its devices and the traffic of its requests."""

    def __init__(self, binding: Binding) -> None:
        self.binding = binding
        self.endpoint = binding.endpoint
        self.dongle: Dongle = binding.require_dongle()
        self.host = binding.host
        self.traffic: Traffic = binding.traffic
        self.diagnostics: Diagnostics = binding.diagnostics
        #: The RTU passthrough's Modbus application (the endpoint's devices, by unit).
        self.app = ModbusApplication(
            self.endpoint.devices, binding.diagnostics,
            unknown_unit=self.endpoint.inverter_spec.modbus.unknown_unit)
        #: The device last found for each ``dev_id`` (every request looks one up, some often).
        self._found: dict[int, Device] = {}

    @property
    def settings(self) -> WinetSettings:
        """The dongle's firmware settings now."""
        return self.dongle.settings

    @property
    def sessions(self) -> SessionStore:
        """The dongle's tokens and lockouts now."""
        return self.dongle.sessions

    def device(self, dev_id: int) -> Device | None:
        """The device the dongle lists as ``dev_id``."""
        devices = self.endpoint.devices
        found = self._found.get(dev_id)
        if found is not None and devices.get(found.unit) is found:
            return found  # still the endpoint's (a reset rebuilds the map with new devices)
        for device in devices.values():
            if device.logical_id == dev_id:
                self._found[dev_id] = device
                return device
        return None

    @property
    def inverter(self) -> Device:
        """The inverter the dongle polls."""
        device = self.device(INVERTER_ID)
        if device is None:  # pragma: no cover - every endpoint has its inverter
            raise RuntimeError(f"{self.endpoint.name} has no inverter")
        return device

    @property
    def battery(self) -> Device | None:
        """The SBR battery behind it, if it has one."""
        return self.device(BATTERY_ID)

    def devices(self) -> list[Device]:
        """Every device the dongle lists, by logical id."""
        return sorted(self.endpoint.devices.values(), key=lambda d: d.logical_id)

    def addressed(self, dev_id: int) -> Device | None:
        """The device a request's ``dev_id`` names (``None``: none behind this dongle).

        By its device-list id, else the inverter by its Modbus unit (some clients put the
        unit there, winet-protocol.md §4.1).
        """
        found = self.device(dev_id)
        if found is not None:
            return found
        inverter = self.inverter
        return inverter if dev_id == inverter.unit else None

    def locate(self, dev_id: int | None) -> tuple[int | None, str | None]:
        """The Modbus unit and serial of the device a request's ``dev_id`` names.

        A fault then matches a WiNet-S request by the same unit (200 for the battery) and
        device as the Modbus requests for that device. An unknown ``dev_id`` keeps its number
        and names no device; no ``dev_id`` names neither.
        """
        if dev_id is None:
            return None, None
        device = self.addressed(dev_id)
        if device is None:
            return dev_id, None
        return device.unit, device.serial
