"""The plant: the one piece of mutable state that every protocol front end reads and writes.

A :class:`PlantState` integrates the physics of :mod:`mock_sungrow.plant.physics` over time as the
clock moves, and hands out immutable :class:`PlantSnapshot` objects. Time is quantised into
ticks (one second by default): every read within a tick sees the same snapshot, whichever
front end asks, which is what "reading the same quantity twice in one instant gives the same
value" means in practice. Nothing runs in the background: the plant catches up with the clock
when it is read, in steps of at most a minute, so a test can advance a manual clock by a day
and get exact energy totals.

A hybrid (SH/MG) plant adds a battery (:mod:`mock_sungrow.plant.battery`) dispatched by an energy
manager (:mod:`mock_sungrow.plant.ems`), a house load and a smart meter at the grid connection.
Every flow is computed from one instantaneous balance, and energies are the trapezoid
integrals of those flows, so PV + discharge + import = load + charge + export + losses holds
for every counter as it does for every instant.

Set-points change with a ramp, never as a step: the PV soft start after a start command (an
exponential, stepped at one second), the output and feed-in limits (slew-rate limited: fast
down, slower up) and the battery (any jump its target makes, from a write or a change of EMS
regime, is ramped out linearly). A stop command opens the AC relay at once, as real units do.

All access goes through one re-entrant lock, held only for computation (never across I/O), so
the test thread, the server's event loop and a control API can share one plant safely.
"""

from __future__ import annotations

