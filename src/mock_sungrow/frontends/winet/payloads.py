"""What the dongle reports, built from its devices' registers (never from the plant directly).

A real WiNet-S polls its inverter and battery over RS-485 Modbus and formats what it read. This
module does the same against each device's data blocks (:class:`Registers`), so a user's
``datablock_class`` override, a pinned register, a word fault or a Modbus write changes
``real`` (of the inverter and of the battery), ``direct``, ``devicelist`` and ``getParam``
exactly as it changes a Modbus read of that device: the front ends always agree, because they
read the same words.

Names, units and spellings (``I18N_COMMON_PV_DAYILY_ENERGY_GENERATION``, ``I18N_COMMONUA``,
``℃`` as U+2103, ``kΩ`` with U+03A9) are those real dongles send (spec §7). Every i18n key
emitted here has an English label in :data:`LABELS`, which ``/i18n/<lang>.properties`` serves.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mock_sungrow.device.catalog import RegisterDef, Table
from mock_sungrow.device.codec import decode_words
from mock_sungrow.device.registermap import FILLER, RegisterMap
from mock_sungrow.errors import ModbusError
from mock_sungrow.faults.decision import CURRENT_DECISION
from mock_sungrow.faults.traffic import Traffic
from mock_sungrow.frontends.modbus.distort import sentinel_table

if TYPE_CHECKING:
    from mock_sungrow.device.device import Device
    from mock_sungrow.plant.state import PlantState

UNAVAILABLE = "--"
#: Running-state register word -> the i18n state key ``real`` shows.
_WORK_STATE_1 = {  # input 5038 (string inverters)
    0x0000: "I18N_COMMON_RUNNING",
    0x8000: "I18N_COMMON_STOP",
    0x1300: "I18N_COMMON_KEY_STOP",
    0x1500: "I18N_COMMON_EMERGENCY_STOP",
    0x1400: "I18N_COMMON_STANDBY",
    0x1200: "I18N_COMMON_INITIAL_STANDBY",
    0x1600: "I18N_COMMON_STARTING",
    0x9100: "I18N_COMMON_ALARM_RUN",
    0x8100: "I18N_COMMON_DERATING_RUN",
    0x8200: "I18N_COMMON_DISPATCH_RUN",
    0x5500: "I18N_COMMON_FAULT",
    0x2500: "I18N_COMMON_COMMUNICATION_FAULT",
}
_RUNNING_STATE = {  # input 13000 (hybrids)
    0x0002: "I18N_COMMON_STOP",
    0x0008: "I18N_COMMON_STANDBY",
    0x0010: "I18N_COMMON_INITIAL_STANDBY",
    0x0020: "I18N_COMMON_STARTING",
    0x0040: "I18N_COMMON_DISPATCH_RUN",
    0x0100: "I18N_COMMON_FAULT",
}


class Registers:
    """Reads catalogued registers of one device through its data blocks (async-aware).

    ``device`` returns the device; it is called on every read, because a server's ``reset()``
    replaces the devices.
    """

    def __init__(self, device: Callable[[], Device], traffic: Traffic) -> None:
        self._device = device
        self.traffic = traffic

    @property
    def device(self) -> Device:
        """The device read (as it is now)."""
        return self._device()
    async def words(self, table: Table, address: int, count: int) -> list[int]:
        """``count`` words at documented ``address``; a block's ``ModbusError`` propagates.

        Word faults (``scale``, ``zeros``, ``stale``...) of the request being answered apply
        here, to the registers of this read their table and range cover (a service such as
        ``real`` names no registers itself), so ``getParam``, the values ``real`` shows and a
        Modbus read of the same words are distorted alike.
        """
        device = self.device
        words = await self._read(device, table, address, count)
        decision = CURRENT_DECISION.get()
        if decision.words:
            sentinels = sentinel_table(device.map, table)
            words = self.traffic.distort_read(
                decision, table, address, words, lambda reg: sentinels.get(reg, FILLER)
            )
        return words

    @staticmethod
    async def _read(device: Device, table: Table, address: int, count: int) -> list[int]:
        block = device.block(table)
        if device.is_async:
            return list(await block.async_getValues(address, count))
        return list(block.getValues(address, count))

    async def write(self, address: int, words: list[int]) -> None:
        """Write holding registers through the block; a block's ``ModbusError`` propagates.

        Word faults of the request being answered that remember the words a write replaces
        (``stale-after-write``) are told them first, as on Modbus, so every front end then
        serves the old value.
        """
        decision = CURRENT_DECISION.get()
        device = self.device
        if decision.notes_writes:
            try:
                old = await self._read(device, "holding", address, len(words))
            except ModbusError:
                pass
            else:
                self.traffic.note_write(decision, "holding", address, old)
        if device.is_async:
            await device.holding.async_setValues(address, words)
        else:
            device.holding.setValues(address, words)

    def row(self, name: str, table: Table = "input") -> RegisterDef | None:
        """The device's live row called ``name`` (``None`` when its model lacks it)."""
        return self.device.map.by_name.get((table, name))

    async def value(self, name: str, table: Table = "input") -> Any:
        """The decoded value of a named row; ``None`` if absent, unavailable or refused."""
        row = self.row(name, table)
        if row is None:
            return None
        try:
            words = await self.words(table, row.address, row.words)
        except ModbusError:
            return None
        return decode_words(row, words)


