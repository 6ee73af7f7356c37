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

This module holds the commands and the snapshots; the stepping through time is
:mod:`mock_sungrow.plant.integrate`, the energy memory :mod:`~mock_sungrow.plant.counters` and
:mod:`~mock_sungrow.plant.history`, the surroundings :mod:`~mock_sungrow.plant.weather` and
:mod:`~mock_sungrow.plant.meter`.

All access goes through one re-entrant lock, held only for computation (never across I/O), so
the test thread, the server's event loop and a control API can share one plant safely.
"""

from __future__ import annotations

import math
import threading
import time
import zlib
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mock_sungrow.clock import Clock, RealClock
from mock_sungrow.plant.battery import BatteryPack, default_battery_kwh
from mock_sungrow.plant.commands import (
    Command,
    ConfigureEms,
    EmergencyStop,
    EmsHeartbeat,
    PlantSettings,
    SetClock,
    SetExportLimit,
    SetPowerFactor,
    SetPowerLimit,
    Start,
    Stop,
)
from mock_sungrow.plant.ems import EXTERNAL_EMS_TIMEOUT_S, EmsMode, EmsSettings
from mock_sungrow.plant.integrate import OFF_MODES
from mock_sungrow.plant.measure import PlantMeasurements
from mock_sungrow.plant.meter import SmartMeter
from mock_sungrow.plant.physics import PvDesign, Site, Wobble
from mock_sungrow.plant.snapshot import Mode, PlantSnapshot
from mock_sungrow.plant.weather import (
    CloudSetting,
    LoadProfile,
    make_cloud_function,
    make_load_function,
)

if TYPE_CHECKING:
    from mock_sungrow.device.catalog import InverterModel

#: Fault code of a grid outage (input 5045), and its bit in the hybrid grid-side fault word.
GRID_OUTAGE_CODE = 10
GRID_OUTAGE_BIT = 8

def default_serial(model: InverterModel, seed: int) -> str:
    """A Sungrow-looking serial (letter, four-digit year-week, six digits), stable per seed."""
    digest = zlib.crc32(f"{model.name}/{seed}".encode())
    return f"A{22 + digest % 4}{digest % 52 + 1:02d}{digest % 1_000_000:06d}"[:11]


class PlantState(PlantMeasurements):
    """The simulated inverter and its surroundings.

    Construct it with a model and a clock; read it with :meth:`snapshot`; change it with
    commands in engineering units (:mod:`mock_sungrow.plant.commands`, through
    :meth:`execute` or the shortcuts :meth:`start`, :meth:`stop`, :meth:`set_clock`,
    :meth:`set_power_limit`...) and the test shortcuts :meth:`set_battery_soc`,
    :meth:`trip`, :meth:`set_grid_outage`. ``settings`` are the settings it starts with
    (the device decodes them from its holding registers' defaults); ``lock`` lets the
    plants of one installation share a lock.
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
        battery_make: str = "sungrow",
        house_load: LoadProfile = None,
        settings: PlantSettings | None = None,
        lock: threading.RLock | None = None,
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
            BatteryPack.for_inverter(model, self.battery_kwh, seed, battery_make)
            if self.battery_kwh > 0 else None
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
        self._lock = lock if lock is not None else threading.RLock()
        self._listeners: list[Callable[[], None]] = []
        self._change_sources: list[Callable[[float], None]] = []
        self._applying_changes = False
        self._config = PlantSettings() if settings is None else settings
        problems = self._config.problems()
        if problems:
            raise ValueError("plant settings: " + "; ".join(problems))

        self._begin(clock.time())
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

    def external_ems_active(self, t: float | None = None) -> bool:
        """Whether external-EMS mode is in force: its heartbeat is fresh."""
        host = self.clock.time() if t is None else t
        return (self.settings.mode is EmsMode.EXTERNAL
                and host - self._heartbeat_t < EXTERNAL_EMS_TIMEOUT_S)

    # ----------------------------------------------------------------------------- writing

    def execute(self, *commands: Command) -> None:
        """Carry out ``commands`` together: every one is checked before any is applied.

        A command that cannot be carried out raises :class:`ValueError` and nothing changes.
        The plant integrates up to now under the old settings first, so a change never
        reaches into the past; whatever jump the new settings make in the battery's target
        is ramped out.
        """
        for command in commands:
            command.check(self)
        with self._lock:
            self._advance_to(max(self.clock.time(), self._t))
            for command in commands:
                command.apply(self)
            self._rebase_battery()
            self._invalidate()

    def start(self) -> None:
        """The start command (see :class:`~mock_sungrow.plant.commands.Start`)."""
        self.execute(Start())

    def stop(self) -> None:
        """The stop command: output falls to zero at once."""
        self.execute(Stop())

    def emergency_stop(self) -> None:
        """An emergency stop."""
        self.execute(EmergencyStop())

    def set_clock(self, when: datetime) -> None:
        """Set the plant's clock (a naive datetime is taken as the site's local time).

        Energy counters keep integrating on the host clock, so a jump creates no energy; a
        jump across midnight starts a new day for the daily counters, as on a real inverter.
        """
        self.execute(SetClock(when))

    def set_power_limit(self, watts: float | None) -> None:
        """Limit the active power to ``watts`` (``None``: the rating)."""
        self.execute(SetPowerLimit(watts))

    def set_export_limit(self, watts: float | None) -> None:
        """Limit the feed-in to ``watts`` (``None``: not limited)."""
        self.execute(SetExportLimit(watts))

    def set_power_factor(self, pf: float) -> None:
        """Run at power factor ``pf`` (signed, ``|pf|`` 0.8..1)."""
        self.execute(SetPowerFactor(pf))

    def configure_ems(self, settings: EmsSettings) -> None:
        """Give the energy manager new settings."""
        self.execute(ConfigureEms(settings))

    def ems_heartbeat(self) -> None:
        """The external EMS is alive (its commands hold for another timeout)."""
        self.execute(EmsHeartbeat())

    # The effects of commands, called by them under the lock once every one was checked.

    def _configure(self, settings: PlantSettings) -> None:
        self._config = settings

    def _heartbeat(self) -> None:
        self._heartbeat_t = self._t

    def _set_clock(self, when: datetime) -> None:
        if when.tzinfo is None:
            when = when.replace(tzinfo=self.tz)
        before = self.local_time()
        self._offset = when.timestamp() - self.clock.time()
        self._roll_calendar(before.date(), self.local_time().date())

    def _start(self) -> None:
        self._last = None
        # A start does not clear a fault: the inverter restarts when the fault is gone.
        if self._mode in (Mode.STOP, Mode.EMERGENCY_STOP):
            self._mode = Mode.STANDBY
            self._ramp = 0.0
            self._update_mode(self._t, self._instant(self._t))
        if self._mode in OFF_MODES:  # still in Fault: the relay stays open
            self._battery_w = 0.0
            self._bat_offset = 0.0

    def _stop(self, *, emergency: bool) -> None:
        self._last = None
        self._mode = Mode.EMERGENCY_STOP if emergency else Mode.STOP
        if emergency:
            self._ramp = 0.0
        self._battery_w = 0.0  # the relay opens: no ramp down
        self._bat_offset = 0.0

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

    def history(self, kind: str, period: str) -> list[float | int | None]:
        """The inverter's energy history arrays (inputs 6100-6806), and today's power curves.

        Today's load, grid and battery powers are kept beside the energies for the
        dashboard. It reads the plant as it stands: take a snapshot first to bring it up
        to the clock. See :class:`~mock_sungrow.plant.history.History`.
        """
        with self._lock:
            return self._history.view(kind, period, self.local_time(self._t))

    # ----------------------------------------------------------------------------- internals

    def _invalidate(self) -> None:
        self._last = None
        self._cache = None
        self._cache_key = None
        for callback in self._listeners:
            callback()
