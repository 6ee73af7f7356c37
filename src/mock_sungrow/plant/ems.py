"""A hybrid inverter's energy management: from settings and an instant to power flows.

Two pure pieces, no clock and no state:

* :class:`EmsSettings` is what the energy manager is told, in engineering terms (EMS mode,
  forced command and power, SoC window, backup reserve, charge/discharge limits, the
  forced-charge schedule). Which holding registers carry it, and how, is the device layer's
  business (:mod:`mock_sungrow.device.writes`): the plant never sees a word.
* :func:`dispatch` decides, for one instant, how much PV is used, what the battery does and
  what the converter delivers, given what the sun offers, what the house draws and what the
  battery can take. Every flow it returns satisfies, exactly,
  ``pv + discharge + import == load + charge + export + loss``.

Sign conventions: battery power is positive while charging; grid power is positive while
importing; converter AC power is positive while feeding the house or the grid.

EMS modes (SHproto V1.1.9 appendix 6): self-consumption, forced (compulsory) mode following the
battery command, external EMS (the same commands, valid while the heartbeat is fresh; the
inverter falls back to self-consumption ~20 s after it lapses), VPP and microgrid (both behave
as self-consumption here: there is no cloud to dispatch).
"""

from __future__ import annotations

import enum
import functools
import math
from dataclasses import dataclass, field
from datetime import datetime

from mock_sungrow.plant.physics import conversion_loss_w, dc_for_ac


class EmsMode(enum.Enum):
    """What the energy manager is asked to do with the battery."""

    SELF_CONSUMPTION = "self-consumption"
    FORCED = "forced"
    EXTERNAL = "external"
    VPP = "vpp"
    MICROGRID = "microgrid"


class BatteryCommand(enum.Enum):
    """The forced / external EMS command."""

    CHARGE = "charge"
    DISCHARGE = "discharge"
    STOP = "stop"


#: Seconds without a heartbeat after which external EMS mode falls back (spec B.4 quirks).
EXTERNAL_EMS_TIMEOUT_S = 20.0
#: Width (percent of capacity) over which charging fades out below the SoC ceiling and
#: discharging fades out above the floor: a BMS's constant-voltage phase, and what keeps the
#: state of charge inside the window without a hard cut.
SOC_TAPER_PCT = 2.0
#: Minutes in a day (a charge window's start and end lie in 0..1439).
DAY_MIN = 24 * 60
EVERY_DAY = frozenset(range(7))


class Regime(enum.Enum):
    """What the EMS is doing with the battery at an instant."""

    OFF = "off"  # inverter stopped or no battery
    SELF_CONSUMPTION = "self-consumption"
    SCHEDULED_CHARGE = "scheduled-charge"  # a forced-charge window
    FORCED = "forced"  # EMS forced mode
    EXTERNAL = "external"  # external EMS with a live heartbeat


@dataclass(frozen=True, slots=True)
class ChargeWindow:
    """One forced-charge period of the schedule, in minutes after local midnight."""

    start_min: int
    end_min: int
    target_soc_pct: float

    def contains(self, minute: float) -> bool:
        """Whether ``minute`` (after midnight) falls in the window (which may wrap midnight)."""
        if self.start_min == self.end_min:
            return False
        if self.start_min < self.end_min:
            return self.start_min <= minute < self.end_min
        return minute >= self.start_min or minute < self.end_min


def _percent(name: str, value: float) -> str | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 100
    return None if ok else f"{name} must be a percentage 0..100; got {value!r}"


def _watts(name: str, value: float) -> str | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 \
        and not math.isnan(value)
    return None if ok else f"{name} must be a power >= 0 W; got {value!r}"


