"""Stepping the plant through time: physics at an instant, ramps, events, counters.

:class:`PlantIntegrator` is the part of :class:`~mock_sungrow.plant.state.PlantState` that
moves: from the last integrated instant to the clock's, in steps of at most a minute (a second
while the output ramps after a start), split at local midnight, at quarter hours (so the
history slots get exactly their energy) and at every event where a ramp ends or the EMS regime
can change. Energies are the trapezoid integrals of the same instantaneous flows the snapshots
show, so every counter keeps the instantaneous balance exactly.

The state it works on is set up by :meth:`PlantIntegrator._begin`; the configuration it reads
(model, site, settings...) is set by :class:`~mock_sungrow.plant.state.PlantState`, which also
owns the commands and the snapshots.
"""

from __future__ import annotations

import math
import threading
import zlib
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from mock_sungrow.clock import Clock
from mock_sungrow.plant.battery import BatteryPack
from mock_sungrow.plant.counters import Counters
from mock_sungrow.plant.ems import (
    EXTERNAL_EMS_TIMEOUT_S,
    SOC_TAPER_PCT,
    EmsMode,
    EmsSettings,
    Flows,
    Regime,
    dispatch,
)
from mock_sungrow.plant.history import History
from mock_sungrow.plant.leap import LEAP_AFTER_S, leap
from mock_sungrow.plant.physics import (
    PvDesign,
    Site,
    Wobble,
    ambient_temperature_c,
    cell_temperature_c,
    clear_sky_ghi,
    inverter_efficiency,
    pv_available_power_w,
    solar_elevation_deg,
)
from mock_sungrow.plant.snapshot import Instant, Mode

if TYPE_CHECKING:
    from mock_sungrow.device.catalog import InverterModel
    from mock_sungrow.plant.commands import PlantSettings

#: Longest integration step while nothing is ramping (seconds).
MAX_STEP_S = 60.0
#: Integration step while output ramps after a start (seconds).
RAMP_STEP_S = 1.0
#: Integration step for the synthetic history a new plant starts with (seconds): one step per
#: quarter-hour history slot (steps never straddle one), the history's own resolution. It was
#: 600 s, i.e. two steps per slot (600 + 300): a third more work in the read that seeds a
#: site (10,000 of them in a fleet), for no detail any register or curve shows.
HISTORY_STEP_S = 900.0
#: Grid-connection wait between "Starting" and "Run" (seconds); real inverters take 20-60 s.
STARTING_DELAY_S = 20.0
#: Time constant of the output ramp once connected (seconds).
RAMP_TAU_S = 8.0
#: Time constant of the inverter's internal temperature (seconds).
THERMAL_TAU_S = 900.0
#: Time constant of the battery's temperature (seconds): a heavy, well-insulated box.
BATTERY_THERMAL_TAU_S = 7200.0
#: Output and feed-in limits move at these rates (share of rating per second): a reduction
#: is carried out within a second, an increase ramps like a soft start (grid codes ask both).
LIMIT_DOWN_RATE = 1.0
LIMIT_UP_RATE = 0.1
#: The battery ramps through a set-point change at this many seconds per full BDC power.
BATTERY_RAMP_S = 2.0
#: Modes in which the inverter's relay is open: no PV, no battery, no output.
OFF_MODES = (Mode.STOP, Mode.EMERGENCY_STOP, Mode.FAULT)
#: Modes in which the battery can run.
BATTERY_MODES = (Mode.STANDBY, Mode.STARTING, Mode.RUN)


def _slew(value: float, target: float, up: float, down: float, dt: float) -> float:
    """``value`` moved towards ``target`` by at most ``up``/``down`` per second for ``dt`` s."""
    if value < target:
        return min(target, value + up * dt)
    return max(target, value - down * dt)


def _slew_time(value: float, target: float, up: float, down: float) -> float:
    """Seconds until a slewing ``value`` reaches ``target``."""
    if value < target:
        return (target - value) / up
    return (value - target) / down


