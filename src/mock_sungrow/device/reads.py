"""What each catalogued register reads, as a function of the plant.

One entry per register *name* in ``registers.csv``: a function from a snapshot (and the plant,
for settings and identity) to a value in the row's engineering unit, which
:mod:`mock_sungrow.device.registermap` then scales and encodes. ``None`` means "not available" and
becomes the type's sentinel (0xFFFF, 0x7FFF, ...). Names shared by string and hybrid rows
(``load_power``, ``export_power``, ...) denote the same physical quantity, so one entry serves
both; where the row's scale differs (total yield is kWh on SG, 0.1 kWh on SH) the encoder
applies the row's own scale.

The inverter's state words (work states, running state, power-flow bits) are encoded in
:mod:`mock_sungrow.device.states`; the SBR battery's own registers are in
:mod:`mock_sungrow.device.sbr`.

Constants are plausible values from the protocol documents and public captures; where nothing
was documented the choice is marked so.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from mock_sungrow.device.codec import Value
from mock_sungrow.device.states import power_flow_bits, running_state, work_state_1, work_state_2

if TYPE_CHECKING:
    from mock_sungrow.plant.battery import BatteryPack
    from mock_sungrow.plant.snapshot import PlantSnapshot
    from mock_sungrow.plant.state import PlantState

Projector = Callable[["PlantSnapshot", "PlantState"], Value]

# Firmware identification strings. The hybrids' are what every recorded SH*RT* unit reports
# (../shared/dumps: SH10RT, SH10RT-20, SH8.0RT-20, input 4954 and 4969); the string
# inverters' follow the shape SunGather and the HA YAML print, their exact texts invented.
_FW_STRING = {
    "string": ("SAPPHIRE-S_01011.01.21", "MCU_SAPPHIRE-S_01011.01.19"),
    "hybrid": ("ARM_SAPPHIRE-H_V11_V01_B", "MDSP_SAPPHIRE-H_V11_V01_B"),
}
#: input 4952: 0x01010700 means V1.1.7 (major, minor, patch bytes). The hybrids' protocol
#: number and version are the recorded units' own (input 4950-4953 = 0x3000 0x4142 0x1100
#: 0x0100 in every SH*RT* dump, LAN port and WiNet-S alike); the string inverters' are
#: SGproto's.
_PROTOCOL_NUMBER = {"string": 0x00000001, "hybrid": 0x41423000}
_PROTOCOL_VERSION = {"string": 0x01013500, "hybrid": 0x01001100}
#: input 5114 country code by the site's time-zone region (SGproto B.5); 16 = other 50 Hz.
_COUNTRY_BY_TZ = {
    "Australia/Perth": 20,
    "Europe/London": 0,
    "Europe/Berlin": 1,
    "Europe/Paris": 2,
    "Europe/Rome": 3,
    "Europe/Madrid": 4,
    "Europe/Vienna": 5,
    "Europe/Prague": 7,
    "Europe/Brussels": 8,
    "Europe/Copenhagen": 9,
    "Europe/Athens": 10,
    "Europe/Amsterdam": 12,
    "Europe/Lisbon": 13,
    "Asia/Shanghai": 14,
    "Europe/Stockholm": 15,
    "Europe/Bucharest": 17,
    "Asia/Bangkok": 18,
    "Europe/Istanbul": 19,
}


def country_code(timezone: str) -> int:
    """The inverter's country setting implied by where the plant stands."""
    if timezone in _COUNTRY_BY_TZ:
        return _COUNTRY_BY_TZ[timezone]
    if timezone.startswith("Australia/"):
        return 6
    if timezone.startswith("America/"):
        return 61 if not timezone.startswith("America/Toronto") else 60
    return 16


def _item(index: int, attr: str) -> Projector:
    """Element ``index`` of a per-phase or per-tracker tuple; absent ones are unavailable."""

    def get(s: PlantSnapshot, p: PlantState) -> Value:
        values: tuple[float, ...] = getattr(s, attr)
        return values[index] if index < len(values) else None

    return get


