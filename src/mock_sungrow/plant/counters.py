"""The plant's energy counters: integrated quantities, the part of the plant that has memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mock_sungrow.plant.ems import Flows


@dataclass(slots=True)
class Counters:
    """Integrated quantities (kWh, hours), the part of the plant that has memory."""

    daily_yield: float = 0.0
    monthly_yield: float = 0.0
    total_yield: float = 0.0
    total_hours: float = 0.0
    daily_run_s: float = 0.0
    daily_pv: float = 0.0
    total_pv: float = 0.0
    daily_import: float = 0.0
    total_import: float = 0.0
    daily_export: float = 0.0
    total_export: float = 0.0
    daily_export_pv: float = 0.0
    total_export_pv: float = 0.0
    daily_direct: float = 0.0
    total_direct: float = 0.0
    daily_charge: float = 0.0
    total_charge: float = 0.0
    daily_charge_pv: float = 0.0
    total_charge_pv: float = 0.0
    daily_discharge: float = 0.0
    total_discharge: float = 0.0
    daily_load: float = 0.0
    daily_loss: float = 0.0

    def reset_daily(self) -> None:
        """A new day: the daily counters start from zero."""
        self.daily_yield = self.daily_run_s = self.daily_pv = 0.0
        self.daily_import = self.daily_export = self.daily_export_pv = 0.0
        self.daily_direct = self.daily_charge = self.daily_charge_pv = 0.0
        self.daily_discharge = self.daily_load = self.daily_loss = 0.0

    def add(self, a: Flows, b: Flows, dt: float) -> tuple[float, float, float, float, float]:
        """Add the trapezoid integrals of one step's flows (``a`` at its start, ``b`` at its end).

        Returns the step's AC output, PV, direct-use, PV-export and PV-charge energies (kWh),
        which the history adds to its slots.
        """
        c = self
        k = dt / 7_200_000.0  # (a + b) / 2 * dt, W*s -> kWh
        out = (max(a.ac_w, 0.0) + max(b.ac_w, 0.0)) * k
        pv = (a.pv_w + b.pv_w) * k
        imp = (max(a.grid_w, 0.0) + max(b.grid_w, 0.0)) * k
        exp = (max(-a.grid_w, 0.0) + max(-b.grid_w, 0.0)) * k
        exp_pv = (a.export_pv_w + b.export_pv_w) * k
        direct = (a.direct_w + b.direct_w) * k
        charge = (max(a.battery_w, 0.0) + max(b.battery_w, 0.0)) * k
        charge_pv = (a.charge_pv_w + b.charge_pv_w) * k
        discharge = (max(-a.battery_w, 0.0) + max(-b.battery_w, 0.0)) * k
        c.daily_yield += out
        c.monthly_yield += out
        c.total_yield += out
        c.daily_pv += pv
        c.total_pv += pv
        c.daily_import += imp
        c.total_import += imp
        c.daily_export += exp
        c.total_export += exp
        c.daily_export_pv += exp_pv
        c.total_export_pv += exp_pv
        c.daily_direct += direct
        c.total_direct += direct
        c.daily_charge += charge
        c.total_charge += charge
        c.daily_charge_pv += charge_pv
        c.total_charge_pv += charge_pv
        c.daily_discharge += discharge
        c.total_discharge += discharge
        c.daily_load += (a.load_w + b.load_w) * k
        c.daily_loss += (a.loss_w + b.loss_w) * k
        return out, pv, direct, exp_pv, charge_pv
