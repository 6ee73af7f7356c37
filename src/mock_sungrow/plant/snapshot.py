"""The plant at one instant (:class:`PlantSnapshot`) and what the inverter is doing (:class:`Mode`).

Engineering units only: how a register encodes a mode or a quantity is the device layer's
business (:mod:`mock_sungrow.device.reads`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from mock_sungrow.plant.ems import Flows, Regime


class Mode(enum.Enum):
    """What the inverter is doing, independent of how a register encodes it."""

    STANDBY = "standby"
    STARTING = "starting"
    RUN = "run"
    STOP = "stop"
    EMERGENCY_STOP = "emergency-stop"
    FAULT = "fault"


@dataclass(frozen=True, slots=True)
class PlantSnapshot:
    """Everything the plant measures at one instant, in engineering units.

    ``time`` is the plant's own clock (which a clock write can shift away from the host's);
    ``local`` is the same instant in the site's time zone. Power signs: ``grid_power_w`` is
    positive when importing, ``battery_power_w`` positive when charging, ``active_power_w``
    (the inverter's AC output) negative while a hybrid charges its battery from the grid.
    ``dc_power_w`` is the PV power the inverter takes from its trackers. Energies are kWh.
    """

    time: float
    local: datetime
    mode: Mode
    regime: Regime
    irradiance_w_m2: float
    ambient_temperature_c: float
    dc_power_w: float
    mppt_voltage_v: tuple[float, ...]
    mppt_current_a: tuple[float, ...]
    active_power_w: float
    reactive_power_var: float
    apparent_power_va: float
    power_factor: float
    frequency_hz: float
    phase_voltage_v: tuple[float, ...]
    phase_current_a: tuple[float, ...]
    internal_temperature_c: float
    bus_voltage_v: float
    load_power_w: float
    grid_power_w: float
    loss_power_w: float
    meter_phase_power_w: tuple[float, ...]
    meter_phase_current_a: tuple[float, ...]
    battery_power_w: float
    battery_soc_pct: float
    battery_voltage_v: float
    battery_current_a: float
    battery_temperature_c: float
    battery_soh_pct: float
    battery_charge_limit_a: float
    battery_discharge_limit_a: float
    daily_yield_kwh: float
    monthly_yield_kwh: float
    total_yield_kwh: float
    total_running_hours: float
    daily_running_minutes: float
    daily_pv_kwh: float
    total_pv_kwh: float
    daily_import_kwh: float
    total_import_kwh: float
    daily_export_kwh: float
    total_export_kwh: float
    daily_export_pv_kwh: float
    total_export_pv_kwh: float
    daily_direct_kwh: float
    total_direct_kwh: float
    daily_charge_kwh: float
    total_charge_kwh: float
    daily_charge_pv_kwh: float
    total_charge_pv_kwh: float
    daily_discharge_kwh: float
    total_discharge_kwh: float
    daily_load_kwh: float
    daily_loss_kwh: float

    @property
    def phases(self) -> int:
        """Number of AC phases the inverter feeds."""
        return len(self.phase_voltage_v)


@dataclass(frozen=True, slots=True)
class Instant:
    """Physics at one instant, before anything is rounded for a snapshot (integration state)."""

    irradiance: float
    ambient_c: float
    cell_c: float
    available_w: float
    flows: Flows
    soc: float
    charge_limit_a: float
    discharge_limit_a: float