def fmt(value: Any, decimals: int, factor: float = 1.0) -> str:
    """A value as the dongle prints it: a decimal string, or ``"--"`` when unavailable."""
    if value is None or isinstance(value, list):
        return UNAVAILABLE
    number = float(value) * factor
    if math.isnan(number) or math.isinf(number):
        return UNAVAILABLE
    text = f"{number:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


# ----------------------------------------------------------------------------- real-time lists

Getter = Callable[[Registers], Any]


@dataclass(frozen=True)
class Item:
    """One ``data_name`` of a ``real`` / ``real_battery`` list.

    ``sources`` are input-register names, the first the model has wins; the item is left out
    when the model has none of them (``always`` keeps it as ``"--"``, as hybrids show the two
    string-inverter yields). ``factor`` converts the register's unit into ``unit``.
    """

    name: str
    unit: str
    sources: tuple[str, ...] = ()
    decimals: int = 1
    factor: float = 1.0
    special: str = ""  # "state", "import", "export", "charge", "discharge", "unavailable"

    def served(self, regs: Registers) -> bool:
        """Whether the model reports this item at all."""
        if self.special == "unavailable":
            return True
        return any(regs.row(s) is not None for s in self.sources)

    async def read(self, regs: Registers) -> str:
        """The item's ``data_value``."""
        if self.special == "unavailable":
            return UNAVAILABLE
        source = next(s for s in self.sources if regs.row(s) is not None)
        value = await regs.value(source)
        if self.special == "state":
            table = _RUNNING_STATE if source == "running_state" else _WORK_STATE_1
            return table.get(value, UNAVAILABLE) if isinstance(value, int) else UNAVAILABLE
        if self.special == "battery-status":
            contactor = await regs.value("dc_switch_state")
            if contactor == 1:
                return BATTERY_STATUS["stopped"]
            return BATTERY_STATUS["run" if value == 2 else "standby"]
        if value is not None and self.special in ("export", "import"):
            value = max(0.0, value if self.special == "export" else -value)
        if value is not None and self.special in ("charge", "discharge"):
            flow = await regs.value("power_flow_status")
            bit = 1 << (1 if self.special == "charge" else 2)
            value = value if isinstance(flow, int) and flow & bit else 0
        return fmt(value, self.decimals, self.factor)


