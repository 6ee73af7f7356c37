"""A device of an installation: an inverter or its battery, with its registers and its plant.

A :class:`Device` is what answers on a Modbus unit and what a WiNet-S dongle lists: its kind,
model, register map, data blocks (the user's ``datablock_class``), identity (serial, device
type code, the dongle's logical id), its plant (an inverter owns one; a battery shares its
inverter's) and its role in a cluster. Every front end reaches a device's registers through its
data blocks only, so a ``datablock_class`` override, a pinned word or a write shows alike on the
LAN port, the dongle's Modbus port and the WiNet-S API.

The Python API a test uses on one device (read words or a named register, pin words, look at
the plant, inject a fault that matches this device) is :class:`DeviceApi`, which a device is.

Device type codes in a WiNet-S device list (winet-protocol.md §3.3): 21 string inverter, 35
hybrid inverter, 44 SBR battery; the battery is logical device 2 and answers on Modbus unit 200
on the inverter's own port (a WiNet-S forwards it as unit 2, SunGather/mkaiser notes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from mock_sungrow.device.api import DeviceApi
from mock_sungrow.device.bank import RegisterBank
from mock_sungrow.device.catalog import Table
from mock_sungrow.device.datablock import SungrowModbusDataBlock
from mock_sungrow.device.family import View, has_view_rules
from mock_sungrow.device.registermap import RegisterMap
from mock_sungrow.device.sbr import battery_map
from mock_sungrow.device.writes import SWITCH_OFF, SWITCH_ON
from mock_sungrow.plant.snapshot import Mode, PlantSnapshot
from mock_sungrow.plant.state import PlantState

if TYPE_CHECKING:
    from mock_sungrow.device.catalog import InverterModel

Kind = Literal["inverter", "battery"]
Role = Literal["standalone", "master", "slave"]
ROLES: tuple[Role, ...] = ("standalone", "master", "slave")

#: WiNet-S ``dev_type`` values.
WINET_STRING_INVERTER = 21
WINET_HYBRID_INVERTER = 35
WINET_BATTERY = 44
#: The unit id an SBR battery answers on the inverter's LAN port.
DEFAULT_BATTERY_UNIT_ID = 200
#: The cluster words (holding 33500-33502, ``registers_recorded.csv``).
CLUSTER_ADDRESS = 33500
CLUSTER_MASTER = 0xA0


def cluster_words(role: Role, position: int, size: int) -> dict[int, int]:
    """Holding 33500-33502 of an inverter: what the recorded SH8.0RT-20 master holds.

    A cluster member reads 0xAA, then 0xA0 on the master and 0xA1, 0xA2... on the slaves (by
    ``position``, 1 for the first slave), then ``size``, the number of inverters in the
    cluster (the recording: 0xAA, 0xA0, 2). A stand-alone inverter reads 0x55 ("off", the
    protocol's switch word), 0xA0 and 1: no stand-alone unit was recorded, so that is an
    assumption.
    """
    if role == "standalone":
        return {CLUSTER_ADDRESS: SWITCH_OFF, CLUSTER_ADDRESS + 1: CLUSTER_MASTER,
                CLUSTER_ADDRESS + 2: 1}
    code = CLUSTER_MASTER if role == "master" else CLUSTER_MASTER + position
    return {CLUSTER_ADDRESS: SWITCH_ON, CLUSTER_ADDRESS + 1: code, CLUSTER_ADDRESS + 2: size}


@dataclass(frozen=True)
class BatteryReadings:
    """What the battery reports about itself at one instant (engineering units).

    ``current_a`` and ``power_w`` are positive while charging. ``status`` is ``"run"`` while
    current flows, ``"standby"`` otherwise, ``"stopped"`` while the inverter is stopped.
    """

    voltage_v: float
    current_a: float
    power_w: float
    temperature_c: float
    soc_pct: float
    soh_pct: float
    total_charge_kwh: float
    total_discharge_kwh: float
    daily_charge_kwh: float
    daily_discharge_kwh: float
    max_charge_current_a: float
    max_discharge_current_a: float
    status: Literal["run", "standby", "stopped"]

    @classmethod
    def from_snapshot(cls, snap: PlantSnapshot) -> BatteryReadings:
        """The battery's readings within a plant snapshot."""
        if snap.mode in (Mode.STOP, Mode.EMERGENCY_STOP):
            status: Literal["run", "standby", "stopped"] = "stopped"
        else:
            status = "run" if abs(snap.battery_current_a) >= 0.1 else "standby"
        return cls(
            voltage_v=snap.battery_voltage_v,
            current_a=snap.battery_current_a,
            power_w=snap.battery_power_w,
            temperature_c=snap.battery_temperature_c,
            soc_pct=snap.battery_soc_pct,
            soh_pct=snap.battery_soh_pct,
            total_charge_kwh=snap.total_charge_kwh,
            total_discharge_kwh=snap.total_discharge_kwh,
            daily_charge_kwh=snap.daily_charge_kwh,
            daily_discharge_kwh=snap.daily_discharge_kwh,
            max_charge_current_a=snap.battery_charge_limit_a,
            max_discharge_current_a=snap.battery_discharge_limit_a,
            status=status,
        )


class Device(DeviceApi):
    """One device: an inverter or the battery behind it.

    ``unit`` is the Modbus unit it answers on its inverter's LAN port (``unit_id`` is the
    same, the device-list name); ``logical_id`` the WiNet-S ``dev_id`` (1 the inverter, 2 its
    battery); ``index`` the inverter's position in the installation (1 = the first), which
    ``id`` (``"inverter[1]"``, ``"battery[1]"``) names it by. ``role`` is an inverter's place
    in a cluster (``None`` for a battery). ``input`` and ``holding`` are the data blocks.
    """

    def __init__(
        self,
        kind: Kind,
        bank: RegisterBank,
        datablock_class: type[SungrowModbusDataBlock],
        *,
        unit: int,
        serial: str,
        logical_id: int,
        winet_dev_type: int,
        role: Role | None,
        index: int,
        dongle_view: View = "winet",
    ) -> None:
        self.kind: Kind = kind
        self.bank = bank
        self.map: RegisterMap = bank.map
        self.plant: PlantState = bank.plant
        self.input = datablock_class("input", bank)
        self.holding = datablock_class("holding", bank)
        self._datablock_class = datablock_class
        self._views: dict[View, tuple[SungrowModbusDataBlock, SungrowModbusDataBlock]] = {
            "lan": (self.input, self.holding)}
        self.unit = unit
        self.serial = serial
        self.logical_id = logical_id
        self.winet_dev_type = winet_dev_type
        self.role: Role | None = role
        self.index = index
        #: The family rules the dongle's port serves this device with (``winet``, or a
        #: legacy-generation dongle's ``winet-legacy``).
        self.dongle_view: View = dongle_view
        #: The inverter's battery (an inverter), or the inverter it belongs to (a battery).
        self.battery: Device | None = None
        self.inverter: Device | None = None
        #: Whether a block overrides an ``async_`` method (forcing the slower async path).
        self.is_async = any(
            type(b).async_getValues is not SungrowModbusDataBlock.async_getValues
            or type(b).async_setValues is not SungrowModbusDataBlock.async_setValues
            for b in (self.input, self.holding)
        )
        #: Whether both blocks are the stock class (no read method overridden): their words
        #: are then the bank's, a function of the plant's snapshot and the bank's version.
        self.stock_blocks = all(
            type(b).getValues is SungrowModbusDataBlock.getValues
            and type(b).async_getValues is SungrowModbusDataBlock.async_getValues
            for b in (self.input, self.holding)
        )

    @property
    def id(self) -> str:
        """How messages and the control API name the device: ``inverter[1]``, ``battery[2]``."""
        return f"{self.kind}[{self.index}]"

    @property
    def model(self) -> str:
        """The model name (an inverter's catalogue name, a battery's ``SBR096``...)."""
        return self.map.name

    @property
    def catalog_model(self) -> InverterModel:
        """The model's catalogue record (a battery's is a pseudo-model of its own map)."""
        return self.map.model

    @property
    def unit_id(self) -> int:
        """Same as :attr:`unit` (the name the device list has always used)."""
        return self.unit

    @property
    def device_type_code(self) -> int:
        """Input 5000 of an inverter, 10710 of an SBR: the device-list ``dev_code``."""
        return self.map.model.device_type_code

    @property
    def device(self) -> Device:
        """The device itself (a device list entry used to carry its blocks here)."""
        return self

    def block(self, table: Table) -> SungrowModbusDataBlock:
        """The data block serving ``table``."""
        return self.input if table == "input" else self.holding

    def view_blocks(self, view: View) -> tuple[SungrowModbusDataBlock, SungrowModbusDataBlock]:
        """The (input, holding) blocks as the ``view`` port serves them.

        The WiNet-S dongle's Modbus port (``winet``) answers with its own refusals and zeros
        (``data/family_rules.csv``'s ``winet`` rules): its blocks read a map of that view over
        the same plant, holding memory and pins, so a write or a pin shows on both ports. A
        model no ``winet`` rule reaches is served by its LAN blocks.
        """
        found = self._views.get(view)
        if found is None:
            found = self._views["lan"]
            rules: View = self.dongle_view if view == "winet" else view
            if self.kind == "inverter" and has_view_rules(self.map.name, rules):
                bank = RegisterBank(self.plant, RegisterMap.for_model(self.map.name, rules,
                                                                 self.map.dongle),
                                    self.bank.holding)
                bank.share_memory(self.bank)
                found = (self._datablock_class("input", bank),
                         self._datablock_class("holding", bank))
            self._views[view] = found
        return found

    def readings(self) -> BatteryReadings:
        """The battery's readings now (a battery's own, or an inverter's battery's)."""
        battery = self if self.kind == "battery" else self.battery
        if battery is None:
            raise ValueError(f"this {self.model} has no battery device")
        return BatteryReadings.from_snapshot(self.plant.snapshot())

    def __repr__(self) -> str:
        return f"<Device {self.id} {self.model} unit {self.unit} serial {self.serial}>"


def build_inverter(
    plant: PlantState,
    regmap: RegisterMap,
    datablock_class: type[SungrowModbusDataBlock],
    unit: int,
    *,
    role: Role = "standalone",
    index: int = 1,
    cluster: tuple[int, int] = (0, 1),
    dongle_view: View = "winet",
) -> Device:
    """An inverter: its holding memory (defaults, cluster words), its blocks, its identity.

    ``cluster`` is (position among the slaves, number of inverters in the cluster);
    ``dongle_view`` the family rules its WiNet-S's Modbus port follows.
    """
    holding = regmap.holding_defaults()
    pack = plant.battery
    if pack is not None and pack.kind == "lv":
        # SH*K: the low-voltage battery's nominal voltage and capacity are settings.
        holding[13056] = round(pack.nominal_voltage_v * 10)
        holding[13057] = round(pack.capacity_ah)
    if regmap.holding_row(CLUSTER_ADDRESS) is not None:
        holding.update(cluster_words(role, *cluster))
    model = regmap.model
    return Device(
        "inverter", RegisterBank(plant, regmap, holding), datablock_class, unit=unit,
        serial=plant.serial, logical_id=1,
        winet_dev_type=WINET_HYBRID_INVERTER if model.is_hybrid else WINET_STRING_INVERTER,
        role=role, index=index, dongle_view=dongle_view,
    )


def build_battery(
    inverter: Device, unit: int, datablock_class: type[SungrowModbusDataBlock]
) -> Device | None:
    """The inverter's SBR tower as a device of its own (input registers 10710-10893).

    ``None`` when the inverter has no battery, or one that is not an SBR (a 48 V or high-voltage
    pack answers through the inverter only).
    """
    pack = inverter.plant.battery
    if pack is None or pack.kind != "sbr":
        return None
    if unit == inverter.unit:
        raise ValueError(
            f"the battery's unit id ({unit}) must differ from the inverter's unit ({unit}); "
            "pass another battery unit (or none)"
        )
    regmap = battery_map(pack.model, pack.device_type_code)
    battery = Device(
        "battery", RegisterBank(inverter.plant, regmap, {}), datablock_class, unit=unit,
        serial=pack.serial, logical_id=2, winet_dev_type=WINET_BATTERY, role=None,
        index=inverter.index,
    )
    battery.inverter = inverter
    inverter.battery = battery
    return battery
