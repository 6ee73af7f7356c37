"""The plant: the one piece of mutable state that every protocol front end reads and writes.

A :class:`PlantState` integrates the physics of :mod:`mock_sungrow.simulation` over time as the
clock moves, and hands out immutable :class:`PlantSnapshot` objects. Time is quantised into
ticks (one second by default): every read within a tick sees the same snapshot, whichever
front end asks, which is what "reading the same quantity twice in one instant gives the same
value" means in practice. Nothing runs in the background: the plant catches up with the clock
when it is read, in steps of at most a minute (a second while the output is ramping), so a test
can advance a manual clock by a day and get exact energy totals.

All access goes through one re-entrant lock, held only for computation (never across I/O), so
the test thread, the server's event loop and a control API can share one plant safely.
"""

from __future__ import annotations

import calendar
import enum
import math
import threading
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mock_sungrow.catalog import InverterModel
from mock_sungrow.clock import Clock
from mock_sungrow.simulation import (
    PvDesign,
    Site,
    Wobble,
    ambient_temperature_c,
    cell_temperature_c,
    clear_sky_ghi,
    inverter_efficiency,
    mpp_voltage_v,
    pv_available_power_w,
    solar_elevation_deg,
)

#: Longest integration step while nothing is ramping (seconds).
MAX_STEP_S = 60.0
#: Integration step while output ramps after a start (seconds).
RAMP_STEP_S = 1.0
#: Integration step for the synthetic history a new plant starts with (seconds).
HISTORY_STEP_S = 600.0
#: Grid-connection wait between "Starting" and "Run" (seconds); real inverters take 20-60 s.
STARTING_DELAY_S = 20.0
#: Time constant of the output ramp once connected (seconds).
RAMP_TAU_S = 8.0
#: Time constant of the inverter's internal temperature (seconds).
THERMAL_TAU_S = 900.0


class Mode(enum.Enum):
    """What the inverter is doing, independent of how a register encodes it."""

    STANDBY = "standby"
    STARTING = "starting"
    RUN = "run"
    STOP = "stop"
    EMERGENCY_STOP = "emergency-stop"


#: Input 5038 (string inverters), SGproto B.5.
WORK_STATE_1 = {
    Mode.RUN: 0x0000,
    Mode.STOP: 0x8000,
    Mode.EMERGENCY_STOP: 0x1500,
    Mode.STANDBY: 0x1400,
    Mode.STARTING: 0x1600,
}
#: Input 5081 (string inverters, U32 bit field).
WORK_STATE_2 = {
    Mode.RUN: (1 << 0) | (1 << 17),
    Mode.STOP: 1 << 1,
    Mode.EMERGENCY_STOP: 1 << 5,
    Mode.STANDBY: 1 << 4,
    Mode.STARTING: 1 << 6,
}
#: Input 13000 (hybrids). Only the small set every client knows (pysungrow raises on others).
RUNNING_STATE = {
    Mode.RUN: 0x0040,
    Mode.STOP: 0x0002,
    Mode.EMERGENCY_STOP: 0x0002,
    Mode.STANDBY: 0x0008,
    Mode.STARTING: 0x0020,
}

START_VALUE = 0xCF
STOP_VALUE = 0xCE
EMERGENCY_STOP_VALUE = 0xBB
SWITCH_ON = 0xAA


@dataclass(frozen=True, slots=True)
class PlantSnapshot:
    """Everything the plant measures at one instant, in engineering units.

    ``time`` is the plant's own clock (which a clock write can shift away from the host's);
    ``local`` is the same instant in the site's time zone. Power signs: ``grid_power_w`` is
    positive when importing, ``battery_power_w`` positive when charging.
    """

    time: float
    local: datetime
    mode: Mode
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
    daily_yield_kwh: float
    monthly_yield_kwh: float
    total_yield_kwh: float
    total_running_hours: float
    daily_running_minutes: float
    load_power_w: float
    grid_power_w: float
    battery_power_w: float
    battery_soc_pct: float
    daily_import_kwh: float
    total_import_kwh: float
    daily_export_kwh: float
    total_export_kwh: float
    daily_direct_kwh: float
    total_direct_kwh: float

    @property
    def phases(self) -> int:
        """Number of AC phases the inverter feeds."""
        return len(self.phase_voltage_v)

    @property
    def export_power_w(self) -> float:
        """Power fed into the grid (zero while importing)."""
        return max(0.0, -self.grid_power_w)