_KW = 0.001
_COMMON_AC = (
    Item("I18N_COMMON_TOTAL_DCPOWER", "kW", ("total_dc_power",), 3, _KW),
    Item("I18N_COMMON_TOTAL_ACTIVE_POWER", "kW", ("total_active_power",), 3, _KW),
    Item("I18N_COMMON_TOTAL_REACTIVE_POWER", "kvar", ("total_reactive_power",), 3, _KW),
    Item("I18N_COMMON_TOTAL_APPARENT_POWER", "kVA", ("total_apparent_power",), 3, _KW),
    Item("I18N_COMMON_TOTAL_POWER_FACTOR", "", ("power_factor",), 3),
    Item("I18N_COMMON_GRID_FREQUENCY", "Hz", ("grid_frequency_high_precision", "grid_frequency"),
         2),
    Item("I18N_COMMONUA", "V", ("phase_a_voltage",), 1),
    Item("I18N_COMMON_UB", "V", ("phase_b_voltage",), 1),
    Item("I18N_COMMON_UC", "V", ("phase_c_voltage",), 1),
    Item("I18N_COMMON_FRAGMENT_RUN_TYPE1", "A", ("phase_a_current",), 1),
    Item("I18N_COMMON_IB", "A", ("phase_b_current",), 1),
    Item("I18N_COMMON_IC", "A", ("phase_c_current",), 1),
)
_GRID = (
    Item("I18N_CONFIG_KEY_1001188", "%", ("self_consumption_of_day",), 1),
    Item("I18N_COMMON_FEED_NETWORK_TOTAL_ACTIVE_POWER", "kW", ("export_power",), 3, _KW,
         "export"),
    Item("I18N_CONFIG_KEY_4060", "kW", ("export_power",), 3, _KW, "import"),
    Item("I18N_COMMON_DAILY_FEED_NETWORK_VOLUME", "kWh", ("daily_export_energy",), 1),
    Item("I18N_COMMON_TOTAL_FEED_NETWORK_VOLUME", "kWh", ("total_export_energy",), 1),
    Item("I18N_COMMON_ENERGY_GET_FROM_GRID_DAILY", "kWh", ("daily_import_energy",), 1),
    Item("I18N_COMMON_TOTAL_ELECTRIC_GRID_GET_POWER", "kWh", ("total_import_energy",), 1),
    Item("I18N_COMMON_DAILY_FEED_NETWORK_PV", "kWh", ("daily_pv_export",), 1),
    Item("I18N_COMMON_TOTAL_FEED_NETWORK_PV", "kWh", ("total_pv_export",), 1),
    Item("I18N_COMMON_LOAD_TOTAL_ACTIVE_POWER", "kW", ("load_power",), 3, _KW),
    Item("I18N_COMMON_DAILY_DIRECT_CONSUMPTION_ELECTRICITY_PV", "kWh",
         ("daily_direct_energy_consumption",), 1),
    Item("I18N_COMMON_TOTAL_DIRECT_POWER_CONSUMPTION_PV", "kWh",
         ("total_direct_energy_consumption",), 1),
)
_BACKUP = (
    Item("I18N_COMMON_PHASE_A_BACKUP_CURRENT_QFKYGING", "A", ("backup_phase_a_current",), 1),
    Item("I18N_COMMON_PHASE_B_BACKUP_CURRENT_ODXCTVMS", "A", ("backup_phase_b_current",), 1),
    Item("I18N_COMMON_PHASE_C_BACKUP_CURRENT_PBSQLZIX", "A", ("backup_phase_c_current",), 1),
    Item("I18N_COMMON_PHASE_A_BACKUP_VOLTAGE_PEIYFKXE", "V", ("backup_phase_a_voltage",), 1),
    Item("I18N_COMMON_PHASE_B_BACKUP_VOLTAGE_MCDGYUJO", "V", ("backup_phase_b_voltage",), 1),
    Item("I18N_COMMON_PHASE_C_BACKUP_VOLTAGE_SCJZFFCQ", "V", ("backup_phase_c_voltage",), 1),
    Item("I18N_COMMON_BACKUP_FREQUENCY_MPPOWHDF", "HZ", ("backup_frequency",), 2),
    Item("I18N_COMMON_PHASE_A_BACKUP_POWER_BRBJDGVB", "kW", ("backup_phase_a_power",), 3, _KW),
    Item("I18N_COMMON_PHASE_B_BACKUP_POWER_OCDHLMZB", "kW", ("backup_phase_b_power",), 3, _KW),
    Item("I18N_COMMON_PHASE_C_BACKUP_POWER_HAMBBGNL", "kW", ("backup_phase_c_power",), 3, _KW),
    Item("I18N_COMMON_TOTAL_BACKUP_POWER_WLECIVPM", "kW", ("total_backup_power",), 3, _KW),
)
STRING_REAL = (
    Item("I18N_COMMON_TOTAL_GRID_RUNNING_TIME", "h", ("total_running_time",), 0),
    Item("I18N_COMMON_DAILY_POWER_YIELD", "kWh", ("daily_power_yields",), 1),
    Item("I18N_COMMON_TOTAL_YIELD", "kWh", ("total_power_yields",), 1),
    Item("I18N_COMMON_RUNNING_STATE", "", ("work_state_1",), special="state"),
    Item("I18N_COMMON_BUS_VOLTAGE", "V", ("bus_voltage",), 1),
    Item("I18N_COMMON_AIR_TEM_INSIDE_MACHINE", "\u2103", ("internal_temperature",), 1),
    Item("I18N_COMMON_SQUARE_ARRAY_INSULATION_IMPEDANCE", "k\u03a9",
         ("array_insulation_resistance",), 0),
    *_COMMON_AC,
    *_GRID,
)
HYBRID_REAL = (
    Item("I18N_COMMON_TOTAL_GRID_RUNNING_TIME", "h", ("total_running_time",), 0),
    Item("I18N_COMMON_PV_DAYILY_ENERGY_GENERATION", "kWh", ("daily_pv_generation",), 1),
    Item("I18N_COMMON_PV_TOTAL_ENERGY_GENERATION", "kWh", ("total_pv_generation",), 1),
    # Hybrids report the string inverters' two yields as unavailable (client-quirks §8).
    Item("I18N_COMMON_DAILY_POWER_YIELD", "kWh", special="unavailable"),
    Item("I18N_COMMON_TOTAL_YIELD", "kWh", special="unavailable"),
    Item("I18N_COMMON_RUNNING_STATE", "", ("running_state",), special="state"),
    Item("I18N_COMMON_BUS_VOLTAGE", "V", ("bus_voltage",), 1),
    Item("I18N_COMMON_AIR_TEM_INSIDE_MACHINE", "\u2103", ("internal_temperature",), 1),
    *_COMMON_AC,
    *_GRID,
    *_BACKUP,
)
#: WiNet-S ``real`` on a battery device (winet-protocol.md §3.4, "real on a battery
#: device"), read from the battery's own registers (10740-10789), as a dongle polls it. The
#: spellings are the firmware's own, typos included; the status is ``run`` (captured),
#: ``standby`` or ``stop`` (assumed).
BATTERY_REAL = (
    Item("I18N_COMMON_BATTERY_VOLTAGE", "V", ("battery_voltage",), 1),
    Item("I18N_COMMON_BATTERY_CURRENT", "A", ("battery_current",), 1),
    Item("I18N_COMMON_BATTERY_TEMPERATURE", "\u2103", ("battery_temperature",), 1),
    Item("I18N_COMMON_REMAIN_BATTERY_POWER", "%", ("battery_soc",), 1),
    Item("I18N_COMMON_BATTARY_HEALTH", "%", ("battery_soh",), 1),
    Item("I18N_COMMON_TOTAL_BATTERY_CHARGE", "kWh", ("total_charge_energy",), 1),
    Item("I18N_COMMON_TOTAL_BATTERY_DISCHARGE_BMS", "kWh", ("total_discharge_energy",), 1),
    Item("I18N_COMMON_BATTERY_OPERATION_STATUS", "", ("battery_status",),
         special="battery-status"),
)
#: The battery status keys (10740: 1 standby, 2 run; 10789 = 1: its contactor is open).
BATTERY_STATUS = {
    "run": "I18N_COMMON_STATUS_RUN",
    "standby": "I18N_COMMON_STATUS_STANDBY",
    "stopped": "I18N_COMMON_STATUS_STOP",
}
REAL_BATTERY = (
    Item("I18N_CONFIG_KEY_3907", "kW", ("battery_power",), 3, _KW, "charge"),
    Item("I18N_CONFIG_KEY_3921", "kW", ("battery_power",), 3, _KW, "discharge"),
    Item("I18N_COMMON_BATTERY_VOLTAGE", "V", ("battery_voltage",), 1),
    Item("I18N_COMMON_BATTERY_CURRENT", "A", ("battery_current",), 1),
    Item("I18N_COMMON_BATTERY_TEMPERATURE", "\u2103", ("battery_temperature",), 1),
    Item("I18N_COMMON_BATTERY_SOC", "%", ("battery_level",), 1),
    Item("I18N_COMMON_BATTARY_HEALTH", "%", ("battery_state_of_health",), 1),
    Item("I18N_COMMON_MAX_CHARGE_CURRENT_BMS", "A", ("bms_max_charging_current",), 0),
    Item("I18N_COMMON_MAX_DISCHARGE_CURRENT_BMS", "A", ("bms_max_discharging_current",), 0),
    Item("I18N_COMMON_DAILY_BATTERY_CHARGE_PV", "kWh", ("daily_battery_charge_from_pv",), 1),
    Item("I18N_COMMON_TOTAL_BATTERY_CHARGE_PV", "kWh", ("total_battery_charge_from_pv",), 1),
    Item("I18N_COMMON_DAILY_BATTERY_DISCHARGE", "kWh", ("daily_battery_discharge_energy",), 1),
    Item("I18N_COMMON_TOTAL_BATTRY_DISCHARGE", "kWh", ("total_battery_discharge_energy",), 1),
    Item("I18N_COMMON_DAILY_BATTERY_CHARGE", "kWh", ("daily_charge_energy",), 1),
    Item("I18N_COMMON_TOTAL_BATTERY_CHARGE", "kWh", ("total_charge_energy",), 1),
)