class PlantIntegrator:
    """The moving part of a plant: integrates its physics from the last instant to the clock's.

    The attributes below are the configuration :class:`~mock_sungrow.plant.state.PlantState`
    sets before :meth:`_begin`; everything else is integration state.
    """

    model: InverterModel
    clock: Clock
    site: Site
    tz: ZoneInfo
    seed: int
    wobble: Wobble
    has_meter: bool
    battery: BatteryPack | None
    design: PvDesign
    bdc_rated_w: float
    off_grid: bool
    _rated: float
    _cloud: Callable[[float], float]
    _load: Callable[[datetime, float], float]
    _config: PlantSettings
    _change_sources: list[Callable[[float], None]]
    _applying_changes: bool
    _lock: threading.RLock
    _seed_at: float | None

    def _begin(self, now: float) -> None:
        """Set up the integration state at host time ``now``, with a plausible past."""
        self._t = now  # clock time up to which the plant has been integrated
        self._offset = 0.0  # plant clock minus host clock, changed by clock writes
        self._mode = Mode.STANDBY
        self._starting_until = 0.0
        self._ramp = 0.0
        self._limit_eff = self._limit_target()
        self._xcap_eff = self._export_cap_target()
        self._bat_offset = 0.0
        self._battery_w = 0.0
        self._regime = Regime.OFF
        self._heartbeat_t = -math.inf
        soc_seed = zlib.crc32(f"soc/{self.seed}".encode())
        self._soc = 30.0 + soc_seed % 400 / 10.0
        self._soh0 = 97.0 + soc_seed % 25 / 10.0
        self._bat_temp_c = 21.0
        #: The last integration step's end (host time, physics): the next step starts from
        #: it, so the integrand is continuous and each instant is computed once.
        self._last: tuple[float, Instant] | None = None
        self._counters = Counters()
        self._history = History(self)
        self._temp_c = ambient_temperature_c(now, self.site)
        # The plausible past is replayed when the plant is first integrated (every read and
        # every change integrates first), not here: a fleet builds ten thousand plants, most
        # of them read seconds later or never, and a replay costs up to ~20 ms at noon.
        self._seed_at: float | None = now

    @property
    def plant_settings(self) -> PlantSettings:
        """The limits, power factor and EMS settings in force."""
        return self._config

    @property
    def settings(self) -> EmsSettings:
        """The energy manager's settings in force."""
        return self._config.ems

    def local_time(self, t: float | None = None) -> datetime:
        """The plant clock (or host time ``t`` shifted onto it) in the site's time zone."""
        host = self.clock.time() if t is None else t
        return datetime.fromtimestamp(host + self._offset, self.tz)

    def power_limit_w(self) -> float:
        """The active-power ceiling the settings impose (rated power when unlimited)."""
        limit = self._config.power_limit_w
        return self._rated if limit is None else max(0.0, limit)

    def export_limit_w(self) -> float | None:
        """The feed-in limit the settings impose, or ``None`` when export is not limited."""
        return self._config.export_limit_w

    def _rebase_battery(self, t: float | None = None) -> None:
        """Keep the battery's power continuous across a change of settings or regime.

        Whatever jump the new settings make in the battery's target at host time ``t``
        (default: the integrated time) is taken up by an offset that then ramps out
        (:data:`BATTERY_RAMP_S` per full power).
        """
        if self.battery is None:
            return
        self._last = None
        when = self._t if t is None else t
        a = self._instant(when)
        if self._mode in BATTERY_MODES:
            self._bat_offset += self._battery_w - a.flows.battery_w
            a = self._instant(when)
        self._battery_w = a.flows.battery_w
        self._regime = a.flows.regime

    def _limit_target(self) -> float:
        return min(self._rated * (1.0 if self.model.is_hybrid else 1.1), self.power_limit_w())

    def _export_cap_target(self) -> float:
        limit = self.export_limit_w()
        return self._rated if limit is None else max(0.0, limit)

    def _regime_at(self, t: float, local: datetime) -> tuple[Regime, float]:
        """The EMS regime at host time ``t`` and the SoC ceiling it charges to."""
        s = self.settings
        if self.battery is None or self._mode not in BATTERY_MODES:
            return Regime.OFF, s.max_soc_pct
        if s.mode is EmsMode.EXTERNAL and t - self._heartbeat_t < EXTERNAL_EMS_TIMEOUT_S:
            return Regime.EXTERNAL, s.max_soc_pct
        if s.mode is EmsMode.FORCED:
            return Regime.FORCED, s.max_soc_pct
        window = s.charge_window(local)
        if window is not None:
            return Regime.SCHEDULED_CHARGE, min(s.max_soc_pct, window.target_soc_pct)
        return Regime.SELF_CONSUMPTION, s.max_soc_pct

    def _instant(
        self,
        t: float,
        ramp: float | None = None,
        *,
        soc: float | None = None,
        offset: float | None = None,
        limit: float | None = None,
        xcap: float | None = None,
    ) -> Instant:
        plant_t = t + self._offset
        g = clear_sky_ghi(solar_elevation_deg(plant_t, self.site.latitude, self.site.longitude))
        g *= self._cloud(plant_t)
        ambient = ambient_temperature_c(plant_t, self.site)
        cell = cell_temperature_c(ambient, g)
        available = pv_available_power_w(self.design, g, cell)
        r = self._ramp if ramp is None else ramp
        ac_limit = self._limit_eff if limit is None else limit
        export_cap = self._xcap_eff if xcap is None else xcap
        local = datetime.fromtimestamp(plant_t, self.tz)
        load = self._load(local, plant_t)
        running = self._mode is Mode.RUN and r > 0.0
        if not self.model.is_hybrid:
            ac_w = dc_w = 0.0
            if running:
                dc_cap = min(available, self.design.dc_limit_w)
                eff = inverter_efficiency(dc_cap / self.design.dc_limit_w)
                cap = ac_limit
                if export_cap < self._rated:
                    cap = min(cap, load + export_cap if self.has_meter else export_cap)
                ac_w = max(0.0, min(dc_cap * eff, cap)) * r
                dc_w = ac_w / eff if eff > 0 else 0.0
            direct = min(ac_w, load)
            flows = Flows(
                pv_w=dc_w, battery_w=0.0, ac_w=ac_w, load_w=load, grid_w=load - ac_w,
                loss_w=dc_w - ac_w, direct_w=direct, export_pv_w=max(0.0, ac_w - load),
                charge_pv_w=0.0, target_w=0.0, regime=Regime.OFF,
            )
            return Instant(g, ambient, cell, available, flows, 0.0, 0.0, 0.0)

        pv_avail = min(available, self.design.dc_limit_w) * r if running else 0.0
        soc_now = self._soc if soc is None else soc
        regime, ceiling = self._regime_at(t, local)
        s = self.settings
        pack = self.battery
        ch_a = dis_a = ch_max = dis_max = 0.0
        if pack is not None:
            ch_a, dis_a = pack.bms_current_limits(soc_now, self._bat_temp_c)
            volts = pack.open_circuit_v(soc_now)
            ch_max = min(self.bdc_rated_w, s.charge_limit_w, ch_a * volts) * min(
                1.0, max(0.0, (ceiling - soc_now) / SOC_TAPER_PCT))
            dis_max = min(self.bdc_rated_w, s.discharge_limit_w, dis_a * volts) * min(
                1.0, max(0.0, (soc_now - s.floor_pct) / SOC_TAPER_PCT))
        if self._mode in OFF_MODES:
            flows = Flows(
                pv_w=0.0, battery_w=0.0, ac_w=0.0, load_w=load, grid_w=load, loss_w=0.0,
                direct_w=0.0, export_pv_w=0.0, charge_pv_w=0.0, target_w=0.0,
                regime=Regime.OFF,
            )
        else:
            flows = dispatch(
                regime=regime,
                settings=s,
                pv_available_w=pv_avail,
                load_w=load,
                charge_max_w=ch_max,
                discharge_max_w=dis_max,
                offset_w=self._bat_offset if offset is None else offset,
                ac_limit_w=ac_limit,
                export_cap_w=export_cap if export_cap < self._rated else None,
                has_meter=self.has_meter,
                rated_w=self._rated,
                off_grid=self.off_grid,
            )
        return Instant(g, ambient, cell, available, flows, soc_now, ch_a, dis_a)

    def _target_temperature(self, inst: Instant) -> float:
        f = inst.flows
        work = max(abs(f.ac_w), abs(f.pv_w - f.battery_w))
        return inst.ambient_c + 4.0 + 28.0 * work / self._rated

    def _battery_target_temperature(self, inst: Instant) -> float:
        pack = self.battery
        if pack is None:
            return 20.0
        amps = abs(inst.flows.battery_w) / pack.nominal_voltage_v
        return 20.0 + 0.3 * (inst.ambient_c - 20.0) + 10.0 * (amps / pack.max_current_a) ** 2

    def _update_mode(self, t: float, inst: Instant) -> None:
        mode = self._mode
        if mode in OFF_MODES:
            self._ramp = 0.0
            return
        if mode is Mode.STANDBY and inst.available_w >= self.design.start_w:
            self._mode = Mode.STARTING
            self._starting_until = t + STARTING_DELAY_S
        elif mode is Mode.STARTING:
            if inst.available_w < self.design.start_w * 0.5:
                self._mode = Mode.STANDBY
            elif t >= self._starting_until:
                self._mode = Mode.RUN
                self._ramp = 0.0
        elif mode is Mode.RUN and inst.available_w < self.design.start_w * 0.5:
            self._mode = Mode.STANDBY
            self._ramp = 0.0

    def _next_midnight(self, t: float) -> float:
        local = self.local_time(t)
        nxt = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), self.tz)
        return nxt.timestamp() - self._offset

    def _roll_calendar(self, before: date, after: date) -> None:
        c = self._counters
        self._history.roll(before, after)
        if after != before:
            c.reset_daily()
        if (after.year, after.month) != (before.year, before.month):
            c.monthly_yield = 0.0

    def _events(self, t: float) -> list[float]:
        """Host times after ``t`` at which a ramp ends or the EMS regime can change."""
        events: list[float] = []
        rated = self._rated
        up, down = LIMIT_UP_RATE * rated, LIMIT_DOWN_RATE * rated
        target = self._limit_target()
        if self._limit_eff != target:
            events.append(t + _slew_time(self._limit_eff, target, up, down))
        target = self._export_cap_target()
        if self._xcap_eff != target:
            events.append(t + _slew_time(self._xcap_eff, target, up, down))
        if self.battery is None:
            return events
        if self._bat_offset != 0.0:
            events.append(t + abs(self._bat_offset) * BATTERY_RAMP_S / self.bdc_rated_w)
        s = self.settings
        if s.mode is EmsMode.EXTERNAL and t - self._heartbeat_t < EXTERNAL_EMS_TIMEOUT_S:
            events.append(self._heartbeat_t + EXTERNAL_EMS_TIMEOUT_S)
        if s.schedule:
            local = self.local_time(t)
            minute = local.hour * 60 + local.minute + local.second / 60.0
            midnight = datetime.combine(local.date(), datetime.min.time(), self.tz)
            for m in s.schedule_boundaries_min():
                if m > minute:
                    events.append((midnight + timedelta(minutes=m)).timestamp() - self._offset)
                    break
        return events

    def _advance_to(self, t_end: float, max_step: float = MAX_STEP_S) -> None:
        """Integrate from the last integrated time to ``t_end`` (host clock seconds).

        Changes due by ``t_end`` (see :meth:`add_change_source`) are applied first, each at
        its own instant; they integrate up to it themselves.
        """
        if self._seed_at is not None:  # first integration: replay the past first
            seed_at, self._seed_at = self._seed_at, None
            self._seed_history(seed_at)
        if self._change_sources and not self._applying_changes:
            self._applying_changes = True
            try:
                for source in self._change_sources:
                    source(t_end)
            finally:
                self._applying_changes = False
        if t_end - self._t > LEAP_AFTER_S:
            leap(self, t_end)  # whole days in coarse, closed-form blocks: bounded work
        else:
            self._step_to(t_end, max_step)

    def _step_to(self, t_end: float, max_step: float = MAX_STEP_S) -> None:
        """Integrate step by step from the last integrated time to ``t_end``."""
        t = self._t
        c = self._counters
        pack = self.battery
        rated = self._rated
        up, down = LIMIT_UP_RATE * rated, LIMIT_DOWN_RATE * rated
        bat_rate = self.bdc_rated_w / BATTERY_RAMP_S
        while t < t_end:
            a = self._instant_at(t)
            if pack is not None and a.flows.regime is not self._regime:
                # The EMS changed regime (heartbeat lapse, schedule window, start): ramp.
                self._rebase_battery(t)
                a = self._instant(t)
            midnight = self._next_midnight(t)
            step = RAMP_STEP_S if (self._mode is Mode.RUN and self._ramp < 0.999) else max_step
            if self._mode is Mode.STARTING:
                step = min(step, max(0.5, self._starting_until - t))
            # Never straddle a quarter hour, so the history slots get exactly their energy.
            next_slot = (math.floor((t + self._offset) / 900.0) + 1) * 900.0 - self._offset
            t1 = min(t_end, t + step, midnight, next_slot, *self._events(t))
            if t1 <= t:  # an event due now (rounding): take a tiny step past it
                t1 = min(t_end, t + 1e-6)
            dt = t1 - t
            ramp1 = (
                1.0 - (1.0 - self._ramp) * math.exp(-dt / RAMP_TAU_S)
                if self._mode is Mode.RUN
                else 0.0
            )
            limit1 = _slew(self._limit_eff, self._limit_target(), up, down, dt)
            xcap1 = _slew(self._xcap_eff, self._export_cap_target(), up, down, dt)
            offset1 = _slew(self._bat_offset, 0.0, bat_rate, bat_rate, dt)
            soc1 = self._soc
            if pack is not None:
                scale = 100.0 / 3600.0 / pack.capacity_wh
                soc1 = min(100.0, max(0.0, self._soc + a.flows.battery_w * dt * scale))
            b = self._instant(t1, ramp1, soc=soc1, offset=offset1, limit=limit1, xcap=xcap1)
            if pack is not None:
                # Corrector: evaluate the end of the step at the state of charge it reaches.
                soc_new = self._soc + (a.flows.battery_w + b.flows.battery_w) / 2 * dt * scale
                if abs(soc_new - soc1) > 1e-3:
                    b = self._instant(t1, ramp1, soc=soc_new, offset=offset1, limit=limit1,
                                      xcap=xcap1)
                    soc_new = (self._soc
                               + (a.flows.battery_w + b.flows.battery_w) / 2 * dt * scale)
                # The BMS never lets the state of charge pass the window it was charging into
                # (only long history-replay steps can get near this clamp).
                lo = min(self._soc, self.settings.floor_pct)
                hi = max(self._soc, self.settings.max_soc_pct)
                self._soc = min(100.0, max(0.0, min(hi, max(lo, soc_new))))
            self._integrate(t, a.flows, b.flows, dt)
            if self._mode is Mode.RUN:
                c.total_hours += dt / 3600.0
                c.daily_run_s += dt
            self._ramp = ramp1
            self._limit_eff, self._xcap_eff, self._bat_offset = limit1, xcap1, offset1
            self._battery_w = b.flows.battery_w
            self._regime = b.flows.regime
            alpha = 1.0 - math.exp(-dt / THERMAL_TAU_S)
            self._temp_c += (self._target_temperature(b) - self._temp_c) * alpha
            if pack is not None:
                alpha = 1.0 - math.exp(-dt / BATTERY_THERMAL_TAU_S)
                self._bat_temp_c += (self._battery_target_temperature(b)
                                     - self._bat_temp_c) * alpha
            mode_before = self._mode
            self._update_mode(t1, b)
            self._last = (t1, b) if self._mode is mode_before else None
            if t1 >= midnight:
                before = self.local_time(t1 - 1.0).date()
                self._roll_calendar(before, self.local_time(t1).date())
            t = t1
        self._t = max(self._t, t_end)

    def _integrate(self, t: float, a: Flows, b: Flows, dt: float) -> None:
        """Add the trapezoid integrals of one step's flows to every counter and the history."""
        out, pv, direct, exp_pv, charge_pv = self._counters.add(a, b, dt)
        pv_hist = pv if self.model.is_hybrid else out
        self._history.add(t, pv_hist, direct, exp_pv, charge_pv, dt=dt, powers=(
            (a.load_w + b.load_w) / 2, (a.grid_w + b.grid_w) / 2,
            (a.battery_w + b.battery_w) / 2))

    def _seed_history(self, now: float) -> None:
        """Give a fresh plant a plausible past: lifetime totals and today's energy so far."""
        c = self._counters
        rated_kw = self._rated / 1000.0
        age_days = 400 + zlib.crc32(f"age/{self.seed}".encode()) % 900
        c.total_yield = c.total_pv = rated_kw * 3.6 * age_days
        c.total_hours = 11.0 * age_days
        c.total_import = 6.0 * age_days
        c.total_export = c.total_export_pv = c.total_yield * 0.55
        c.total_direct = c.total_yield * 0.45
        if self.battery is not None:
            cycles = 0.8 * age_days
            c.total_charge = cycles * self.battery.capacity_kwh
            c.total_charge_pv = c.total_charge * 0.9
            c.total_discharge = c.total_charge * 0.95
            c.total_export = c.total_export_pv = c.total_yield * 0.35
            c.total_direct = c.total_yield * 0.4
        local = self.local_time(now)
        midnight = datetime.combine(local.date(), datetime.min.time(), self.tz).timestamp()
        c.monthly_yield = rated_kw * 3.6 * (local.day - 1)
        # Replay today from midnight with the plant's own rules, in coarse steps; the replay
        # adds today's energy to the daily, monthly and total counters alike.
        self._t = midnight - self._offset
        if self.battery is not None:  # start the replay settled, not ramping
            start = self._instant(self._t)
            self._battery_w, self._regime = start.flows.battery_w, start.flows.regime
        self._advance_to(now, max_step=HISTORY_STEP_S)

    def _instant_at(self, t: float) -> Instant:
        """The physics at host time ``t`` with the current state (reusing the last step's end)."""
        last = self._last
        if last is not None and last[0] == t:
            return last[1]
        return self._instant(t)
