"""Pure physics: from a time, a site and a model to what a PV plant would measure.

Everything here is a function of its arguments, with no state and no clock. That keeps the
plant (which integrates these over time) honest and makes each formula testable alone. The
models are deliberately simple but shaped like reality:

* sun position from the NOAA "general solar position" approximations;
* clear-sky global horizontal irradiance from Haurwitz's model;
* cell temperature from ambient plus an irradiance term (NOCT-like);
* module power with a -0.4 %/K temperature coefficient, clipped at the inverter's DC limit;
* MPP voltage falling with temperature and rising with the log of irradiance;
* inverter efficiency from a self-consumption plus resistive-loss curve (peaks near 98 %);
* a hybrid's conversion losses as an explicit loss power (no-load plus resistive), so that a
  battery inverter's energy balance closes exactly, and its inverse.

Weather (clouds) and the house load are in :mod:`mock_sungrow.plant.weather`.

Small "flicker" terms are smooth sums of sines with seeded phases rather than random draws, so
values are identical whenever the same instant is computed, and an integral over a day is
accurate with minute steps.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mock_sungrow.device.catalog import InverterModel

TWO_PI = 2.0 * math.pi


@dataclass(frozen=True, slots=True)
class Site:
    """Where the plant stands. The default is Sydney, a large Sungrow market on a 50 Hz grid."""

    latitude: float = -33.87
    longitude: float = 151.21
    timezone: str = "Australia/Sydney"

    def __post_init__(self) -> None:
        if not -90.0 <= self.latitude <= 90.0:
            raise ValueError(f"latitude must be within -90..90 degrees, got {self.latitude}")
        if not -180.0 <= self.longitude <= 180.0:
            raise ValueError(f"longitude must be within -180..180 degrees, got {self.longitude}")


def solar_elevation_deg(ts: float, latitude: float, longitude: float) -> float:
    """Sun elevation above the horizon in degrees at POSIX time ``ts`` (NOAA approximation)."""
    utc = datetime.fromtimestamp(ts, timezone.utc)
    day_of_year = utc.timetuple().tm_yday
    hours = utc.hour + utc.minute / 60.0 + (utc.second + utc.microsecond / 1e6) / 3600.0
    gamma = TWO_PI / 365.0 * (day_of_year - 1 + (hours - 12.0) / 24.0)
    eqtime = 229.18 * (
        0.000075
        + 0.001868 * math.cos(gamma)
        - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma)
        - 0.040849 * math.sin(2 * gamma)
    )
    decl = (
        0.006918
        - 0.399912 * math.cos(gamma)
        + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma)
        + 0.000907 * math.sin(2 * gamma)
        - 0.002697 * math.cos(3 * gamma)
        + 0.00148 * math.sin(3 * gamma)
    )
    true_solar_minutes = hours * 60.0 + eqtime + 4.0 * longitude
    hour_angle = math.radians(true_solar_minutes / 4.0 - 180.0)
    lat = math.radians(latitude)
    cos_zenith = math.sin(lat) * math.sin(decl) + math.cos(lat) * math.cos(decl) * math.cos(
        hour_angle
    )
    cos_zenith = max(-1.0, min(1.0, cos_zenith))
    return 90.0 - math.degrees(math.acos(cos_zenith))


def clear_sky_ghi(elevation_deg: float) -> float:
    """Clear-sky global horizontal irradiance in W/m² (Haurwitz); zero below the horizon."""
    if elevation_deg <= 0.0:
        return 0.0
    cos_z = math.sin(math.radians(elevation_deg))
    return 1098.0 * cos_z * math.exp(-0.059 / cos_z)


def ambient_temperature_c(ts: float, site: Site) -> float:
    """Air temperature: a seasonal mean plus a daily swing peaking mid-afternoon."""
    utc = datetime.fromtimestamp(ts, timezone.utc)
    day = utc.timetuple().tm_yday
    # Warmest around day 200 in the north, day 15 in the south.
    peak_day = 200 if site.latitude >= 0 else 15
    seasonal = 15.0 + 8.0 * math.cos(TWO_PI * (day - peak_day) / 365.0)
    solar_hours = (utc.hour + utc.minute / 60.0 + site.longitude / 15.0) % 24.0
    daily = 6.0 * math.cos(TWO_PI * (solar_hours - 15.0) / 24.0)
    return seasonal + daily


@dataclass(frozen=True, slots=True)
class Wobble:
    """Seeded phases for the smooth "flicker" terms that make values look alive."""

    phases: tuple[float, ...]

    @classmethod
    def from_seed(cls, seed: int) -> Wobble:
        """Derive a fixed set of phases from ``seed``."""
        rng = random.Random(seed)
        return cls(tuple(rng.uniform(0.0, TWO_PI) for _ in range(12)))

    def term(self, ts: float, index: int, period_s: float) -> float:
        """A unit sine with period ``period_s`` and the ``index``-th seeded phase."""
        return math.sin(TWO_PI * ts / period_s + self.phases[index % len(self.phases)])

    def irradiance_factor(self, ts: float) -> float:
        """About ±1.5 % of slow variation: haze and thin cloud on a clear day."""
        return (
            1.0
            + 0.008 * self.term(ts, 0, 420.0)
            + 0.005 * self.term(ts, 1, 780.0)
            + 0.004 * self.term(ts, 2, 1740.0)
        )

    def grid_voltage(self, ts: float, nominal: float) -> float:
        """Grid voltage within about ±1 % of nominal."""
        return nominal * (1.0 + 0.006 * self.term(ts, 3, 900.0) + 0.003 * self.term(ts, 4, 131.0))

    def grid_frequency(self, ts: float, nominal: float) -> float:
        """Grid frequency within about ±0.03 Hz of nominal."""
        return nominal + 0.02 * self.term(ts, 5, 300.0) + 0.01 * self.term(ts, 6, 47.0)

    def reactive_fraction(self, ts: float) -> float:
        """Residual reactive power as a fraction of active power (about ±0.6 %)."""
        return 0.006 * self.term(ts, 7, 240.0)


@dataclass(frozen=True, slots=True)
class PvDesign:
    """The PV array behind an inverter, sized from the model's rating."""

    array_w: float  # STC power of the modules
    dc_limit_w: float  # the most DC power the inverter draws
    vmp_stc: float  # MPP voltage per tracker at STC
    mppt_weights: tuple[float, ...]  # share of DC power per tracker
    start_w: float  # DC power needed to start feeding in

    @classmethod
    def for_model(cls, model: InverterModel, seed: int) -> PvDesign:
        """A plausible array: DC/AC ratio 1.15, a string voltage suited to the model class."""
        rated = float(model.rated_power_w)
        if model.rated_power_w >= 100_000:
            vmp = 1050.0
        elif model.rated_power_w >= 25_000:
            vmp = 620.0
        elif model.phases == 3:
            vmp = 560.0
        else:
            vmp = 360.0
        rng = random.Random(seed ^ 0x5EED)
        raw = [1.0 - 0.04 * i + rng.uniform(-0.02, 0.02) for i in range(model.mppt_count)]
        total = sum(raw)
        return cls(
            array_w=rated * 1.15,
            # A hybrid's DC side also feeds the battery, so it takes more PV than its AC
            # rating (an SH10RT accepts 15 kW of PV); a string inverter clips at ~105 %.
            dc_limit_w=rated * (1.5 if model.is_hybrid else 1.05),
            vmp_stc=vmp,
            mppt_weights=tuple(w / total for w in raw),
            start_w=max(20.0, rated * 0.004),
        )