@dataclass(frozen=True, slots=True)
class EmsSettings:
    """What a hybrid's energy manager is told, in engineering units.

    The defaults are what an inverter does when nothing was configured: self-consumption,
    no forced command, the whole SoC window but a 5 % floor, no limits beyond the battery
    converter's rating (``math.inf`` here; the plant applies its rating), no schedule.
    ``schedule_weekdays`` are the days the schedule applies (0 = Monday .. 6 = Sunday).
    """

    mode: EmsMode = EmsMode.SELF_CONSUMPTION
    command: BatteryCommand = BatteryCommand.STOP
    command_w: float = 0.0
    max_soc_pct: float = 100.0
    min_soc_pct: float = 5.0
    reserve_soc_pct: float = 0.0
    charge_limit_w: float = math.inf
    discharge_limit_w: float = math.inf
    schedule: tuple[ChargeWindow, ...] = ()
    schedule_weekdays: frozenset[int] = field(default=EVERY_DAY)
    start_charge_w: float = 100.0
    start_discharge_w: float = 100.0

    def problems(self) -> list[str]:
        """Why these settings cannot be applied (empty when they can)."""
        out = [p for p in (
            None if isinstance(self.mode, EmsMode) else f"mode must be an EmsMode; got "
                                                       f"{self.mode!r}",
            None if isinstance(self.command, BatteryCommand) else
            f"command must be a BatteryCommand; got {self.command!r}",
            _watts("command_w", self.command_w),
            _percent("max_soc_pct", self.max_soc_pct),
            _percent("min_soc_pct", self.min_soc_pct),
            _percent("reserve_soc_pct", self.reserve_soc_pct),
            _watts("charge_limit_w", self.charge_limit_w),
            _watts("discharge_limit_w", self.discharge_limit_w),
            _watts("start_charge_w", self.start_charge_w),
            _watts("start_discharge_w", self.start_discharge_w),
        ) if p is not None]
        for i, w in enumerate(self.schedule, start=1):
            if not (0 <= w.start_min < DAY_MIN and 0 <= w.end_min < DAY_MIN):
                out.append(f"charge window {i}: start and end are minutes 0..{DAY_MIN - 1}")
            problem = _percent(f"charge window {i} target_soc_pct", w.target_soc_pct)
            if problem is not None:
                out.append(problem)
        if not self.schedule_weekdays <= EVERY_DAY:
            out.append("schedule_weekdays are 0 (Monday) .. 6 (Sunday)")
        return out

    def check(self) -> None:
        """Raise :class:`ValueError` naming every setting that cannot be applied."""
        problems = self.problems()
        if problems:
            raise ValueError("EMS settings: " + "; ".join(problems))

    @property
    def floor_pct(self) -> float:
        """The lowest state of charge the EMS discharges to: min SoC or the backup reserve."""
        return max(self.min_soc_pct, self.reserve_soc_pct)

    def charge_window(self, local: datetime) -> ChargeWindow | None:
        """The forced-charge window active at ``local`` time, if any."""
        if not self.schedule or local.weekday() not in self.schedule_weekdays:
            return None
        minute = local.hour * 60 + local.minute + local.second / 60.0
        for window in self.schedule:
            if window.contains(minute):
                return window
        return None

    def schedule_boundaries_min(self) -> tuple[int, ...]:
        """Minutes after midnight where a forced-charge window starts or ends."""
        return tuple(sorted({m for w in self.schedule for m in (w.start_min, w.end_min)}))


@dataclass(frozen=True, slots=True)
class Flows:
    """Power flows at one instant (W). See the module docstring for the signs."""

    pv_w: float  # PV power used (DC)
    battery_w: float  # + charging, - discharging (DC, at the battery terminals)
    ac_w: float  # converter AC output (negative while it draws from the grid)
    load_w: float
    grid_w: float  # + import, - export
    loss_w: float
    direct_w: float  # PV energy going straight to the load (AC)
    export_pv_w: float  # export that came from PV (AC)
    charge_pv_w: float  # battery charge that came from PV (DC)
    target_w: float  # the battery power the EMS aims at before any ramp
    regime: Regime


@functools.lru_cache(maxsize=64)
def _dc_floor(rated_w: float) -> float:
    """The most a converter of ``rated_w`` can put into the battery from the grid (negative)."""
    return dc_for_ac(-rated_w, rated_w)


def _attribute(pv: float, bat: float, ac: float, load: float) -> tuple[float, float, float]:
    """Split the converter's output by origin: (direct, export from PV, charge from PV).

    PV serves the battery first when charging (what an SH unit reports as "battery charge
    from PV"), the load before the grid, and shares the AC output with the battery in
    proportion to their DC contributions while discharging.
    """
    if bat >= 0.0:
        charge_pv = min(bat, pv)
        ac_pv = max(ac, 0.0) if pv - charge_pv > 0.0 else 0.0
    else:
        charge_pv = 0.0
        dc = pv - bat
        ac_pv = max(ac, 0.0) * pv / dc if dc > 0.0 else 0.0
    direct = min(ac_pv, load)
    return direct, max(0.0, min(ac_pv - direct, ac - load)), charge_pv