import calendar
import enum
import math
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mock_sungrow.clock import Clock, RealClock
from mock_sungrow.plant.battery import BatteryPack, default_battery_kwh
from mock_sungrow.plant.ems import (
    EMS_EXTERNAL,
    EMS_FORCED,
    EXTERNAL_EMS_TIMEOUT_S,
    SOC_TAPER_PCT,
    EmsSettings,
    Flows,
    Regime,
    dispatch,
)
from mock_sungrow.plant.physics import (
    CloudWalk,
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

if TYPE_CHECKING:
    from mock_sungrow.device.catalog import InverterModel

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
#: Time constant of the battery's temperature (seconds): a heavy, well-insulated box.
BATTERY_THERMAL_TAU_S = 7200.0
#: Output and feed-in limits move at these rates (share of rating per second): a reduction
#: is carried out within a second, an increase ramps like a soft start (grid codes ask both).
LIMIT_DOWN_RATE = 1.0
LIMIT_UP_RATE = 0.1
#: The battery ramps through a set-point change at this many seconds per full BDC power.
BATTERY_RAMP_S = 2.0
#: Battery and grid flows below this (W) do not set their power-flow bits (13001).
FLOW_BIT_THRESHOLD_W = 10.0


class Mode(enum.Enum):
    """What the inverter is doing, independent of how a register encodes it."""

    STANDBY = "standby"
    STARTING = "starting"
    RUN = "run"
    STOP = "stop"
    EMERGENCY_STOP = "emergency-stop"
    FAULT = "fault"


#: Input 5038 (string inverters), SGproto B.5.
WORK_STATE_1 = {
    Mode.RUN: 0x0000,
    Mode.STOP: 0x8000,
    Mode.EMERGENCY_STOP: 0x1500,
    Mode.STANDBY: 0x1400,
    Mode.STARTING: 0x1600,
    Mode.FAULT: 0x5500,
}
#: Input 5081 (string inverters, U32 bit field).
WORK_STATE_2 = {
    Mode.RUN: (1 << 0) | (1 << 17),
    Mode.STOP: 1 << 1,
    Mode.EMERGENCY_STOP: 1 << 5,
    Mode.STANDBY: 1 << 4,
    Mode.STARTING: 1 << 6,
    Mode.FAULT: (1 << 9) | (1 << 18),
}
#: Input 13000 (hybrids). Only the small set every client knows (pysungrow raises on others).
RUNNING_STATE = {
    Mode.RUN: 0x0040,
    Mode.STOP: 0x0002,
    Mode.EMERGENCY_STOP: 0x0002,
    Mode.STANDBY: 0x0008,
    Mode.STARTING: 0x0020,
    Mode.FAULT: 0x0100,
}
#: Input 13000 while a hybrid runs off-grid on its backup port (in the small, known set).
RUNNING_OFF_GRID = 0x1000
#: Fault code of a grid outage (input 5045), and its bit in the hybrid grid-side fault word.
GRID_OUTAGE_CODE = 10
GRID_OUTAGE_BIT = 8
#: Modes in which the inverter's relay is open: no PV, no battery, no output.
_OFF_MODES = (Mode.STOP, Mode.EMERGENCY_STOP, Mode.FAULT)
#: Input 13000 while an EMS regime owns the battery (also in the small, universally known set).
RUNNING_FORCED = 0x0800
RUNNING_EXTERNAL_EMS = 0x4000

START_VALUE = 0xCF
STOP_VALUE = 0xCE
EMERGENCY_STOP_VALUE = 0xBB
SWITCH_ON = 0xAA

_BATTERY_MODES = (Mode.STANDBY, Mode.STARTING, Mode.RUN)

#: What ``house_load`` accepts: see :func:`make_load_function`.
LoadProfile: TypeAlias = "float | Sequence[float] | Callable[[datetime], float] | None"
#: What ``cloud_factor`` accepts: see :func:`make_cloud_function`.
CloudSetting: TypeAlias = "float | str | CloudWalk"


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


@dataclass(slots=True)
class _Counters:
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
        self.daily_yield = self.daily_run_s = self.daily_pv = 0.0
        self.daily_import = self.daily_export = self.daily_export_pv = 0.0
        self.daily_direct = self.daily_charge = self.daily_charge_pv = 0.0
        self.daily_discharge = self.daily_load = self.daily_loss = 0.0


@dataclass(frozen=True, slots=True)
class _Instant:
    """Physics at one instant, before anything is rounded for a register."""

    irradiance: float
    ambient_c: float
    cell_c: float
    available_w: float
    flows: Flows
    soc: float
    charge_limit_a: float
    discharge_limit_a: float


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


def make_load_function(
    profile: LoadProfile, wobble: Wobble, scale: float
) -> Callable[[datetime, float], float]:
    """Turn the ``house_load`` setting into ``f(local_time, posix_ts) -> W``.

    ``None``: the default household curve (scaled for commercial ratings); a number: a
    constant load; 24 numbers: hourly values, interpolated linearly (the value of hour *h*
    holds at *h*:30); a callable: ``f(local_datetime) -> W``, called for every instant the
    plant computes (it must be a pure function of its argument to keep energies exact).
    """
    if profile is None:
        return lambda local, ts: house_load_w(local, wobble, ts) * scale
    if isinstance(profile, (int, float)) and not isinstance(profile, bool):
        if profile < 0 or not math.isfinite(profile):
            raise ValueError(f"house_load must be a non-negative number of W; got {profile!r}")
        constant = float(profile)
        return lambda local, ts: constant
    if callable(profile):
        fn = profile
        return lambda local, ts: max(0.0, float(fn(local)))
    if isinstance(profile, (str, bytes, bool)) or not isinstance(profile, Sequence):
        raise ValueError(  # noqa: TRY004 - every bad argument is a ValueError here
            f"house_load must be W, 24 hourly values or a function; got {profile!r}"
        )
    values = [float(v) for v in profile]
    if len(values) != 24 or any(v < 0 or not math.isfinite(v) for v in values):
        raise ValueError("house_load as a profile takes 24 non-negative hourly values in W")

    def hourly(local: datetime, ts: float) -> float:
        pos = local.hour + local.minute / 60.0 + local.second / 3600.0 - 0.5
        h0 = math.floor(pos)
        frac = pos - h0
        return values[h0 % 24] * (1.0 - frac) + values[(h0 + 1) % 24] * frac

    return hourly


def make_cloud_function(
    setting: CloudSetting, wobble: Wobble, seed: int
) -> Callable[[float], float]:
    """Turn the ``cloud_factor`` setting into ``f(posix_ts) -> share of clear sky``.

    A number is a constant factor (0..1.5); ``"random"`` is a :class:`CloudWalk` seeded from
    the plant's seed; a :class:`CloudWalk` is used as given. The slow haze of
    :meth:`Wobble.irradiance_factor` applies on top in every case.
    """
    if isinstance(setting, CloudWalk):
        walk = setting
        return lambda ts: walk.factor(ts) * wobble.irradiance_factor(ts)
    if isinstance(setting, str):
        if setting.strip().lower() not in ("random", "walk"):
            raise ValueError(
                f"cloud_factor must be a number 0..1.5, 'random' or a CloudWalk; got {setting!r}"
            )
        walk = CloudWalk(seed=seed)
        return lambda ts: walk.factor(ts) * wobble.irradiance_factor(ts)
    if isinstance(setting, bool) or not isinstance(setting, (int, float)) \
            or not 0.0 <= setting <= 1.5:
        raise ValueError(f"cloud_factor must be within 0..1.5, 'random' or a CloudWalk; "
                         f"got {setting!r}")
    constant = float(setting)
    return lambda ts: constant * wobble.irradiance_factor(ts)


def default_serial(model: InverterModel, seed: int) -> str:
    """A Sungrow-looking serial (letter, four-digit year-week, six digits), stable per seed."""
    digest = zlib.crc32(f"{model.name}/{seed}".encode())
    return f"A{22 + digest % 4}{digest % 52 + 1:02d}{digest % 1_000_000:06d}"[:11]


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
        self._month_cache: dict[tuple[str, date, int], float] = {}

    def add(self, t: float, pv: float, direct: float, export: float, charge: float) -> None:
        local = self.plant.local_time(t)
        slot = (local.hour * 60 + local.minute) // 15
        day = local.date()
        for kind, kwh in zip(_KINDS, (pv, direct, export, charge), strict=True):
            self.today[kind][slot] += kwh
            days = self.days[kind]
            days[day] = days.get(day, 0.0) + kwh

    def roll(self, before: date, after: date) -> None:
        if after != before:
            for kind in _KINDS:
                self.today[kind] = [0.0] * 96
            self._month_cache.clear()

    def _synthetic_day(self, kind: str, day: date) -> float:
        rated_kw = self.plant.model.rated_power_w / 1000.0
        shares = {"pv": 1.0, "direct": 0.45, "export": 0.55, "charge": 0.0}
        if self.plant.battery is not None:
            shares = {"pv": 1.0, "direct": 0.4, "export": 0.35, "charge": 0.25}
        wobble = (zlib.crc32(f"{day.isoformat()}/{self.plant.seed}".encode()) % 400) / 1000.0
        return rated_kw * 3.6 * (0.8 + wobble) * shares[kind]

    def _day(self, kind: str, day: date, today: date) -> float:
        if day > today:
            return 0.0
        recorded = self.days[kind].get(day)
        return recorded if recorded is not None else self._synthetic_day(kind, day)

    def _month(self, kind: str, year: int, month: int, today: date) -> float:
        """A month's energy; completed days are summed once per day and cached."""
        days_in = calendar.monthrange(year, month)[1]
        if (year, month) != (today.year, today.month):
            key = (kind, today, year * 100 + month)
            cached = self._month_cache.get(key)
            if cached is None:
                cached = sum(self._day(kind, date(year, month, d), today)
                             for d in range(1, days_in + 1))
                self._month_cache[key] = cached
            return cached
        key = (kind, today, 0)
        past = self._month_cache.get(key)
        if past is None:
            past = sum(self._day(kind, date(year, month, d), today)
                       for d in range(1, today.day))
            self._month_cache[key] = past
        return past + self._day(kind, today, today)

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
                self._month(kind, today.year, m, today) if m <= today.month else 0.0
                for m in range(1, 13)
            ]
        # Years: the last 20 calendar years, the current one last. The plant's synthetic past
        # covers about three years; earlier years read 0 (it was not installed yet).
        years: list[float | int | None] = []
        for y in range(today.year - 19, today.year + 1):
            if y == today.year:
                years.append(sum(self._month(kind, y, m, today)
                                 for m in range(1, today.month + 1)))
            elif y >= today.year - 2:
                years.append(self._synthetic_day(kind, date(y, 6, 1)) * 365)
            else:
                years.append(0.0)
        return years