def cell_temperature_c(ambient_c: float, irradiance: float) -> float:
    """Module temperature: about 25 K above air at 800 W/m²."""
    return ambient_c + irradiance * (25.0 / 800.0)


def pv_available_power_w(design: PvDesign, irradiance: float, cell_c: float) -> float:
    """MPP power of the array before inverter limits."""
    if irradiance <= 0.0:
        return 0.0
    return max(0.0, design.array_w * irradiance / 1000.0 * (1.0 - 0.004 * (cell_c - 25.0)))


def mpp_voltage_v(design: PvDesign, irradiance: float, cell_c: float) -> float:
    """MPP voltage of one tracker; zero in the dark (the array is not producing)."""
    if irradiance <= 1.0:
        return 0.0
    g = max(irradiance, 20.0) / 1000.0
    return design.vmp_stc * (1.0 - 0.0035 * (cell_c - 25.0)) * (1.0 + 0.045 * math.log(g))


def inverter_efficiency(dc_fraction: float) -> float:
    """Conversion efficiency at a DC load fraction: ~92 % at 5 %, ~98 % near half load."""
    if dc_fraction <= 0.0:
        return 0.0
    return dc_fraction / (dc_fraction + 0.004 + 0.012 * dc_fraction * dc_fraction)


# ----------------------------------------------------------------------------- hybrids

#: No-load loss of a hybrid's converter as a share of its rating, and the resistive loss at
#: full power; together they give ~97-98 % at half load and ~92 % at 5 %.
NO_LOAD_LOSS = 0.004
RESISTIVE_LOSS = 0.012
#: The no-load loss fades in over the first 5 % of the rating, so losses are continuous at 0 W.
_FADE = 0.05


def conversion_loss_w(dc_w: float, rated_w: float) -> float:
    """Loss of a hybrid converter carrying ``dc_w`` (either direction), in W (never negative).

    The AC power is ``dc_w - conversion_loss_w(dc_w)`` in both directions: feeding the grid
    the AC side gets less than the DC side gives, charging from the grid the AC side gives
    more than the DC side gets. Keeping the loss explicit is what makes
    PV + discharge + import = load + charge + export + losses hold exactly.
    """
    x = abs(dc_w) / rated_w
    return rated_w * (NO_LOAD_LOSS * min(1.0, x / _FADE) + RESISTIVE_LOSS * x * x)


def dc_for_ac(ac_w: float, rated_w: float) -> float:
    """The DC power that makes a hybrid converter deliver ``ac_w`` (the inverse of the loss).

    A few fixed-point steps suffice: the loss changes by at most ~11 % of a change in power,
    so each step gains a factor of ten.
    """
    x = ac_w
    for _ in range(5):
        x = ac_w + conversion_loss_w(x, rated_w)
    return x


#: Open-circuit voltage of a lithium iron phosphate cell against state of charge (%, V): the
#: flat plateau between 20 and 80 % is what makes SoC hard to read from voltage alone.
_LFP_OCV = (
    (0.0, 2.90), (5.0, 3.10), (10.0, 3.20), (20.0, 3.25), (40.0, 3.28),
    (60.0, 3.30), (80.0, 3.33), (95.0, 3.38), (100.0, 3.50),
)


def lfp_cell_ocv(soc_pct: float) -> float:
    """Open-circuit voltage of one LFP cell at ``soc_pct`` (piecewise linear)."""
    soc = min(100.0, max(0.0, soc_pct))
    for (s0, v0), (s1, v1) in itertools.pairwise(_LFP_OCV):
        if soc <= s1:
            return v0 + (v1 - v0) * (soc - s0) / (s1 - s0)
    return _LFP_OCV[-1][1]