def _meter(fn: Callable[[PlantSnapshot], float]) -> Projector:
    """A value only a connected smart meter provides (0x7FFFFFFF without one)."""

    def get(s: PlantSnapshot, p: PlantState) -> Value:
        return fn(s) if p.has_meter else None

    return get


def _string_current(index: int) -> Projector:
    def get(s: PlantSnapshot, p: PlantState) -> Value:
        per_mppt = p.strings_per_mppt
        mppt = index // per_mppt
        if mppt >= len(s.mppt_current_a):
            return 0.0
        return s.mppt_current_a[mppt] / per_mppt

    return get


def _self_consumption(s: PlantSnapshot, p: PlantState) -> Value:
    """Input 13029: the share of today's PV energy used on site (not exported)."""
    if s.daily_pv_kwh <= 0:
        return 100.0
    return min(100.0, max(0.0, 100.0 * (1.0 - s.daily_export_pv_kwh / s.daily_pv_kwh)))


def _meter_item(attr: str, index: int) -> Projector:
    """One meter phase's power or current (a single-phase meter reads 0 on B and C)."""

    def get(s: PlantSnapshot, p: PlantState) -> Value:
        if not p.has_meter:
            return None
        values: tuple[float, ...] = getattr(s, attr)
        return values[index] if index < len(values) else 0.0

    return get


def _meter_phase(index: int) -> Projector:
    return _meter_item("meter_phase_power_w", index)


def _meter_current(index: int) -> Projector:
    return _meter_item("meter_phase_current_a", index)


def _fault_word(name: str) -> Projector:
    """A hybrid fault word (input 13050-13078): 0 when healthy, bits set by plant faults."""

    def get(s: PlantSnapshot, p: PlantState) -> Value:
        return p.fault_words.get(name, 0)

    return get


def _inverter_alarm(s: PlantSnapshot, p: PlantState) -> Value:
    """Input 13050: bit 30 "meter communication alarm" while a hybrid has no meter."""
    return 0 if p.has_meter or not p.model.is_hybrid else 1 << 30


def _family(p: PlantState) -> str:
    return p.model.family


def _output_type(p: PlantState) -> int:
    if p.model.phases == 1:
        return 0
    return 2 if p.model.rated_power_w >= 50_000 else 1


def _voltage(index: int) -> Projector:
    """Phase voltage, or line voltage on a three-wire (3P3L) output."""

    def get(s: PlantSnapshot, p: PlantState) -> Value:
        if index >= len(s.phase_voltage_v):
            return None
        v = s.phase_voltage_v[index]
        return v * 3**0.5 if _output_type(p) == 2 else v

    return get


def _history(kind: str, period: str) -> Projector:
    def get(s: PlantSnapshot, p: PlantState) -> Value:
        return p.history(kind, period)

    return get


#: The yearly arrays (U32*20 at input 6250, 6429, 6608, 6787) are a fixed calendar, not the
#: last twenty years: the SH8.0RT-20 recorded in January 2024 holds 2023 at entry 8 and 2024
#: at entry 9 (entry 0 is 2015), zeros in the later years' entries 10-14, and 0xFFFF in
#: entries 15-19 (alexanderlanin's three LAN dumps agree). Its firmware keeps fifteen years.
YEARLY_FIRST_YEAR = 2015
YEARLY_KEPT = 15


def _yearly(kind: str) -> Projector:
    """A yearly array as the firmware lays it out, from the plant's last twenty years."""

    def get(s: PlantSnapshot, p: PlantState) -> Value:
        years = p.history(kind, "years")  # the last len(years) calendar years, this one last
        first = s.local.year - len(years) + 1
        kept: list[float | int | None] = []
        for entry in range(YEARLY_KEPT):
            k = YEARLY_FIRST_YEAR + entry - first
            kept.append(years[k] if 0 <= k < len(years) else 0)
        return kept + [None] * (len(years) - YEARLY_KEPT)  # None: the 0xFFFF entries

    return get


def _bcu_firmware(s: PlantSnapshot, p: PlantState) -> Value:
    """An SBR's BCU firmware (the SH10RT-20's SBR096); a third-party pack reports none."""
    return "SBRBCU-S_22011.01.27" if p.battery is not None and p.battery.kind == "sbr" else ""


