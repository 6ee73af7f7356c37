"""What the plant's instruments show at an instant: building a :class:`PlantSnapshot`.

:class:`PlantMeasurements` turns the integration state at one instant (the flows of
:mod:`mock_sungrow.plant.integrate`, the state of charge, the temperatures and the counters)
into the immutable snapshot every front end serves: AC voltages and currents per phase, the
reactive power the power-factor setting asks for, MPPT voltages and currents, the meter's
phases, the battery's terminal voltage and health.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING

from mock_sungrow.plant.integrate import PlantIntegrator
from mock_sungrow.plant.physics import mpp_voltage_v
from mock_sungrow.plant.snapshot import PlantSnapshot

if TYPE_CHECKING:
    from mock_sungrow.plant.commands import PlantSettings
    from mock_sungrow.plant.meter import SmartMeter


class PlantMeasurements(PlantIntegrator):
    """The part of a plant that measures: a snapshot from the state at host time ``t``."""

    grid_voltage_v: float
    grid_frequency_hz: float
    meter: SmartMeter
    _config: PlantSettings

    def _build_snapshot(self, t: float) -> PlantSnapshot:
        inst = self._instant_at(t)
        f = inst.flows
        plant_t = t + self._offset
        w = self.wobble
        phases = self.model.phases
        nominal_v = self.grid_voltage_v
        volts = tuple(
            w.grid_voltage(plant_t + 37.0 * i, nominal_v) for i in range(phases)
        )
        pf_setting = self._config.power_factor
        p = f.ac_w
        q = 0.0
        if p != 0.0:
            # The set-point's reactive share, signed as the setting, plus the small natural
            # variation of a real unit.
            q = math.copysign(abs(p) * math.tan(math.acos(min(1.0, abs(pf_setting)))),
                              pf_setting) + abs(p) * w.reactive_fraction(plant_t)
        s = math.hypot(p, q)
        pf = abs(p) / s if s > 0 else 1.0
        if q < 0:
            pf = -pf
        currents = tuple(
            (s / phases / v) if v > 0 else 0.0 for v in volts
        )
        n = self.model.mppt_count
        running = f.pv_w > 0.0
        voltage = mpp_voltage_v(self.design, inst.irradiance, inst.cell_c)
        if voltage > 0.0 and not running:
            voltage *= 1.2  # an idle array sits near open-circuit voltage
        mppt_v = tuple(voltage * (1.0 - 0.01 * i) for i in range(n))
        mppt_i = tuple(
            (f.pv_w * wgt / v) if (running and v > 0) else 0.0
            for wgt, v in zip(self.design.mppt_weights, mppt_v, strict=True)
        )
        meter_p = self.meter.phase_powers(f.load_w, f.ac_w)
        meter_i = self.meter.phase_currents(meter_p, volts)
        pack = self.battery
        bat_v = bat_i = 0.0
        soh = 100.0
        if pack is not None:
            bat_v, bat_i = pack.terminal(self._soc, f.battery_w)
            cycles = (self._counters.total_charge + self._counters.total_discharge) / (
                2.0 * pack.capacity_kwh)
            soh = max(60.0, self._soh0 - cycles * 20.0 / 6000.0)
        c = self._counters
        return PlantSnapshot(
            time=plant_t,
            local=datetime.fromtimestamp(plant_t, self.tz),
            mode=self._mode,
            regime=f.regime,
            irradiance_w_m2=inst.irradiance,
            ambient_temperature_c=inst.ambient_c,
            dc_power_w=f.pv_w,
            mppt_voltage_v=mppt_v,
            mppt_current_a=mppt_i,
            active_power_w=p,
            reactive_power_var=q,
            apparent_power_va=s,
            power_factor=pf,
            frequency_hz=w.grid_frequency(plant_t, self.grid_frequency_hz),
            phase_voltage_v=volts,
            phase_current_a=currents,
            internal_temperature_c=self._temp_c,
            bus_voltage_v=(max(mppt_v) * 1.05 if running else max(mppt_v, default=0.0)),
            load_power_w=f.load_w,
            grid_power_w=f.grid_w,
            loss_power_w=f.loss_w,
            meter_phase_power_w=meter_p,
            meter_phase_current_a=meter_i,
            battery_power_w=f.battery_w,
            battery_soc_pct=self._soc if pack is not None else 0.0,
            battery_voltage_v=bat_v,
            battery_current_a=bat_i,
            battery_temperature_c=self._bat_temp_c,
            battery_soh_pct=soh,
            battery_charge_limit_a=inst.charge_limit_a,
            battery_discharge_limit_a=inst.discharge_limit_a,
            daily_yield_kwh=c.daily_yield,
            monthly_yield_kwh=c.monthly_yield,
            total_yield_kwh=c.total_yield,
            total_running_hours=c.total_hours,
            daily_running_minutes=c.daily_run_s / 60.0,
            daily_pv_kwh=c.daily_pv,
            total_pv_kwh=c.total_pv,
            daily_import_kwh=c.daily_import,
            total_import_kwh=c.total_import,
            daily_export_kwh=c.daily_export,
            total_export_kwh=c.total_export,
            daily_export_pv_kwh=c.daily_export_pv,
            total_export_pv_kwh=c.total_export_pv,
            daily_direct_kwh=c.daily_direct,
            total_direct_kwh=c.total_direct,
            daily_charge_kwh=c.daily_charge,
            total_charge_kwh=c.total_charge,
            daily_charge_pv_kwh=c.daily_charge_pv,
            total_charge_pv_kwh=c.total_charge_pv,
            daily_discharge_kwh=c.daily_discharge,
            total_discharge_kwh=c.total_discharge,
            daily_load_kwh=c.daily_load,
            daily_loss_kwh=c.daily_loss,
        )