def real_items(device: Device) -> tuple[Item, ...]:
    """What ``real`` lists for ``device``: an inverter's readings, or a battery's."""
    if device.kind == "battery":
        return BATTERY_REAL
    return HYBRID_REAL if device.catalog_model.is_hybrid else STRING_REAL


def state_item(inverter: Device) -> Item:
    """The running-state item of the inverter's ``real`` list."""
    return next(i for i in real_items(inverter) if i.special == "state")


def has_battery(inverter: Device) -> bool:
    """Whether ``real_battery`` has anything to report."""
    return inverter.catalog_model.is_hybrid and inverter.plant.battery_kwh > 0


async def real_list(regs: Registers, items: Sequence[Item]) -> list[dict[str, str]]:
    """A ``real`` / ``real_battery`` list: string ``data_value`` and ``data_unit`` always."""
    return [
        {"data_name": item.name, "data_value": await item.read(regs), "data_unit": item.unit}
        for item in items
        if item.served(regs)
    ]


#: The i18n key of the per-string entries of ``direct`` (``%@n``, n a single digit).
STRING_KEY = "I18N_COMMON_GROUP_BUNCH_TITLE_AND"


async def direct_list(regs: Registers) -> list[dict[str, str]]:
    """MPPT voltages and currents, then per-string entries (``<key>%@n``), from registers."""
    device = regs.device
    mppts = device.catalog_model.mppt_count
    out: list[dict[str, str]] = []
    volts: list[Any] = []
    amps: list[Any] = []
    for n in range(1, mppts + 1):
        volts.append(await regs.value(f"mppt_{n}_voltage"))
        amps.append(await regs.value(f"mppt_{n}_current"))
        out.append(_direct(f"MPPT{n}", volts[-1], amps[-1], 1))
    per = device.plant.strings_per_mppt
    # sungrow-websocket reads the string number from the last character: at most 9 strings.
    for k in range(1, min(mppts * per, 9) + 1):
        mppt = (k - 1) // per
        current = await regs.value(f"string_{k}_current")
        if regs.row(f"string_{k}_current") is None:
            current = None if amps[mppt] is None else amps[mppt] / per
        out.append(_direct(f"{STRING_KEY}%@{k}", volts[mppt], current, 2))
    return out


