"""The devices a simulated installation shows: the inverter and the battery behind it.

A WiNet-S dongle lists every device it can reach (``devicelist``) and serves each one's
readings (``real``); Modbus clients reach the same devices on their own unit ids. This module
describes them once, so every front end lists and reads them alike:

* :class:`DeviceInfo` is one device-list entry (what WiNet-S calls ``dev_id``, ``dev_code``,
  ``dev_type``, ``dev_model``, ``dev_sn``, ``phys_addr`` and ``logc_addr``) plus the
  :class:`SimulatedDevice` whose data blocks serve its registers.
* :func:`build_inverter` and :func:`build_battery` make them for a plant.
* :class:`BatteryReadings` is what an SBR battery reports about itself in engineering units
  (WiNet-S ``real`` on the battery's ``dev_id``; see :data:`BATTERY_REAL_FIELDS`).

Device type codes in a device list (winet-protocol.md §3.3): 21 string inverter, 35 hybrid
inverter, 44 SBR battery; the battery is logical device 2 and answers on Modbus unit 200 on
the inverter's own port (a WiNet-S forwards it as unit 2, SunGather/mkaiser notes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from mock_sungrow.device.bank import RegisterBank
from mock_sungrow.device.catalog import Table
from mock_sungrow.device.datablock import SungrowModbusDataBlock
from mock_sungrow.device.sbr import battery_map
from mock_sungrow.plant.snapshot import Mode, PlantSnapshot
from mock_sungrow.plant.state import PlantState

if TYPE_CHECKING:
    from mock_sungrow.device.registermap import RegisterMap
    from mock_sungrow.plant.battery import BatteryPack

#: WiNet-S ``dev_type`` values.
WINET_STRING_INVERTER = 21
WINET_HYBRID_INVERTER = 35
WINET_BATTERY = 44
#: The unit id an SBR battery answers on the inverter's LAN port.
DEFAULT_BATTERY_UNIT_ID = 200


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


@dataclass(frozen=True)
class DeviceInfo:
    """One device of the installation, as a device list shows it.

    ``logical_id`` is WiNet-S's ``dev_id`` / ``logc_addr`` (the inverter 1, the battery 2);
    ``unit_id`` its Modbus unit on the inverter's port (``phys_addr``); ``winet_dev_type``
    the device-list ``dev_type``; ``device_type_code`` the ``dev_code`` (input 5000 of an
    inverter, 10710 of an SBR).
    """

    kind: Literal["inverter", "battery"]
    logical_id: int
    unit_id: int
    model: str
    device_type_code: int
    winet_dev_type: int
    serial: str
    device: SimulatedDevice

    @property
    def name(self) -> str:
        """The device-list ``dev_name``: model, port and unit, e.g. ``SBR096(COM1-200)``."""
        return f"{self.model}(COM1-{self.unit_id:03d})"

    def device_list_entry(self) -> dict[str, Any]:
        """The device as one ``devicelist`` entry, shaped like the captured replies.

        Field names, types and the firmware's ``dev_procotol`` spelling follow the SH10RT +
        SBR capture in winet-protocol.md §3.3 (integers stay integers, ``phys_addr`` and
        ``logc_addr`` are strings); ``dev_procotol`` is 2 for inverters and 1 for batteries
        and ``init_status`` 1 and 255, as captured.
        """
        inverter = self.kind == "inverter"
        return {
            "id": self.logical_id,
            "dev_id": self.logical_id,
            "dev_code": self.device_type_code,
            "dev_type": self.winet_dev_type,
            "dev_procotol": 2 if inverter else 1,
            "inv_type": 0,
            "dev_sn": self.serial,
            "dev_name": self.name,
            "dev_model": self.model,
            "port_name": "COM1",
            "phys_addr": str(self.unit_id),
            "logc_addr": str(self.logical_id),
            "link_status": 1,
            "init_status": 1 if inverter else 255,
            "dev_special": "0",
            "list": [],
        }


@dataclass(frozen=True)
class BatteryReadings:
    """What the battery reports about itself at one instant (engineering units).

    ``current_a`` and ``power_w`` are positive while charging. ``status`` is ``"run"`` while
    current flows, ``"standby"`` otherwise.
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


#: How a WiNet-S ``real`` reply names a battery device's readings (winet-protocol.md §3.4,
#: "real on a battery device"): i18n key -> (:class:`BatteryReadings` attribute, unit).
#: The spellings are the firmware's own, typos included.
BATTERY_REAL_FIELDS: dict[str, tuple[str, str]] = {
    "I18N_COMMON_BATTERY_VOLTAGE": ("voltage_v", "V"),
    "I18N_COMMON_BATTERY_CURRENT": ("current_a", "A"),
    "I18N_COMMON_BATTERY_TEMPERATURE": ("temperature_c", "\u2103"),
    "I18N_COMMON_REMAIN_BATTERY_POWER": ("soc_pct", "%"),
    "I18N_COMMON_BATTARY_HEALTH": ("soh_pct", "%"),
    "I18N_COMMON_TOTAL_BATTERY_CHARGE": ("total_charge_kwh", "kWh"),
    "I18N_COMMON_TOTAL_BATTERY_DISCHARGE_BMS": ("total_discharge_kwh", "kWh"),
    "I18N_COMMON_BATTERY_OPERATION_STATUS": ("status", ""),
}