class SmartMeter:
    """The meter at the grid connection point (a DTSU666-style three- or single-phase meter).

    It measures what the plant's balance puts through the connection, per phase: the house
    load is spread unevenly over the phases (seeded shares, as real houses are), while the
    inverter feeds every phase alike, so a phase can import while the total exports.
    """

    def __init__(self, phases: int, seed: int) -> None:
        self.phases = phases
        if phases == 1:
            self.load_shares: tuple[float, ...] = (1.0,)
        else:
            raw = [1.0 + 0.35 * math.sin(seed * 1.7 + i * 2.1) for i in range(3)]
            total = sum(raw)
            self.load_shares = tuple(r / total for r in raw)

    def phase_powers(self, load_w: float, ac_w: float) -> tuple[float, ...]:
        """Per-phase grid power (W, positive importing); sums to ``load_w - ac_w``."""
        per_phase_ac = ac_w / self.phases
        return tuple(load_w * share - per_phase_ac for share in self.load_shares)

    def phase_currents(
        self, powers: Sequence[float], volts: Sequence[float]
    ) -> tuple[float, ...]:
        """Per-phase current magnitude (A) at unity power factor."""
        return tuple(abs(p) / v if v > 0 else 0.0 for p, v in zip(powers, volts, strict=False))


class PlantState:
    """The simulated inverter and its surroundings.

    Construct it with a model and a clock; read it with :meth:`snapshot`; change it with
    :meth:`write_holding` (the register-level entry point every front end uses) or the
    convenience methods :meth:`start`, :meth:`stop`, :meth:`set_clock` and
    :meth:`set_battery_soc`.
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
        cloud_factor: CloudSetting = 1.0,
        grid_voltage_v: float = 230.0,
        grid_frequency_hz: float = 50.0,
        has_meter: bool | None = None,
        battery_kwh: float | None = None,
        house_load: LoadProfile = None,
        holding_defaults: Mapping[int, int] | None = None,
    ) -> None:
        if tick <= 0:
            raise ValueError(f"tick must be positive seconds, got {tick!r}")
        self.model = model
        self.clock = clock
        # Read on every request: skip a layer of calls for the wall clock.
        self._now = time.time if type(clock) is RealClock else clock.time
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
        self.wobble = Wobble.from_seed(seed)
        self.cloud_factor = cloud_factor
        self._cloud = make_cloud_function(cloud_factor, self.wobble, seed)
        self.grid_voltage_v = grid_voltage_v
        self.grid_frequency_hz = grid_frequency_hz
        #: A smart meter at the grid connection (hybrids ship with one; string models do not).
        self.has_meter = model.is_hybrid if has_meter is None else has_meter
        self.meter = SmartMeter(model.phases, seed)
        #: Usable battery capacity; only hybrids can have one.
        self.battery_kwh = default_battery_kwh(model) if battery_kwh is None else battery_kwh
        if not isinstance(self.battery_kwh, (int, float)) or isinstance(self.battery_kwh, bool) \
                or not math.isfinite(self.battery_kwh) or self.battery_kwh < 0 \
                or (self.battery_kwh > 0 and not model.is_hybrid) or self.battery_kwh > 10_000:
            raise ValueError(
                f"battery_kwh={battery_kwh!r}: only hybrid (SH/MG) models take a battery, "
                "and its capacity must be 0..10000 kWh"
            )
        self.battery: BatteryPack | None = (
            BatteryPack.for_inverter(model, self.battery_kwh, seed) if self.battery_kwh > 0
            else None
        )
        load_scale = max(1.0, model.rated_power_w / 10_000.0)
        self._load = make_load_function(house_load, self.wobble, load_scale)
        #: Strings wired to each MPPT (commercial models run two per tracker).
        self.strings_per_mppt = 2 if model.rated_power_w >= 25_000 else 1
        #: Fault code shown in input 5045 while the inverter is in Fault (0 when healthy).
        self.fault_code = 0
        self.fault_time: datetime | None = None
        #: Hybrid fault words (input 13050-13078) by register name; absent names read 0.
        self.fault_words: dict[str, int] = {}
        #: The grid is down and a hybrid runs its backup port from PV and battery.
        self.off_grid = False
        self.design = PvDesign.for_model(model, seed)
        self._rated = float(model.rated_power_w)
        #: Battery-side converter rating (input 5628); Sungrow sizes it like the AC side.
        self.bdc_rated_w = self._rated
        self._lock = threading.RLock()
        self._listeners: list[Callable[[], None]] = []
        self._change_sources: list[Callable[[float], None]] = []
        self._applying_changes = False

        #: Raw holding-register values (documented address -> word), the plant's settings.
        self.holding: dict[int, int] = dict(holding_defaults or {})
        self._start_addr = 13000 if model.is_hybrid else 5006
        self.holding.setdefault(self._start_addr, START_VALUE)
        if self.battery is not None and self.battery.kind == "lv":
            # SH*K: the low-voltage battery's nominal voltage and capacity are settings.
            self.holding[13056] = round(self.battery.nominal_voltage_v * 10)
            self.holding[13057] = round(self.battery.capacity_ah)
        self._settings: EmsSettings | None = None

        now = clock.time()
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
        soc_seed = zlib.crc32(f"soc/{seed}".encode())
        self._soc = 30.0 + soc_seed % 400 / 10.0
        self._soh0 = 97.0 + soc_seed % 25 / 10.0
        self._bat_temp_c = 21.0
        #: The last integration step's end (host time, physics): the next step starts from
        #: it, so the integrand is continuous and each instant is computed once.
        self._last: tuple[float, _Instant] | None = None
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
        t = self._now()
        key = int(t // self.tick)
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

    def add_change_source(self, callback: Callable[[float], None]) -> None:
        """Call ``callback(t)`` (under the plant lock) before integrating up to host time ``t``.

        Changes scheduled outside the plant (a fault that ends on its own) are due at their
        own instants, not when somebody next reads. The source applies every change due by
        ``t`` there, each through a method taking ``at`` (:meth:`trip`, :meth:`recover`,
        :meth:`set_grid_outage`), so the plant integrates up to the instant, changes, and
        carries on from it: a restart after a fault that ended a minute ago is a minute old.
        """
        self._change_sources.append(callback)

    @property
    def settings(self) -> EmsSettings:
        """The EMS settings the holding registers hold (decoded once per write)."""
        settings = self._settings
        if settings is None:
            settings = self._settings = EmsSettings.from_holding(
                self.holding, self.bdc_rated_w, self._rated
            )
        return settings

    def external_ems_active(self, t: float | None = None) -> bool:
        """Whether external-EMS mode (13050 = 3) is in force: its heartbeat is fresh."""
        host = self.clock.time() if t is None else t
        return (self.settings.mode == EMS_EXTERNAL
                and host - self._heartbeat_t < EXTERNAL_EMS_TIMEOUT_S)

    # ----------------------------------------------------------------------------- writing

    def write_holding(self, values: Mapping[int, int]) -> None:
        """Apply already-validated holding-register words atomically, with their effects.

        Validation (writability, ranges) is the register map's job; this method applies the
        side effects the plant owns: start/stop, the system clock, the EMS heartbeat, and the
        ramp from the battery's present power to whatever the new settings ask for.
        """
        with self._lock:
            self._advance_to(max(self.clock.time(), self._t))
            clock_words = {a: v for a, v in values.items() if 5000 <= a <= 5005}
            for addr, word in values.items():
                if not 5000 <= addr <= 5005:
                    self.holding[addr] = word
            self._settings = None
            if 13080 in values or (values.get(13050) == EMS_EXTERNAL):
                self._heartbeat_t = self._t
            if clock_words:
                self.set_clock(clock_with(self.local_time(), clock_words))
            if self._start_addr in values:
                self._apply_start_stop(values[self._start_addr])
            self._rebase_battery()
            self._invalidate()

    def start(self) -> None:
        """Send the start command (0xCF), as a client writing the start/stop register would."""
        self.write_holding({self._start_addr: START_VALUE})

    def stop(self) -> None:
        """Send the stop command (0xCE): output falls to zero at once."""
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
            self._rebase_battery()
            self._invalidate()

    def set_battery_soc(self, soc_pct: float) -> None:
        """Put the battery at ``soc_pct`` percent (a test's shortcut to a known state)."""
        if self.battery is None:
            raise ValueError(f"this {self.model.name} has no battery (battery_kwh=0)")
        if not 0.0 <= soc_pct <= 100.0:
            raise ValueError(f"state of charge is 0..100 %; got {soc_pct!r}")
        with self._lock:
            self._advance_to(max(self.clock.time(), self._t))
            self._soc = float(soc_pct)
            self._rebase_battery()
            self._invalidate()

    def local_time(self, t: float | None = None) -> datetime:
        """The plant clock (or host time ``t`` shifted onto it) in the site's time zone."""
        host = self.clock.time() if t is None else t
        return datetime.fromtimestamp(host + self._offset, self.tz)

    def _catch_up(self, at: float | None) -> None:
        """Integrate up to host time ``at`` (default now), where a change takes effect."""
        self._advance_to(max(self.clock.time() if at is None else at, self._t))

    def trip(self, code: int, *, at: float | None = None) -> None:
        """The inverter trips with fault ``code``: Fault state, output to zero, fault time set.

        On a hybrid the code also shows as bit 0 of "system fault 1" (input 13054). ``at`` is
        the host time it happens (default now; never before what was already integrated).
        """
        with self._lock:
            self._catch_up(at)
            self.fault_code = code
            self.fault_time = self.local_time(self._t)
            if self.model.is_hybrid:
                self.fault_words["system_fault_1"] = 1
            if self._mode is not Mode.STOP:
                self._mode = Mode.FAULT
            self._ramp = 0.0
            self._battery_w = 0.0
            self._bat_offset = 0.0
            self._last = None
            self._invalidate()

    def recover(self, *, at: float | None = None) -> None:
        """The fault is gone: back to Standby, from where the inverter starts up again.

        ``at`` is the host time the fault ended (default now): Starting and the soft start
        are timed from it.
        """
        with self._lock:
            self._catch_up(at)
            self.fault_code = 0
            self.fault_time = None
            self.fault_words.pop("system_fault_1", None)
            if self._mode is Mode.FAULT:
                self._mode = Mode.STANDBY
                self._last = None
                self._update_mode(self._t, self._instant(self._t))
            self._invalidate()

    def set_grid_outage(self, down: bool, *, at: float | None = None) -> None:
        """The grid fails (``True``) or returns, at host time ``at`` (default now).

        A string inverter trips with fault 10 (grid power outage) until the grid is back. A
        hybrid keeps running off-grid: its backup port is fed from PV and battery, nothing is
        imported or exported, 13000 reads 0x1000, 13030 0xAA and the grid-side fault word
        bit 8.
        """
        if not self.model.is_hybrid:
            if down:
                self.trip(GRID_OUTAGE_CODE, at=at)
            else:
                self.recover(at=at)
            return
        with self._lock:
            self._catch_up(at)
            self.off_grid = down
            if down:
                self.fault_words["grid_side_fault"] = 1 << GRID_OUTAGE_BIT
            else:
                self.fault_words.pop("grid_side_fault", None)
            self._rebase_battery()
            self._invalidate()

    def set_cloud_factor(self, factor: CloudSetting) -> None:
        """Change the weather from now on (a number 0..1.5, ``"random"`` or a CloudWalk)."""
        cloud = make_cloud_function(factor, self.wobble, self.seed)
        with self._lock:
            self._advance_to(max(self.clock.time(), self._t))
            self.cloud_factor = factor
            self._cloud = cloud
            self._invalidate()

    def power_limit_w(self) -> float:
        """The active-power ceiling the settings impose (rated power when unlimited)."""
        rated = self._rated
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

    def export_limit_w(self) -> float | None:
        """The feed-in limit the settings impose, or ``None`` when export is not limited.

        Hybrids: 13087 on, 13074 (W) and 13088 (0.1 % of rating); string models with the
        KTL-M block: 5010 on, 5011 (W) and 5015 (0.1 % of rating).
        """
        h = self.holding
        if self.model.is_hybrid:
            return self.settings.export_limit_w
        if h.get(5010) != SWITCH_ON:
            return None
        return min(float(h.get(5011, self._rated)), h.get(5015, 1000) / 1000.0 * self._rated)

    # ----------------------------------------------------------------------- register helpers

    def work_state_1(self, snap: PlantSnapshot) -> int:
        """Input 5038 for this snapshot (string inverters)."""
        return WORK_STATE_1[snap.mode]

    def work_state_2(self, snap: PlantSnapshot) -> int:
        """Input 5081 bit field for this snapshot (string inverters)."""
        return WORK_STATE_2[snap.mode]

    def running_state(self, snap: PlantSnapshot) -> int:
        """Input 13000 for this snapshot (hybrids): the mode, or the EMS regime in charge."""
        if self.off_grid and snap.mode in (Mode.STANDBY, Mode.STARTING, Mode.RUN):
            return RUNNING_OFF_GRID
        if snap.mode in (Mode.STANDBY, Mode.RUN):
            if snap.regime is Regime.EXTERNAL:
                return RUNNING_EXTERNAL_EMS
            if snap.regime is Regime.FORCED:
                return RUNNING_FORCED
        return RUNNING_STATE[snap.mode]

    def power_flow_bits(self, snap: PlantSnapshot) -> int:
        """Input 13001: which flows are present (bits 0-5; the thresholds ignore noise)."""
        bits = 0
        if snap.dc_power_w > 0.0:
            bits |= 1 << 0
        if snap.battery_power_w > FLOW_BIT_THRESHOLD_W:
            bits |= 1 << 1
        if snap.battery_power_w < -FLOW_BIT_THRESHOLD_W:
            bits |= 1 << 2
        if snap.load_power_w > 0.0:
            bits |= 1 << 3
        if snap.grid_power_w < -FLOW_BIT_THRESHOLD_W:
            bits |= 1 << 4
        if snap.grid_power_w > FLOW_BIT_THRESHOLD_W:
            bits |= 1 << 5
        return bits

    def fault_time_field(self, index: int) -> int:
        """Year, month, day, hour, minute or second of the last fault (0 when healthy)."""
        ft = self.fault_time
        if ft is None:
            return 0
        return (ft.year, ft.month, ft.day, ft.hour, ft.minute, ft.second)[index]

    def history(self, kind: str, period: str) -> list[float | int | None]:
        """The inverter's energy history arrays (inputs 6100-6806): see :class:`_History`."""
        with self._lock:
            return self._history.view(kind, period, self.local_time(self._t))

    # ----------------------------------------------------------------------------- internals

    def _invalidate(self) -> None:
        self._last = None
        self._cache = None
        self._cache_key = None
        for callback in self._listeners:
            callback()

    def _apply_start_stop(self, word: int) -> None:
        self._last = None
        if word == START_VALUE:
            # A start does not clear a fault: the inverter restarts when the fault is gone.
            if self._mode in (Mode.STOP, Mode.EMERGENCY_STOP):
                self._mode = Mode.STANDBY
                self._ramp = 0.0
                self._update_mode(self._t, self._instant(self._t))
        elif word == STOP_VALUE:
            self._mode = Mode.STOP
        elif word == EMERGENCY_STOP_VALUE:
            self._mode = Mode.EMERGENCY_STOP
            self._ramp = 0.0
        if self._mode in _OFF_MODES:
            self._battery_w = 0.0  # the relay opens: no ramp down
            self._bat_offset = 0.0

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
        if self._mode in _BATTERY_MODES:
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
        if self.battery is None or self._mode not in _BATTERY_MODES:
            return Regime.OFF, s.max_soc_pct
        if s.mode == EMS_EXTERNAL and t - self._heartbeat_t < EXTERNAL_EMS_TIMEOUT_S:
            return Regime.EXTERNAL, s.max_soc_pct
        if s.mode == EMS_FORCED:
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
    ) -> _Instant:
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
            return _Instant(g, ambient, cell, available, flows, 0.0, 0.0, 0.0)

        pv_avail = min(available, self.design.dc_limit_w) * r if running else 0.0
        soc_now = self._soc if soc is None else soc
        regime, ceiling = self._regime_at(t, local)
        s = self.settings
        pack = self.battery
        ch_a = dis_a = ch_max = dis_max = 0.0
        if pack is not None:
            ch_a, dis_a = pack.bms_current_limits(soc_now, self._bat_temp_c)
            volts = pack.open_circuit_v(soc_now)
            ch_max = min(s.charge_limit_w, ch_a * volts) * min(
                1.0, max(0.0, (ceiling - soc_now) / SOC_TAPER_PCT))
            dis_max = min(s.discharge_limit_w, dis_a * volts) * min(
                1.0, max(0.0, (soc_now - s.floor_pct) / SOC_TAPER_PCT))
        if self._mode in _OFF_MODES:
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
        return _Instant(g, ambient, cell, available, flows, soc_now, ch_a, dis_a)

    def _target_temperature(self, inst: _Instant) -> float:
        f = inst.flows
        work = max(abs(f.ac_w), abs(f.pv_w - f.battery_w))
        return inst.ambient_c + 4.0 + 28.0 * work / self._rated

    def _battery_target_temperature(self, inst: _Instant) -> float:
        pack = self.battery
        if pack is None:
            return 20.0
        amps = abs(inst.flows.battery_w) / pack.nominal_voltage_v
        return 20.0 + 0.3 * (inst.ambient_c - 20.0) + 10.0 * (amps / pack.max_current_a) ** 2

    def _update_mode(self, t: float, inst: _Instant) -> None:
        mode = self._mode
        if mode in _OFF_MODES:
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
        if s.mode == EMS_EXTERNAL and t - self._heartbeat_t < EXTERNAL_EMS_TIMEOUT_S:
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
        if self._change_sources and not self._applying_changes:
            self._applying_changes = True
            try:
                for source in self._change_sources:
                    source(t_end)
            finally:
                self._applying_changes = False
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
        """Add the trapezoid integrals of one step's flows to every counter."""
        c = self._counters
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
        pv_hist = pv if self.model.is_hybrid else out
        self._history.add(t, pv_hist, direct, exp_pv, charge_pv)

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

    # ----------------------------------------------------------------------------- snapshot

    def _instant_at(self, t: float) -> _Instant:
        """The physics at host time ``t`` with the current state (reusing the last step's end)."""
        last = self._last
        if last is not None and last[0] == t:
            return last[1]
        return self._instant(t)

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
        pf_setting = (
            1.0 if self.model.is_hybrid else abs(self.holding.get(5019, 1000)) / 1000.0 or 1.0
        )
        p = f.ac_w
        q = 0.0
        if p != 0.0:
            q = abs(p) * math.tan(math.acos(min(1.0, pf_setting))) + abs(p) * w.reactive_fraction(
                plant_t)
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