def _direct(name: str, volts: Any, amps: Any, decimals: int) -> dict[str, str]:
    return {
        "name": name,
        "voltage": fmt(volts, 1),
        "voltage_unit": "V",
        "current": fmt(amps, decimals),
        "current_unit": "A",
    }


# ----------------------------------------------------------------------------- clock


async def clock_text(regs: Registers, *, seconds: bool = True) -> str:
    """The inverter's clock as the dongle shows it, read from holding 5000-5005."""
    try:
        y, mo, d, h, mi, s = await regs.words("holding", 5000, 6)
        when = datetime(y, mo, d, h, mi, s)
    except (ModbusError, ValueError):
        when = regs.device.plant.local_time().replace(tzinfo=None)
    return when.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def utc_offset(plant: PlantState) -> str:
    """The site's UTC offset as the web UI writes it (``UTC+10:00``)."""
    offset = plant.local_time().utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


# ----------------------------------------------------------------------------- parameters

#: Grid-protection parameters (``getParam`` type 2). The WiNet reads them from the
#: inverter's private registers, which no public document lists; these are the usual
#: factory settings of a 230 V / 50 Hz grid code, served as constants.
GRID_PARAMETERS = (
    (32323, "I18N_COMMON_GRID_OVER_VOLTAGE_1", "264.5", "V"),
    (32324, "I18N_COMMON_GRID_OVER_VOLTAGE_1_TIME", "1.5", "s"),
    (32325, "I18N_COMMON_GRID_UNDER_VOLTAGE_1", "184.0", "V"),
    (32326, "I18N_COMMON_GRID_UNDER_VOLTAGE_1_TIME", "1.5", "s"),
    (32327, "I18N_COMMON_GRID_OVER_FREQUENCY_1", "51.50", "Hz"),
    (32328, "I18N_COMMON_GRID_OVER_FREQUENCY_1_TIME", "0.2", "s"),
    (32329, "I18N_COMMON_GRID_UNDER_FREQUENCY_1", "47.50", "Hz"),
    (32330, "I18N_COMMON_GRID_UNDER_FREQUENCY_1_TIME", "0.2", "s"),
)