@dataclass(slots=True)
class _Counters:
    """Integrated quantities (kWh, hours), the part of the plant that has memory."""

    daily_yield: float = 0.0
    monthly_yield: float = 0.0
    total_yield: float = 0.0
    total_hours: float = 0.0
    daily_run_s: float = 0.0
    daily_import: float = 0.0
    total_import: float = 0.0
    daily_export: float = 0.0
    total_export: float = 0.0
    daily_direct: float = 0.0
    total_direct: float = 0.0


@dataclass(frozen=True, slots=True)
class _Instant:
    """Physics at one instant, before anything is rounded for a register."""

    irradiance: float
    ambient_c: float
    cell_c: float
    available_w: float
    dc_w: float
    ac_w: float
    load_w: float


def clock_with(current: datetime, words: Mapping[int, int]) -> datetime:
    """``current`` with some clock registers (documented 5000-5005: Y M D h m s) replaced.

    Raises :class:`ValueError` for an impossible date such as 30 February.
    """
    f = [current.year, current.month, current.day, current.hour, current.minute, current.second]
    for addr, word in words.items():
        f[addr - 5000] = word
    return datetime(f[0], f[1], f[2], f[3], f[4], f[5], tzinfo=current.tzinfo)


def house_load_w(local: datetime, wobble: Wobble, ts: float) -> float:
    """A household's demand: a base load, a morning and a larger evening peak."""
    hour = local.hour + local.minute / 60.0 + local.second / 3600.0
    morning = 700.0 * math.exp(-(((hour - 7.5) / 1.0) ** 2))
    evening = 1400.0 * math.exp(-(((hour - 19.0) / 1.6) ** 2))
    midday = 250.0 * math.exp(-(((hour - 13.0) / 2.5) ** 2))
    return max(80.0, (320.0 + morning + evening + midday) * (1.0 + 0.05 * wobble.term(ts, 8, 97.0)))


def default_serial(model: InverterModel, seed: int) -> str:
    """A Sungrow-looking serial (letter, four-digit year-week, six digits), stable per seed."""
    digest = zlib.crc32(f"{model.name}/{seed}".encode())
    return f"A{22 + digest % 4}{digest % 52 + 1:02d}{digest % 1_000_000:06d}"[:11]


_KINDS = ("pv", "direct", "export", "charge")


class _History:
    """Per-slot, per-day, per-month and per-year energies, as the SH*RT history arrays show.

    Today's 96 quarter-hour slots hold average power (W); the day, month and year arrays hold
    energy (kWh). Periods before the plant existed are filled with plausible, seeded values so
    that a fresh plant looks like one that has been running for a while.
    """

    def __init__(self, plant: PlantState) -> None:
        self.plant = plant
        self.today = {k: [0.0] * 96 for k in _KINDS}
        self.days: dict[str, dict[date, float]] = {k: {} for k in _KINDS}

    def add(self, t: float, pv: float, direct: float, export: float, charge: float) -> None:
        local = self.plant.local_time(t)
        slot = (local.hour * 60 + local.minute) // 15
        for kind, kwh in zip(_KINDS, (pv, direct, export, charge), strict=True):
            self.today[kind][slot] += kwh
            day = local.date()
            self.days[kind][day] = self.days[kind].get(day, 0.0) + kwh

    def roll(self, before: date, after: date) -> None:
        if after != before:
            for kind in _KINDS:
                self.today[kind] = [0.0] * 96

    def _synthetic_day(self, kind: str, day: date) -> float:
        rated_kw = self.plant.model.rated_power_w / 1000.0
        share = {"pv": 1.0, "direct": 0.45, "export": 0.55, "charge": 0.0}[kind]
        wobble = (zlib.crc32(f"{day.isoformat()}/{self.plant.seed}".encode()) % 400) / 1000.0
        return rated_kw * 3.6 * (0.8 + wobble) * share

    def _day(self, kind: str, day: date, today: date) -> float:
        if day > today:
            return 0.0
        recorded = self.days[kind].get(day)
        return recorded if recorded is not None else self._synthetic_day(kind, day)

    def view(self, kind: str, period: str, now: datetime) -> list[float | int | None]:
        today = now.date()
        if period == "today":
            return [kwh * 4000.0 for kwh in self.today[kind]]  # kWh per 15 min -> W
        if period == "days":
            month_days = calendar.monthrange(today.year, today.month)[1]
            return [
                self._day(kind, today.replace(day=d), today) if d <= month_days else 0.0
                for d in range(1, 32)
            ]
        if period == "months":
            return [
                sum(self._day(kind, date(today.year, m, d), today)
                    for d in range(1, calendar.monthrange(today.year, m)[1] + 1))
                for m in range(1, 13)
            ]
        # Years: the last 20 calendar years, the current one last. The plant's synthetic past
        # covers about three years; earlier years read 0 (it was not installed yet).
        years: list[float | int | None] = []
        for y in range(today.year - 19, today.year + 1):
            if y == today.year:
                start = date(y, 1, 1)
                span = (today - start).days + 1
                years.append(sum(self._day(kind, start + timedelta(days=i), today)
                                 for i in range(span)))
            elif y >= today.year - 2:
                years.append(self._synthetic_day(kind, date(y, 6, 1)) * 365)
            else:
                years.append(0.0)
        return years


