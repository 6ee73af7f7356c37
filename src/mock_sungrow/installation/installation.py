"""An installation: its plants and devices, and the endpoints each device answers on.

:class:`Installation` builds what an :class:`~mock_sungrow.installation.spec.InstallationSpec`
describes: one plant per inverter (the plants share one lock, so a fault's end and a request
cannot race past each other on any of them), the inverter as a
:class:`~mock_sungrow.device.device.Device`, its SBR battery as another, and the endpoints:

* an inverter's LAN port (``modbus``): the inverter on its unit (stand-alone or master 1,
  slaves 2, 3...), its battery on 200, and the inverters behind it when it is a data
  logger's port (``served_by``);
* its WiNet-S's Modbus port (``sungrow``) and web API (``http``): the same two devices (the
  dongle forwards them; the map is per endpoint, so a dongle's own view can differ later).

An :class:`Endpoint` is a kind, the port asked for and ``{unit: Device}``: what a front end is
built for. :meth:`Installation.build` rebuilds the plants and devices (a server's ``reset()``)
into the same endpoint maps, so a front end holding one serves the new devices at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mock_sungrow.device.catalog import load_catalog
from mock_sungrow.device.datablock import SungrowModbusDataBlock
from mock_sungrow.device.device import Device, build_battery, build_inverter
from mock_sungrow.device.registermap import RegisterMap
from mock_sungrow.device.writes import initial_settings
from mock_sungrow.dumps.settings import apply_settings
from mock_sungrow.endpoints import DEVICE_FRONT_ENDS, DONGLE_FRONT_ENDS, WINET_EXTRA_PORTS
from mock_sungrow.installation.spec import InstallationError, InstallationSpec, InverterSpec
from mock_sungrow.plant.state import PlantState

if TYPE_CHECKING:
    from collections.abc import Callable

    from mock_sungrow.clock import Clock


@dataclass
class Endpoint:
    """One front-end instance: its kind, the port asked for, the devices it reaches by unit.

    ``inverter`` is the index (0-based) of the inverter it belongs to; ``devices`` is updated
    in place when the installation is rebuilt; ``extra_ports`` are a WiNet-S's plain HTTP and
    TLS listeners (``http`` endpoints only).
    """

    kind: str
    port: int
    inverter: int | None = None
    spec: InverterSpec | None = None
    devices: dict[int, Device] = field(default_factory=dict)
    extra_ports: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """``inverter[1].modbus`` (or ``control``): how messages name it."""
        return self.kind if self.inverter is None else f"inverter[{self.inverter + 1}].{self.kind}"

    @property
    def inverter_spec(self) -> InverterSpec:
        """The spec of the inverter the endpoint belongs to."""
        if self.spec is None:
            raise RuntimeError(f"{self.name} belongs to no inverter")
        return self.spec

    def by_logical_id(self, dev_id: int) -> Device | None:
        """The device a WiNet-S lists as ``dev_id`` (1 the inverter, 2 its battery)."""
        return next((d for d in self.devices.values() if d.logical_id == dev_id), None)


class Installation:
    """The plants, devices and endpoints of an :class:`InstallationSpec`."""

    def __init__(
        self,
        spec: InstallationSpec,
        clock: Clock,
        datablock_class: type[SungrowModbusDataBlock] = SungrowModbusDataBlock,
        *,
        on_plant: Callable[[PlantState], None] | None = None,
    ) -> None:
        spec.check()
        self.spec = spec
        self.clock = clock
        self.datablock_class = datablock_class
        #: One lock for every plant of the installation (and the fault set's expiry).
        self.lock = threading.RLock()
        self._on_plant = on_plant
        self.endpoints: list[Endpoint] = []
        for index, inv in enumerate(spec.inverters):
            for kind in DEVICE_FRONT_ENDS:
                if kind in inv.ports:
                    extra = ({k: inv.ports[k] for k in WINET_EXTRA_PORTS if k in inv.ports}
                             if kind == "http" else {})
                    self.endpoints.append(Endpoint(kind, inv.ports[kind], index, inv,
                                                   extra_ports=extra))
        self.inverters: list[Device] = []
        self.build()

    def build(self) -> None:
        """(Re)build every plant and device; the endpoints keep their maps, with new devices.

        Raises :class:`InstallationError` naming the inverter whose plant cannot be built,
        or two devices that would share a serial.
        """
        catalog = load_catalog()
        inverters: list[Device] = []
        units = self.spec.units()
        clusters = self.spec.cluster()
        problems: list[str] = []
        for i, inv in enumerate(self.spec.inverters):
            pc = inv.plant
            model = catalog.model(pc.model)
            dongle = inv.winet.firmware if DONGLE_FRONT_ENDS.intersection(inv.ports) else None
            regmap = RegisterMap.for_model(model.name, dongle=dongle)
            try:
                plant = PlantState(
                    model, self.clock, site=self.spec.site, seed=pc.seed, tick=pc.tick,
                    serial=pc.serial, cloud_factor=pc.cloud_factor, has_meter=pc.meter,
                    battery_kwh=pc.battery_kwh, battery_make=pc.battery_make,
                    house_load=pc.house_load,
                    settings=initial_settings(model, regmap.holding_defaults()), lock=self.lock,
                )
            except ValueError as exc:
                raise InstallationError(f"inverter[{i + 1}]: {exc}") from None
            if self._on_plant is not None:
                self._on_plant(plant)
            inverter = build_inverter(plant, regmap, self.datablock_class, units[i],
                                      role=inv.role, index=i + 1, cluster=clusters[i],
                                      dongle_view=inv.winet.modbus_rules)
            if pc.settings_from is not None:
                problems += apply_settings(inverter.bank, pc.settings_from, f"inverter[{i + 1}]")
            if inv.battery_unit is not None:
                build_battery(inverter, inv.battery_unit, self.datablock_class)
            inverters.append(inverter)
        self._check_serials(inverters)
        self.inverters = inverters
        #: Recorded settings (``settings_from``) the devices did not take, one line each
        #: (each was also a :class:`~mock_sungrow.dumps.settings.RecordedSettingWarning`).
        self.settings_problems = problems
        for endpoint in self.endpoints:
            if endpoint.inverter is None:
                continue
            members = [inverters[endpoint.inverter]]
            if endpoint.kind == "modbus":  # a data logger's port: the inverters behind it
                members += [inverters[i] for i, inv in enumerate(self.spec.inverters)
                            if inv.served_by == endpoint.inverter]
            devices: dict[int, Device] = {}
            for inverter in members:
                devices[inverter.unit] = inverter
                if inverter.battery is not None:
                    devices[inverter.battery.unit] = inverter.battery
            # Key by key, never emptied: a request on the loop meanwhile finds either device.
            endpoint.devices.update(devices)
            for unit in set(endpoint.devices) - set(devices):
                del endpoint.devices[unit]

    @staticmethod
    def _check_serials(inverters: list[Device]) -> None:
        seen: dict[str, Device] = {}
        for device in (d for inv in inverters for d in (inv, inv.battery) if d is not None):
            other = seen.setdefault(device.serial, device)
            if other is not device:
                raise InstallationError(
                    f"{device.id} and {other.id} would both have serial {device.serial!r}: "
                    f"give inverter[{device.index}] a serial (or a seed) of its own")

    # ------------------------------------------------------------------------------ lookups

    @property
    def devices(self) -> list[Device]:
        """Every device: each inverter, followed by its battery."""
        return [d for inv in self.inverters for d in (inv, inv.battery) if d is not None]

    @property
    def plants(self) -> list[PlantState]:
        """One plant per inverter, in order."""
        return [inv.plant for inv in self.inverters]

    def find(self, selector: str | int) -> Device:
        """The device named by ``selector``: its id (``"inverter[2]"``), serial, or unit.

        A unit must name one device (two hybrids both have a battery on 200); raises
        :class:`LookupError` saying which devices exist.
        """
        devices = self.devices
        if isinstance(selector, int) and not isinstance(selector, bool):
            found = [d for d in devices if d.unit == selector]
        else:
            text = str(selector)
            found = [d for d in devices if text in (d.id, d.serial)]
            if not found and text.isascii() and text.isdigit():  # not '¹': int() refuses it
                found = [d for d in devices if d.unit == int(text)]
        if len(found) == 1:
            return found[0]
        known = ", ".join(f"{d.id} (unit {d.unit}, serial {d.serial})" for d in devices)
        if found:
            raise LookupError(f"{len(found)} devices answer unit {selector}: name one by its id "
                              f"or serial; devices: {known}")
        raise LookupError(f"no device {selector!r}; devices: {known}")

    def plant_for(self, unit: int | None, device: str | None = None) -> PlantState:
        """The plant behind a fault's match: its device (serial), its unit, or the first's."""
        for d in self.devices:
            if (device is not None and d.serial == device) or (
                    device is None and unit is not None and d.unit == unit):
                return d.plant
        return self.inverters[0].plant

    def endpoint(self, kind: str, inverter: int = 0) -> Endpoint | None:
        """The endpoint of ``kind`` of the ``inverter``-th inverter (0-based), if served."""
        return next((e for e in self.endpoints if e.kind == kind and e.inverter == inverter),
                    None)

    def endpoints_of(self, device: Device) -> list[Endpoint]:
        """The endpoints a device answers on."""
        return [e for e in self.endpoints if device in e.devices.values()]