def param_key(row: RegisterDef) -> str:
    """The i18n name of a holding register in the type-9 parameter list."""
    return f"I18N_COMMON_{row.name.upper()}"


def decimals_of(scale: float) -> int:
    """Decimal places that show a register's resolution (0.1 -> 1, 10 -> 0)."""
    return max(0, round(-math.log10(scale))) if scale < 1 else 0


def settable_rows(rmap: RegisterMap) -> list[RegisterDef]:
    """Holding registers the model lets a client write (the clock excepted), by address."""
    rows = {
        r.row.address: r.row
        for r in rmap.rows["holding"]
        if r.live and r.row.address in rmap.holding_limits and not 5000 <= r.row.address <= 5005
    }
    return [rows[a] for a in sorted(rows)]


async def energy_parameters(regs: Registers) -> list[dict[str, Any]]:
    """``getParam`` type 9: each writable holding register, its value read through the block."""
    regmap = regs.device.map
    out: list[dict[str, Any]] = []
    for pid, row in enumerate(settable_rows(regmap), start=1):
        limit = regmap.holding_limits[row.address]
        try:
            words = await regs.words("holding", row.address, row.words)
            value = fmt(decode_words(row, words), decimals_of(row.scale))
        except ModbusError:
            value = UNAVAILABLE
        options: Any = ""
        if limit.allowed is not None:
            options = [{"name": f"0x{a:02X}", "value": str(a)} for a in sorted(limit.allowed)]
        lo = "" if limit.minimum is None else fmt(limit.minimum * row.scale, decimals_of(row.scale))
        hi = "" if limit.maximum is None else fmt(limit.maximum * row.scale, decimals_of(row.scale))
        out.append({
            "param_id": pid,
            "param_addr": row.address,
            "param_pid": pid,
            "param_type": 1,
            "accuracy": decimals_of(row.scale),
            "param_name": param_key(row),
            "param_value": value,
            "unit": row.unit,
            "relation": "",
            "regulation": "",
            "range": f"[{lo}~{hi}]" if lo or hi else "",
            "options": options,
        })
    return out


def encode_setting(row: RegisterDef, text: object) -> int:
    """A parameter value in engineering units (``"50.0"``) as the register's raw word."""
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise ValueError(  # noqa: TRY004 - the caller answers every bad value the same way
            f"param_value must be a number or a numeric string; got {text!r}"
        )
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"param_value must be numeric; got {text!r}") from None
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"param_value must be finite; got {text!r}")
    raw = round(number / row.scale)
    if not -0x8000 <= raw <= 0xFFFF:
        raise ValueError(f"param_value {text!r} does not fit a 16-bit register")
    return raw & 0xFFFF


def local_items(plant: PlantState, host: str) -> list[dict[str, str]]:
    """The ``local`` service's list: the dongle's own network identity."""
    now = plant.local_time().strftime("%Y-%m-%d %H:%M:%S")
    return [
        {"data_name": "I18N_COMMON_SYSTEM_TIME", "data_value": now,
         "data_unit": ""},
        {"data_name": "I18N_COMMON_WLAN_IP", "data_value": host, "data_unit": ""},
        {"data_name": "I18N_COMMON_WLAN_MAC", "data_value": "D8:AA:00:12:34:56", "data_unit": ""},
        {"data_name": "I18N_COMMON_ETH_IP", "data_value": UNAVAILABLE, "data_unit": ""},
        {"data_name": "I18N_COMMON_SIGNAL_STRENGTH", "data_value": "-52", "data_unit": "dBm"},
    ]