#: Status keys a battery's ``real`` reports (``run`` is captured; the others are assumed).
_STATUS_KEYS = {
    "run": "I18N_COMMON_STATUS_RUN",
    "standby": "I18N_COMMON_STATUS_STANDBY",
    "stopped": "I18N_COMMON_STATUS_STOP",
}


class BatteryDevice:
    """The SBR battery of a hybrid installation: its device-list entry and its readings."""

    def __init__(self, info: DeviceInfo, plant: PlantState) -> None:
        self.info = info
        self.plant = plant

    def readings(self) -> BatteryReadings:
        """The battery's readings now (the same instant every front end serves)."""
        return BatteryReadings.from_snapshot(self.plant.snapshot())

    @staticmethod
    def i18n_keys() -> set[str]:
        """Every i18n key :meth:`real_items` can emit (the properties file must have them)."""
        return set(BATTERY_REAL_FIELDS) | set(_STATUS_KEYS.values())

    def real_items(self) -> list[dict[str, str]]:
        """The battery's WiNet-S ``real`` list: ``data_name`` / ``data_value`` / ``data_unit``.

        Values are strings, as the firmware sends them (one decimal; the status as an i18n
        key: ``I18N_COMMON_STATUS_RUN`` is captured, the standby and stop keys are assumed).
        """
        readings = self.readings()
        items = []
        for name, (attr, unit) in BATTERY_REAL_FIELDS.items():
            value = getattr(readings, attr)
            text = (_STATUS_KEYS[value] if attr == "status" else f"{value:.1f}")
            items.append({"data_name": name, "data_value": text, "data_unit": unit})
        return items

    def __repr__(self) -> str:
        return f"<BatteryDevice {self.info.model} unit {self.info.unit_id}>"


def build_inverter(
    plant: PlantState,
    regmap: RegisterMap,
    datablock_class: type[SungrowModbusDataBlock],
    unit_id: int,
) -> DeviceInfo:
    """The inverter as a device: data blocks of ``datablock_class`` over its register bank."""
    bank = RegisterBank(plant, regmap)
    device = SimulatedDevice(
        name=plant.model.name,
        unit_ids=frozenset({unit_id}),
        input=datablock_class("input", bank),
        holding=datablock_class("holding", bank),
    )
    return DeviceInfo(
        kind="inverter",
        logical_id=1,
        unit_id=unit_id,
        model=plant.model.name,
        device_type_code=plant.model.device_type_code,
        winet_dev_type=WINET_HYBRID_INVERTER if plant.model.is_hybrid
        else WINET_STRING_INVERTER,
        serial=plant.serial,
        device=device,
    )


def build_battery(
    plant: PlantState,
    pack: BatteryPack,
    unit_id: int,
    datablock_class: type[SungrowModbusDataBlock],
) -> BatteryDevice:
    """The SBR tower as a Modbus device of its own (input registers 10710-10893)."""
    regmap = battery_map(pack.model, pack.device_type_code)
    bank = RegisterBank(plant, regmap)
    device = SimulatedDevice(
        name=pack.model,
        unit_ids=frozenset({unit_id}),
        input=datablock_class("input", bank),
        holding=datablock_class("holding", bank),
    )
    info = DeviceInfo(
        kind="battery",
        logical_id=2,
        unit_id=unit_id,
        model=pack.model,
        device_type_code=pack.device_type_code,
        winet_dev_type=WINET_BATTERY,
        serial=pack.serial,
        device=device,
    )
    return BatteryDevice(info, plant)


def build_devices(
    plant: PlantState,
    regmap: RegisterMap,
    datablock_class: type[SungrowModbusDataBlock],
    unit_id: int,
    battery_unit_id: int | None,
) -> tuple[DeviceInfo, BatteryDevice | None]:
    """A plant's inverter, and its SBR battery on ``battery_unit_id`` (if it has one)."""
    inverter = build_inverter(plant, regmap, datablock_class, unit_id)
    pack = plant.battery
    if pack is None or pack.kind != "sbr" or battery_unit_id is None:
        return inverter, None
    if battery_unit_id == unit_id:
        raise ValueError(
            f"the battery's unit id ({battery_unit_id}) must differ from the "
            "inverter's unit_id; pass another battery_unit_id (or None)"
        )
    return inverter, build_battery(plant, pack, battery_unit_id, datablock_class)
