"""What a Sungrow SBR battery tower answers on its own Modbus unit (200 on the inverter's port).

``data/sbr_registers.csv`` lists the rows and their sources; :data:`BATTERY_INPUT` maps each
to the same plant snapshot the inverter reads, so the battery and the inverter always agree.
Module-level detail (cell extremes and their positions, per-module cell voltages, module
serials) is invented but shaped like the captures: positions are module * 256 + cell, absent
module slots read 0.
"""

from __future__ import annotations

import functools
import zlib
from typing import TYPE_CHECKING

from mock_sungrow.device.catalog import InverterModel, load_battery_registers
from mock_sungrow.device.codec import Value
from mock_sungrow.device.reads import Projector, battery_pack, const
from mock_sungrow.device.registermap import RegisterMap

if TYPE_CHECKING:
    from mock_sungrow.plant.snapshot import PlantSnapshot
    from mock_sungrow.plant.state import PlantState



_SBR_FIRMWARE = "SBRBCU-S_22011.01.19"


def _module_spread(p: PlantState, module: int, which: int) -> float:
    """A module's seeded cell-voltage spread above (``which`` 0) or below (1) the mean, in V."""
    digest = zlib.crc32(f"cell/{p.seed}/{module}/{which}".encode())
    return 0.0015 + (digest % 1000) / 1000.0 * 0.0035


def _mean_cell_v(s: PlantSnapshot, p: PlantState) -> float:
    return s.battery_voltage_v / battery_pack(p).cells


def _module_cells(which: int) -> Projector:
    """Per-module highest (0) or lowest (1) cell voltage, 8 slots."""

    def get(s: PlantSnapshot, p: PlantState) -> Value:
        pack = battery_pack(p)
        mean = _mean_cell_v(s, p)
        sign = 1.0 if which == 0 else -1.0
        return [
            mean + sign * _module_spread(p, m, which) if m < pack.modules else 0.0
            for m in range(8)
        ]

    return get


def _extreme_cell(which: int, position: bool) -> Projector:
    """The pack's highest (0) or lowest (1) cell voltage, or its position (module*256+cell)."""

    def get(s: PlantSnapshot, p: PlantState) -> Value:
        pack = battery_pack(p)
        spreads = [_module_spread(p, m, which) for m in range(pack.modules)]
        module = max(range(pack.modules), key=spreads.__getitem__)
        if position:
            cell = zlib.crc32(f"pos/{p.seed}/{which}".encode()) % 20 + 1
            return (module + 1) * 256 + cell
        mean = _mean_cell_v(s, p)
        return mean + spreads[module] if which == 0 else mean - spreads[module]

    return get


def _module_temp(which: int, position: bool) -> Projector:
    def get(s: PlantSnapshot, p: PlantState) -> Value:
        pack = battery_pack(p)
        if position:
            return (pack.modules if which == 0 else 1) * 256 + 1
        return s.battery_temperature_c + (0.6 if which == 0 else -0.6)

    return get


def _module_serial(index: int) -> Projector:
    def get(s: PlantSnapshot, p: PlantState) -> Value:
        pack = battery_pack(p)
        return f"{pack.serial[:6]}M{index + 1}{p.seed % 100:02d}" if index < pack.modules else ""

    return get


def _sbr_status(s: PlantSnapshot, p: PlantState) -> Value:
    """10740: 0 unplugged, 1 standby, 2 run (current flowing)."""
    return 2 if abs(s.battery_current_a) >= 0.1 else 1


BATTERY_INPUT: dict[str, Projector] = {
    "device_type_code": lambda s, p: battery_pack(p).device_type_code,
    "serial_number": lambda s, p: battery_pack(p).serial,
    "bcu_firmware_version": const(_SBR_FIRMWARE),
    "battery_status": _sbr_status,
    "battery_voltage": lambda s, p: s.battery_voltage_v,
    # Sign as on the inverter's 5631: positive while charging (an assumption: the captures
    # only show magnitudes).
    "battery_current": lambda s, p: s.battery_current_a,
    "battery_temperature": lambda s, p: s.battery_temperature_c,
    "battery_soc": lambda s, p: s.battery_soc_pct,
    "battery_soh": lambda s, p: s.battery_soh_pct,
    "total_charge_energy": lambda s, p: s.total_charge_kwh,
    "total_discharge_energy": lambda s, p: s.total_discharge_kwh,
    "max_cell_voltage": _extreme_cell(0, position=False),
    "max_cell_voltage_position": _extreme_cell(0, position=True),
    "min_cell_voltage": _extreme_cell(1, position=False),
    "min_cell_voltage_position": _extreme_cell(1, position=True),
    "max_module_temperature": _module_temp(0, position=False),
    "max_module_temperature_position": _module_temp(0, position=True),
    "min_module_temperature": _module_temp(1, position=False),
    "min_module_temperature_position": _module_temp(1, position=True),
    "module_max_cell_voltage": _module_cells(0),
    "module_min_cell_voltage": _module_cells(1),
    "module_cell_type": lambda s, p: [1 if m < battery_pack(p).modules else 0 for m in range(8)],
    # 2: contactor closed (the battery is connected to the inverter's DC bus).
    "dc_switch_state": lambda s, p: 1 if s.mode.value in ("stop", "emergency-stop") else 2,
    **{f"module_{i + 1}_serial_number": _module_serial(i) for i in range(8)},
}


@functools.lru_cache(maxsize=16)
def battery_map(model: str, device_type_code: int) -> RegisterMap:
    """The (shared) register map of an SBR battery of one size."""
    pseudo = InverterModel(
        name=model, device_type_code=device_type_code, rated_power_w=0, phases=1,
        mppt_count=1, is_hybrid=False, source="sbr_registers.csv",
    )
    return RegisterMap(pseudo, rows=load_battery_registers(), projectors=BATTERY_INPUT,
                       address_projectors={})