#: The catalogue name of input 13265, the communication module's firmware string.
MODULE_FIRMWARE = "communication_module_firmware_version"


def const(value: Value) -> Projector:
    """A register that always reads ``value``."""

    def get(s: PlantSnapshot, p: PlantState) -> Value:
        return value

    return get


def _battery(fn: Callable[[PlantSnapshot, PlantState], Value]) -> Projector:
    """A battery quantity: available only while a battery is connected."""

    def get(s: PlantSnapshot, p: PlantState) -> Value:
        return fn(s, p) if p.battery is not None else None

    return get


def _cycles(s: PlantSnapshot, p: PlantState) -> float:
    """Equivalent full cycles the battery has done (charge plus discharge over twice capacity)."""
    return (s.total_charge_kwh + s.total_discharge_kwh) / (2.0 * p.battery_kwh)


def battery_pack(p: PlantState) -> BatteryPack:
    """The plant's battery pack (a battery quantity is read only when there is one)."""
    if p.battery is None:  # a battery device exists only with a battery
        raise RuntimeError("no battery")
    return p.battery


def _cell_mv(s: PlantSnapshot, p: PlantState, spread_mv: float) -> float:
    """A cell voltage (mV): the pack average, offset by a cell-to-cell spread."""
    return s.battery_voltage_v / battery_pack(p).cells * 1000.0 + spread_mv


def clock_word(local: datetime, address: int) -> int:
    """Holding 5000-5005: the plant's local year, month, day, hour, minute or second."""
    return (local.year, local.month, local.day, local.hour, local.minute,
            local.second)[address - 5000]


def fault_time_field(plant: PlantState, index: int) -> int:
    """Year, month, day, hour, minute or second of the last fault (0 when healthy)."""
    ft = plant.fault_time
    if ft is None:
        return 0
    return (ft.year, ft.month, ft.day, ft.hour, ft.minute, ft.second)[index]