class PlantState:
    """The simulated inverter and its surroundings.

    Construct it with a model and a clock; read it with :meth:`snapshot`; change it with
    :meth:`write_holding` (the register-level entry point every front end uses) or the
    convenience methods :meth:`start`, :meth:`stop` and :meth:`set_clock`.
    """

    def __init__(
        self,
        model: InverterModel,
        clock: Clock,
        *,
        site: Site | None = None,
        seed: int = 0,
        tick: float = 1.0,
        serial: str | None = None,
        cloud_factor: float = 1.0,
        grid_voltage_v: float = 230.0,
        grid_frequency_hz: float = 50.0,
        has_meter: bool | None = None,
        battery_kwh: float | None = None,
        holding_defaults: Mapping[int, int] | None = None,
    ) -> None:
        if tick <= 0:
            raise ValueError(f"tick must be positive seconds, got {tick!r}")
        if not 0.0 <= cloud_factor <= 1.5:
            raise ValueError(f"cloud_factor must be within 0..1.5, got {cloud_factor!r}")
        self.model = model
        self.clock = clock
        self.site = site or Site()
        try:
            self.tz = ZoneInfo(self.site.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.site.timezone!r}: {exc}") from None
        self.seed = seed
        self.tick = tick
        self.serial = serial if serial is not None else default_serial(model, seed)
        if not 1 <= len(self.serial.encode()) <= 20:
            raise ValueError("a serial number must be 1-20 bytes (10 registers)")
        self.cloud_factor = cloud_factor
        self.grid_voltage_v = grid_voltage_v
        self.grid_frequency_hz = grid_frequency_hz
        #: A smart meter at the grid connection (hybrids ship with one; string models do not).
        self.has_meter = model.is_hybrid if has_meter is None else has_meter
        #: Usable battery capacity; only hybrids can have one.
        self.battery_kwh = (9.6 if model.is_hybrid else 0.0) if battery_kwh is None else battery_kwh
        if self.battery_kwh < 0 or (self.battery_kwh > 0 and not model.is_hybrid):
            raise ValueError(
                f"battery_kwh={battery_kwh!r}: only hybrid (SH/MG) models take a battery, "
                "and its capacity cannot be negative"
            )
        #: Strings wired to each MPPT (commercial models run two per tracker).
        self.strings_per_mppt = 2 if model.rated_power_w >= 25_000 else 1
        #: Fault code shown in input 5045 while the inverter is in Fault (0 when healthy).
        self.fault_code = 0
        self.fault_time: datetime | None = None
        self.design = PvDesign.for_model(model, seed)
        self.wobble = Wobble.from_seed(seed)
        self._lock = threading.RLock()
        self._listeners: list[Callable[[], None]] = []

        #: Raw holding-register values (documented address -> word), the plant's settings.
        self.holding: dict[int, int] = dict(holding_defaults or {})
        self._start_addr = 13000 if model.is_hybrid else 5006
        self.holding.setdefault(self._start_addr, START_VALUE)

        now = clock.time()
        self._t = now  # clock time up to which the plant has been integrated
        self._offset = 0.0  # plant clock minus host clock, changed by clock writes
        self._mode = Mode.STANDBY
        self._starting_until = 0.0
        self._ramp = 0.0
        self._counters = _Counters()
        self._history = _History(self)
        self._temp_c = ambient_temperature_c(now, self.site)
        self._seed_history(now)
        self._cache_key: int | None = None
        self._cache: PlantSnapshot | None = None

    # ----------------------------------------------------------------------------- reading

    def now(self) -> float:
        """The plant's clock: the host clock plus any shift a clock write made."""
        return self.clock.time() + self._offset

    def snapshot(self) -> PlantSnapshot:
        """The plant at the current tick, integrating up to it first if the clock moved."""
        t = self.clock.time()
        key = math.floor(t / self.tick)
        cached = self._cache
        if cached is not None and key == self._cache_key:
            return cached
        with self._lock:
            if self._cache is not None and key == self._cache_key:
                return self._cache
            self._advance_to(max(t, self._t))
            snap = self._build_snapshot(self._t)
            self._cache, self._cache_key = snap, key
            return snap

    @property
    def lock(self) -> threading.RLock:
        """The plant's lock, for callers that must read and write atomically."""
        return self._lock

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (under the plant lock) whenever a write changes the plant."""
        self._listeners.append(callback)

    # ----------------------------------------------------------------------------- writing

    def write_holding(self, values: Mapping[int, int]) -> None:
        """Apply already-validated holding-register words atomically, with their effects.

        Validation (writability, ranges) is the register map's job; this method applies the
        side effects the plant owns: start/stop and the system clock.
        """
        with self._lock:
            self._advance_to(max(self.clock.time(), self._t))
            clock_words = {a: v for a, v in values.items() if 5000 <= a <= 5005}
            for addr, word in values.items():
                if not 5000 <= addr <= 5005:
                    self.holding[addr] = word
            if clock_words:
                self.set_clock(clock_with(self.local_time(), clock_words))
            if self._start_addr in values:
                self._apply_start_stop(values[self._start_addr])
            self._invalidate()

    def start(self) -> None:
        """Send the start command (0xCF), as a client writing the start/stop register would."""
        self.write_holding({self._start_addr: START_VALUE})

    def stop(self) -> None:
        """Send the stop command (0xCE): output falls to zero within seconds."""
        self.write_holding({self._start_addr: STOP_VALUE})

    def set_clock(self, when: datetime) -> None:
        """Set the plant's clock (a naive datetime is taken as the site's local time).

        Energy counters keep integrating on the host clock, so a jump creates no energy; a
        jump across midnight starts a new day for the daily counters, as on a real inverter.
        """
        if when.tzinfo is None:
            when = when.replace(tzinfo=self.tz)
        with self._lock:
            self._advance_to(max(self.clock.time(), self._t))
            before = self.local_time()
            self._offset = when.timestamp() - self.clock.time()
            after = self.local_time()
            self._roll_calendar(before.date(), after.date())
            self._invalidate()

    def local_time(self, t: float | None = None) -> datetime:
        """The plant clock (or host time ``t`` shifted onto it) in the site's time zone."""
        host = self.clock.time() if t is None else t
        return datetime.fromtimestamp(host + self._offset, self.tz)

    def set_cloud_factor(self, factor: float) -> None:
        """Scale clear-sky PV by ``factor`` from now on (0..1.5)."""
        if not 0.0 <= factor <= 1.5:
            raise ValueError(f"cloud_factor must be within 0..1.5, got {factor!r}")
        with self._lock:
            self._advance_to(max(self.clock.time(), self._t))
            self.cloud_factor = factor
            self._invalidate()

    def power_limit_w(self) -> float:
        """The active-power ceiling the settings impose (rated power when unlimited)."""
        rated = float(self.model.rated_power_w)
        h = self.holding
        if self.model.is_hybrid:
            if h.get(13089) == SWITCH_ON:
                return rated * h.get(13090, 1000) / 1000.0
            return rated
        if h.get(5007, SWITCH_ON) != SWITCH_ON:
            return rated
        limit = rated * h.get(5008, 1000) / 1000.0
        if 5039 in h:
            limit = min(limit, h[5039] * 100.0)
        return max(0.0, limit)

    # ----------------------------------------------------------------------- register helpers

    def work_state_1(self, snap: PlantSnapshot) -> int:
        """Input 5038 for this snapshot (string inverters)."""
        return WORK_STATE_1[snap.mode]

    def work_state_2(self, snap: PlantSnapshot) -> int:
        """Input 5081 bit field for this snapshot (string inverters)."""
        return WORK_STATE_2[snap.mode]

    def running_state(self, snap: PlantSnapshot) -> int:
        """Input 13000 for this snapshot (hybrids)."""
        return RUNNING_STATE[snap.mode]

    def fault_time_field(self, index: int) -> int:
        """Year, month, day, hour, minute or second of the last fault (0 when healthy)."""
        ft = self.fault_time
        if ft is None:
            return 0
        return (ft.year, ft.month, ft.day, ft.hour, ft.minute, ft.second)[index]

    def battery_voltage_v(self, snap: PlantSnapshot) -> float:
        """Pack voltage: 64 V per 3.2 kWh module (SBR-like), 52 V for low-voltage SH*K packs."""
        soc = snap.battery_soc_pct / 100.0
        if "K" in self.model.name and self.model.name.startswith("SH"):
            return 48.0 + 6.0 * soc
        modules = max(1, round(self.battery_kwh / 3.2))
        return modules * 64.0 * (0.95 + 0.1 * soc)

    def history(self, kind: str, period: str) -> list[float | int | None]:
        """The inverter's energy history arrays (inputs 6100-6806): see :class:`_History`."""
        with self._lock:
            return self._history.view(kind, period, self.local_time(self._t))

    # ----------------------------------------------------------------------------- internals

    def _invalidate(self) -> None:
        self._cache = None
        self._cache_key = None
        for callback in self._listeners:
            callback()

    def _apply_start_stop(self, word: int) -> None:
        if word == START_VALUE:
            if self._mode in (Mode.STOP, Mode.EMERGENCY_STOP):
                self._mode = Mode.STANDBY
                self._ramp = 0.0
                self._update_mode(self._t, self._instant(self._t))
        elif word == STOP_VALUE:
            self._mode = Mode.STOP
        elif word == EMERGENCY_STOP_VALUE:
            self._mode = Mode.EMERGENCY_STOP
            self._ramp = 0.0

    def _instant(self, t: float, ramp: float | None = None) -> _Instant:
        plant_t = t + self._offset
        g = clear_sky_ghi(solar_elevation_deg(plant_t, self.site.latitude, self.site.longitude))
        g *= self.cloud_factor * self.wobble.irradiance_factor(plant_t)
        ambient = ambient_temperature_c(plant_t, self.site)
        cell = cell_temperature_c(ambient, g)
        available = pv_available_power_w(self.design, g, cell)
        r = self._ramp if ramp is None else ramp
        dc_w = ac_w = 0.0
        if self._mode in (Mode.RUN,) and r > 0.0:
            dc_cap = min(available, self.design.dc_limit_w)
            eff = inverter_efficiency(dc_cap / self.design.dc_limit_w)
            ac_w = min(dc_cap * eff, self.power_limit_w()) * r
            dc_w = ac_w / eff if eff > 0 else 0.0
        local = datetime.fromtimestamp(plant_t, self.tz)
        load = house_load_w(local, self.wobble, plant_t)
        return _Instant(g, ambient, cell, available, dc_w, ac_w, load)

    def _target_temperature(self, inst: _Instant) -> float:
        return inst.ambient_c + 4.0 + 28.0 * inst.ac_w / self.model.rated_power_w

    def _update_mode(self, t: float, inst: _Instant) -> None:
        mode = self._mode
        if mode in (Mode.STOP, Mode.EMERGENCY_STOP):
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
            c.daily_yield = c.daily_run_s = 0.0
            c.daily_import = c.daily_export = c.daily_direct = 0.0
        if (after.year, after.month) != (before.year, before.month):
            c.monthly_yield = 0.0

    def _advance_to(self, t_end: float, max_step: float = MAX_STEP_S) -> None:
        """Integrate from the last integrated time to ``t_end`` (host clock seconds)."""
        t = self._t
        c = self._counters
        while t < t_end:
            midnight = self._next_midnight(t)
            step = RAMP_STEP_S if (self._mode is Mode.RUN and self._ramp < 0.999) else max_step
            if self._mode is Mode.STARTING:
                step = min(step, max(0.5, self._starting_until - t))
            # Never straddle a quarter hour, so the history slots get exactly their energy.
            next_slot = (math.floor((t + self._offset) / 900.0) + 1) * 900.0 - self._offset
            t1 = min(t_end, t + step, midnight, next_slot)
            dt = t1 - t
            a = self._instant(t)
            ramp1 = (
                1.0 - (1.0 - self._ramp) * math.exp(-dt / RAMP_TAU_S)
                if self._mode is Mode.RUN
                else 0.0
            )
            b = self._instant(t1, ramp1)
            hours = dt / 3600.0
            pv_kwh = (a.ac_w + b.ac_w) / 2.0 * hours / 1000.0
            load_kwh = (a.load_w + b.load_w) / 2.0 * hours / 1000.0
            direct = (min(a.ac_w, a.load_w) + min(b.ac_w, b.load_w)) / 2.0 * hours / 1000.0
            c.daily_yield += pv_kwh
            c.monthly_yield += pv_kwh
            c.total_yield += pv_kwh
            c.daily_direct += direct
            c.total_direct += direct
            c.daily_export += pv_kwh - direct
            c.total_export += pv_kwh - direct
            c.daily_import += load_kwh - direct
            c.total_import += load_kwh - direct
            self._history.add(t, pv_kwh, direct, pv_kwh - direct, 0.0)
            if self._mode is Mode.RUN:
                c.total_hours += hours
                c.daily_run_s += dt
            self._ramp = ramp1
            alpha = 1.0 - math.exp(-dt / THERMAL_TAU_S)
            self._temp_c += (self._target_temperature(b) - self._temp_c) * alpha
            self._update_mode(t1, b)
            if t1 >= midnight:
                before = self.local_time(t1 - 1.0).date()
                self._roll_calendar(before, self.local_time(t1).date())
            t = t1
        self._t = max(self._t, t_end)

    def _seed_history(self, now: float) -> None:
        """Give a fresh plant a plausible past: lifetime totals and today's yield so far."""
        c = self._counters
        rated_kw = self.model.rated_power_w / 1000.0
        age_days = 400 + zlib.crc32(f"age/{self.seed}".encode()) % 900
        c.total_yield = rated_kw * 3.6 * age_days
        c.total_hours = 11.0 * age_days
        c.total_import = 6.0 * age_days
        c.total_export = c.total_yield * 0.55
        c.total_direct = c.total_yield * 0.45
        local = self.local_time(now)
        midnight = datetime.combine(local.date(), datetime.min.time(), self.tz).timestamp()
        c.monthly_yield = rated_kw * 3.6 * (local.day - 1)
        # Replay today from midnight with the plant's own rules, in coarse steps; the replay
        # adds today's energy to the daily, monthly and total counters alike.
        self._t = midnight - self._offset
        self._advance_to(now, max_step=HISTORY_STEP_S)

    # ----------------------------------------------------------------------------- snapshot

    def _build_snapshot(self, t: float) -> PlantSnapshot:
        inst = self._instant(t)
        plant_t = t + self._offset
        w = self.wobble
        phases = self.model.phases
        nominal_v = self.grid_voltage_v
        volts = tuple(
            w.grid_voltage(plant_t + 37.0 * i, nominal_v) for i in range(phases)
        )
        pf_setting = (
            1.0 if self.model.is_hybrid else abs(self.holding.get(5019, 1000)) / 1000.0 or 1.0
        )
        p = inst.ac_w
        q = 0.0
        if p > 0.0:
            q = p * math.tan(math.acos(min(1.0, pf_setting))) + p * w.reactive_fraction(plant_t)
        s = math.hypot(p, q)
        pf = p / s if s > 0 else 1.0
        if q < 0:
            pf = -pf
        currents = tuple(
            (s / phases / v) if v > 0 else 0.0 for v in volts
        )
        n = self.model.mppt_count
        running = inst.dc_w > 0.0
        voltage = mpp_voltage_v(self.design, inst.irradiance, inst.cell_c)
        if voltage > 0.0 and not running:
            voltage *= 1.2  # an idle array sits near open-circuit voltage
        mppt_v = tuple(voltage * (1.0 - 0.01 * i) for i in range(n))
        mppt_i = tuple(
            (inst.dc_w * wgt / v) if (running and v > 0) else 0.0
            for wgt, v in zip(self.design.mppt_weights, mppt_v, strict=True)
        )
        c = self._counters
        return PlantSnapshot(
            time=plant_t,
            local=datetime.fromtimestamp(plant_t, self.tz),
            mode=self._mode,
            irradiance_w_m2=inst.irradiance,
            ambient_temperature_c=inst.ambient_c,
            dc_power_w=inst.dc_w,
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
            daily_yield_kwh=c.daily_yield,
            monthly_yield_kwh=c.monthly_yield,
            total_yield_kwh=c.total_yield,
            total_running_hours=c.total_hours,
            daily_running_minutes=c.daily_run_s / 60.0,
            load_power_w=inst.load_w,
            grid_power_w=inst.load_w - p,
            battery_power_w=0.0,
            battery_soc_pct=50.0,
            daily_import_kwh=c.daily_import,
            total_import_kwh=c.total_import,
            daily_export_kwh=c.daily_export,
            total_export_kwh=c.total_export,
            daily_direct_kwh=c.daily_direct,
            total_direct_kwh=c.total_direct,
        )