def _island(regime: Regime, pv_available_w: float, load_w: float, *, charge_max_w: float,
            discharge_max_w: float, ac_limit_w: float, rated_w: float) -> Flows:
    """Off-grid flows: no import, no export; the battery balances PV against the load."""
    pv = max(0.0, pv_available_w)
    served = min(load_w, max(0.0, ac_limit_w))
    need_dc = dc_for_ac(served, rated_w)
    bat = 0.0 if regime is Regime.OFF else min(charge_max_w, max(-discharge_max_w, pv - need_dc))
    if pv - bat > need_dc:  # the battery is full: curtail PV
        pv = need_dc + bat
    return _settle(pv, bat, bat, regime, rated_w)  # pv - bat lies in [0, need_dc]


def _settle(pv: float, bat: float, target: float, regime: Regime, rated_w: float, *,
            load_w: float | None = None) -> Flows:
    """The flows once PV and battery are decided.

    The converter's loss, the AC side, the grid as what the house needs beyond it
    (``load_w=None``: off-grid, the house gets the AC output and the grid nothing), and who
    served whom.
    """
    dc = pv - bat
    loss = conversion_loss_w(dc, rated_w) if dc != 0.0 else 0.0
    ac = dc - loss
    load = ac if load_w is None else load_w
    direct, export_pv, charge_pv = _attribute(pv, bat, ac, load)
    return Flows(pv_w=pv, battery_w=bat, ac_w=ac, load_w=load, grid_w=load - ac, loss_w=loss,
                 direct_w=direct, export_pv_w=export_pv, charge_pv_w=charge_pv,
                 target_w=target, regime=regime)


def dispatch(
    *,
    regime: Regime,
    settings: EmsSettings,
    pv_available_w: float,
    load_w: float,
    charge_max_w: float,
    discharge_max_w: float,
    offset_w: float,
    ac_limit_w: float,
    export_cap_w: float | None,
    has_meter: bool,
    rated_w: float,
    off_grid: bool = False,
) -> Flows:
    """The flows at one instant.

    ``charge_max_w`` / ``discharge_max_w`` are what the battery may do right now (BMS, limits
    and SoC window already applied); ``offset_w`` is the part of a set-point change the
    battery has not ramped through yet; ``ac_limit_w`` is the converter's output ceiling
    (rating and power limitation) and ``export_cap_w`` the feed-in limit, if enabled.
    ``off_grid``: the grid is down and the inverter feeds the house from its backup port, so
    PV and battery must match the load (surplus PV is curtailed, and a load the battery cannot
    carry is shed: the backup port only delivers what it has).
    """
    if off_grid:
        return _island(regime, pv_available_w, load_w, charge_max_w=charge_max_w,
                       discharge_max_w=discharge_max_w, ac_limit_w=ac_limit_w, rated_w=rated_w)
    pv = max(0.0, pv_available_w)
    if regime is Regime.OFF:
        target = 0.0
    elif regime is Regime.SCHEDULED_CHARGE:
        target = charge_max_w
    elif regime in (Regime.FORCED, Regime.EXTERNAL):
        if settings.command is BatteryCommand.CHARGE:
            target = min(settings.command_w, charge_max_w)
        elif settings.command is BatteryCommand.DISCHARGE:
            target = -min(settings.command_w, discharge_max_w)
        else:
            target = 0.0
    elif has_meter:
        # Self-consumption: hold the grid at zero, the battery absorbing the difference.
        surplus = pv - dc_for_ac(load_w, rated_w)
        if surplus >= settings.start_charge_w:
            target = min(surplus, charge_max_w)
        elif surplus <= -settings.start_discharge_w:
            target = -min(-surplus, discharge_max_w)
        else:
            target = 0.0
    else:
        target = 0.0  # without a meter the inverter cannot see the house
    bat = min(charge_max_w, max(-discharge_max_w, target + offset_w))
    if regime is Regime.OFF:
        bat = 0.0

    # The converter's ceilings: its rating / power limitation, and the feed-in limit. (The DC
    # side always carries at least the AC side's power, so the inverse is needed only when
    # the DC power exceeds the AC ceiling itself.)
    out_cap = max(0.0, ac_limit_w)
    if export_cap_w is not None:
        out_cap = max(0.0, min(out_cap, load_w + export_cap_w if has_meter else export_cap_w))
    if pv - bat > out_cap:
        dc_cap = dc_for_ac(out_cap, rated_w)
        if pv - bat > dc_cap:
            if bat < 0.0:  # give up discharging first...
                bat = max(bat, min(0.0, pv - dc_cap))
            if pv - bat > dc_cap:  # ...then curtail PV
                pv = max(0.0, dc_cap + bat)
    dc_floor = _dc_floor(rated_w)  # charging from the grid is bounded by the rating
    if pv - bat < dc_floor:
        bat = pv - dc_floor
    return _settle(pv, bat, target, regime, rated_w, load_w=load_w)