INPUT: dict[str, Projector] = {
    # input 2582 and 2597 as the recorded SH10RT and SH10RT-20 report them (../shared/dumps)
    "firmware_version_1": const("SAPPHIRE-H_01011.95.12"),
    "firmware_version_2": const("SAPPHIRE-H_03011.95.12"),
    "firmware_version_3_subcontroller": const("SLAVE_SAPPHIRE-H_03011.10.02"),
    "firmware_version_4_battery": const("SBR_V15_V01_A"),
    # Not documented beyond "protocol number"; hybrids mark it reserved since V1.1.7.
    "protocol_number": lambda s, p: _PROTOCOL_NUMBER[_family(p)],
    "protocol_version": lambda s, p: _PROTOCOL_VERSION[_family(p)],
    "arm_software_version": lambda s, p: _FW_STRING[_family(p)][0],
    "dsp_software_version": lambda s, p: _FW_STRING[_family(p)][1],
    "serial_number": lambda s, p: p.serial,
    "device_type_code": lambda s, p: p.model.device_type_code,
    "nominal_active_power": lambda s, p: p.model.rated_power_w / 1000.0,
    "output_type": lambda s, p: _output_type(p),
    "daily_power_yields": lambda s, p: s.daily_yield_kwh,
    "total_power_yields": lambda s, p: s.total_yield_kwh,
    "total_running_time": lambda s, p: s.total_running_hours,
    "internal_temperature": lambda s, p: s.internal_temperature_c,
    "total_apparent_power": lambda s, p: s.apparent_power_va,
    "total_dc_power": lambda s, p: s.dc_power_w,
    "phase_a_voltage": _voltage(0),
    "phase_b_voltage": _voltage(1),
    "phase_c_voltage": _voltage(2),
    "phase_a_current": _item(0, "phase_current_a"),
    "phase_b_current": _item(1, "phase_current_a"),
    "phase_c_current": _item(2, "phase_current_a"),
    "total_active_power": lambda s, p: s.active_power_w,
    "total_reactive_power": lambda s, p: s.reactive_power_var,
    "power_factor": lambda s, p: s.power_factor,
    "grid_frequency": lambda s, p: s.frequency_hz,
    "work_state_1": lambda s, p: work_state_1(s),
    # Fault time and code are valid only in Fault / Alarm run; healthy inverters read 0.
    "fault_time_year": lambda s, p: fault_time_field(p, 0),
    "fault_time_month": lambda s, p: fault_time_field(p, 1),
    "fault_time_day": lambda s, p: fault_time_field(p, 2),
    "fault_time_hour": lambda s, p: fault_time_field(p, 3),
    "fault_time_minute": lambda s, p: fault_time_field(p, 4),
    "fault_time_second": lambda s, p: fault_time_field(p, 5),
    "fault_code_1": lambda s, p: p.fault_code,
    "nominal_reactive_power": lambda s, p: p.model.rated_power_w * 0.6 / 1000.0,
    "array_insulation_resistance": lambda s, p: 1200 + p.seed % 400,
    "active_power_regulation_setpoint": lambda s, p: p.power_limit_w(),
    "reactive_power_regulation_setpoint": const(0),
    "work_state_2": lambda s, p: work_state_2(s),
    "meter_power": _meter(lambda s: s.grid_power_w),
    "meter_a_phase_power": _meter_phase(0),
    "meter_b_phase_power": _meter_phase(1),
    "meter_c_phase_power": _meter_phase(2),
    "load_power": _meter(lambda s: s.load_power_w),
    "daily_export_energy": _meter(lambda s: s.daily_export_kwh),
    "total_export_energy": _meter(lambda s: s.total_export_kwh),
    "daily_import_energy": _meter(lambda s: s.daily_import_kwh),
    "total_import_energy": _meter(lambda s: s.total_import_kwh),
    "daily_direct_energy_consumption": _meter(lambda s: s.daily_direct_kwh),
    "total_direct_energy_consumption": _meter(lambda s: s.total_direct_kwh),
    "daily_running_time": lambda s, p: s.daily_running_minutes,
    "present_country": lambda s, p: country_code(p.site.timezone),
    "monthly_power_yields": lambda s, p: s.monthly_yield_kwh,
    "yearly_power_yields": lambda s, p: p.history("pv", "years")[-1],
    "arm_software_version_rs": lambda s, p: _FW_STRING[_family(p)][0],
    "dsp_software_version_rs": lambda s, p: _FW_STRING[_family(p)][1],
    "work_status_1_xinjiang": const(0),
    "work_status_2_xinjiang": const(0),
    "heart_beat": lambda s, p: int(s.time) % 65536,
    "total_power_yields_high_precision": lambda s, p: s.total_yield_kwh,
    "negative_voltage_to_ground": lambda s, p: -s.bus_voltage_v / 2.0,
    "bus_voltage": lambda s, p: s.bus_voltage_v,
    "grid_frequency_high_precision": lambda s, p: s.frequency_hz,
    "pid_work_state": const(0),
    "pid_alarm_code": const(0),
    # 5214 is the signed battery power (+ charging), recommended over the unsigned 13022.
    "battery_power": _battery(lambda s, p: s.battery_power_w),
    "export_power": _meter(lambda s: -s.grid_power_w),  # > 0 exporting, < 0 importing
    "power_meter": _meter(lambda s: s.grid_power_w),
    "meter_active_power": _meter(lambda s: s.grid_power_w),
    "meter_phase_a_active_power": _meter_phase(0),
    "meter_phase_b_active_power": _meter_phase(1),
    "meter_phase_c_active_power": _meter_phase(2),
    "export_limit_min": const(0.0),
    "export_limit_max": lambda s, p: p.model.rated_power_w / 1000.0,
    "bdc_rated_power": lambda s, p: p.bdc_rated_w / 1000.0,
    # Two rows share this name: 5631 (S16, signed, + charging) and 13021 (U16: a magnitude,
    # as old firmware sends it; the U16 encoder would clip a negative value to 0).
    "battery_current": _battery(lambda s, p: s.battery_current_a),
    "bms_max_charging_current": _battery(lambda s, p: s.battery_charge_limit_a),
    "bms_max_discharging_current": _battery(lambda s, p: s.battery_discharge_limit_a),
    "battery_capacity_high_precision": _battery(lambda s, p: p.battery_kwh),
    "backup_phase_a_current": const(0.0),
    "backup_phase_b_current": const(0.0),
    "backup_phase_c_current": const(0.0),
    "backup_phase_a_power": const(0),
    "backup_phase_b_power": const(0),
    "backup_phase_c_power": const(0),
    "total_backup_power": const(0),
    "backup_phase_a_voltage": _item(0, "phase_voltage_v"),
    "backup_phase_b_voltage": _item(1, "phase_voltage_v"),
    "backup_phase_c_voltage": _item(2, "phase_voltage_v"),
    "backup_frequency": lambda s, p: s.frequency_hz,
    "meter_phase_a_voltage": _meter(lambda s: s.phase_voltage_v[0]),
    "meter_phase_b_voltage": _meter(lambda s: s.phase_voltage_v[min(1, s.phases - 1)]),
    "meter_phase_c_voltage": _meter(lambda s: s.phase_voltage_v[s.phases - 1]),
    "meter_phase_a_current": _meter_current(0),
    "meter_phase_b_current": _meter_current(1),
    "meter_phase_c_current": _meter_current(2),
    "pv_power_of_today": _history("pv", "today"),
    "daily_pv_energy_yields": _history("pv", "days"),
    "monthly_pv_energy_yields": _history("pv", "months"),
    "yearly_pv_energy_yields": _yearly("pv"),
    "direct_power_consumption_today_pv": _history("direct", "today"),
    "daily_direct_energy_consumption_pv": _history("direct", "days"),
    "monthly_direct_energy_consumption_pv": _history("direct", "months"),
    "yearly_direct_energy_consumption_pv": _yearly("direct"),
    "export_power_from_pv_today": _history("export", "today"),
    "daily_export_energy_from_pv": _history("export", "days"),
    "monthly_export_energy_from_pv": _history("export", "months"),
    "yearly_export_energy_from_pv": _yearly("export"),
    "battery_charge_power_today": _history("charge", "today"),
    "daily_battery_charge_energy_from_pv": _history("charge", "days"),
    "monthly_battery_charge_energy_from_pv": _history("charge", "months"),
    "yearly_battery_charge_energy_from_pv": _yearly("charge"),
    **{f"string_{i + 1}_current": _string_current(i) for i in range(32)},
    **{f"mppt_{i + 1}_voltage": _item(i, "mppt_voltage_v") for i in range(16)},
    **{f"mppt_{i + 1}_current": _item(i, "mppt_current_a") for i in range(16)},
    "running_state": running_state,
    "power_flow_status": lambda s, p: power_flow_bits(s),
    "daily_pv_generation": lambda s, p: s.daily_pv_kwh,
    "total_pv_generation": lambda s, p: s.total_pv_kwh,
    "daily_pv_export": lambda s, p: s.daily_export_pv_kwh,
    "total_pv_export": lambda s, p: s.total_export_pv_kwh,
    "daily_battery_charge_from_pv": _battery(lambda s, p: s.daily_charge_pv_kwh),
    "total_battery_charge_from_pv": _battery(lambda s, p: s.total_charge_pv_kwh),
    "co2_reduction": lambda s, p: s.total_pv_kwh * 0.7,
    "battery_voltage": _battery(lambda s, p: s.battery_voltage_v),
    "battery_level": _battery(lambda s, p: s.battery_soc_pct),
    "battery_state_of_health": _battery(lambda s, p: s.battery_soh_pct),
    "battery_temperature": _battery(lambda s, p: s.battery_temperature_c),
    "daily_battery_discharge_energy": _battery(lambda s, p: s.daily_discharge_kwh),
    "total_battery_discharge_energy": _battery(lambda s, p: s.total_discharge_kwh),
    "self_consumption_of_day": _self_consumption,
    "grid_state": lambda s, p: 0xAA if p.off_grid else 0x55,  # old documents' grid state
    "battery_capacity": _battery(lambda s, p: p.battery_kwh),
    # SHproto V1.1.9: all energy charged into the battery, from PV and grid alike.
    "daily_charge_energy": _battery(lambda s, p: s.daily_charge_kwh),
    "total_charge_energy": _battery(lambda s, p: s.total_charge_kwh),
    "drm_state": const(0),
    "inverter_alarm": _inverter_alarm,
    "grid_side_fault": _fault_word("grid_side_fault"),
    "system_fault_1": _fault_word("system_fault_1"),
    "system_fault_2": _fault_word("system_fault_2"),
    "dc_side_fault": _fault_word("dc_side_fault"),
    "permanent_fault": _fault_word("permanent_fault"),
    "bdc_side_fault": _fault_word("bdc_side_fault"),
    "bdc_side_permanent_fault": _fault_word("bdc_side_permanent_fault"),
    "battery_fault": _fault_word("battery_fault"),
    "battery_alarm": _fault_word("battery_alarm"),
    "bms_alarm": _fault_word("bms_alarm"),
    "bms_protection": _fault_word("bms_protection"),
    "bms_fault_1": _fault_word("bms_fault_1"),
    "bms_fault_2": _fault_word("bms_fault_2"),
    # Real units read 0xFFFF in the high word of BMS alarm 2 (spec B.5).
    "bms_alarm_2": const(0xFFFF0000),
    "bms_status": _battery(lambda s, p: 0),  # SH*K low-voltage BMS block (V1.0.23)
    "bms_warning": _battery(lambda s, p: 0),
    "bms_protection_word": _battery(lambda s, p: 0),
    "bms_fault_1_word": _battery(lambda s, p: 0),
    "bms_fault_2_word": _battery(lambda s, p: 0),
    "bms_soc": _battery(lambda s, p: s.battery_soc_pct),
    "bms_soh": _battery(lambda s, p: s.battery_soh_pct),
    "bms_battery_current": _battery(lambda s, p: abs(s.battery_current_a)),
    "bms_battery_voltage": _battery(lambda s, p: s.battery_voltage_v),
    "bms_cycle_count": _battery(_cycles),
    "bms_average_cell_voltage": _battery(lambda s, p: _cell_mv(s, p, 0)),  # mV
    "bms_max_cell_voltage": _battery(lambda s, p: _cell_mv(s, p, 9)),
    "bms_min_cell_voltage": _battery(lambda s, p: _cell_mv(s, p, -8)),
    "bms_pack_voltage": _battery(lambda s, p: round(s.battery_voltage_v)),
    "bms_average_cell_temperature": _battery(lambda s, p: round(s.battery_temperature_c)),
    "bms_max_cell_temperature": _battery(lambda s, p: round(s.battery_temperature_c + 1.0)),
    "bms_min_cell_temperature": _battery(lambda s, p: round(s.battery_temperature_c - 1.0)),
    # No second meter channel is wired: the meter's "disconnected" sentinel.
    "meter_channel_2_total_active_power": const(None),
    "meter_channel_2_phase_a_active_power": const(None),
    "meter_channel_2_phase_b_active_power": const(None),
    "meter_channel_2_phase_c_active_power": const(None),
    # input 13250 as the recorded SH10RT and SH10RT-20 (firmware P020) report it
    "inverter_firmware_version": const("SAPPHIRE-H_B001.V000.P020"),
    # input 13265: empty with no dongle plugged in (the SH10RT LAN recording); a map built for
    # an inverter with a WiNet-S reads its firmware (RegisterMap's ``dongle``)
    MODULE_FIRMWARE: const(""),
    # input 13280: the SH10RT-20's SBR096 reports its BCU firmware (mkaiser fingerprint); the
    # SH10RT with a third-party battery reads zeros there, as a model without a battery does
    "battery_firmware_version": _battery(_bcu_firmware),
    "firmware_version_reserved_1": const(""),
    "firmware_version_reserved_2": const(""),
    "firmware_version_reserved_3": const(""),
    "firmware_version_reserved_4": const(""),
    "firmware_version_reserved_5": const(""),
}

#: Where two catalogue rows share a name but not a type, the row at this address reads this
#: instead: the unsigned 13021/13022 battery current and power read as magnitudes (old
#: firmware's convention, and what a U16 can carry), the signed 5631/5214 keep the sign.
INPUT_BY_ADDRESS: dict[int, Projector] = {
    13021: _battery(lambda s, p: abs(s.battery_current_a)),
    13022: _battery(lambda s, p: abs(s.battery_power_w)),
}
