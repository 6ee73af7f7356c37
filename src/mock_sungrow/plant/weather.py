"""Weather and household load: the plant's surroundings, as pure functions of time.

``cloud_factor`` is a constant or a :class:`CloudWalk` (passing clouds, a seeded random walk
that is a pure function of the instant); ``house_load`` a constant, 24 hourly values, a
function of local time, or the default household curve. Each setting is turned once into a
function of time, so the same instant always computes the same value, however the clock moved.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeAlias

from mock_sungrow.plant.physics import Wobble

#: What ``house_load`` accepts: see :func:`make_load_function`.
LoadProfile: TypeAlias = "float | Sequence[float] | Callable[[datetime], float] | None"
#: What ``cloud_factor`` accepts: see :func:`make_cloud_function`.
CloudSetting: TypeAlias = "float | str | CloudWalk"

_SQRT3 = math.sqrt(3.0)


def _unit_noise(seed: int, index: int) -> float:
    """A uniform value in [-sqrt(3), sqrt(3)) (unit variance) from a seed and an index.

    SplitMix64: cheap, stateless and the same on every platform, so a knot of the cloud walk
    is a pure function of (seed, index).
    """
    z = (seed * 0x9E3779B97F4A7C15 + index * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB)
    z &= 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    z ^= z >> 31
    return (z / 2.0**64 * 2.0 - 1.0) * _SQRT3


@dataclass
class CloudWalk:
    """Passing clouds: a seeded, mean-reverting random walk of the share of sun that gets through.

    The walk has a knot every ``knot_s`` seconds; each knot is an AR(1) process with memory
    ``phi`` built from the last ``memory`` seeded increments (truncating an AR(1) this way
    loses less than 1 % of its variance), and values between knots are interpolated linearly.
    So the factor depends only on the instant and the seed: the same instant always reads the
    same value, however the plant got there, and a day's integral is stable under minute
    steps. ``mean`` and ``volatility`` set the typical level and spread; the factor is kept
    within 0.05..1.1 (thin cloud edges can briefly exceed clear sky).
    """

    seed: int = 0
    mean: float = 0.7
    volatility: float = 0.25
    knot_s: float = 600.0
    phi: float = 0.85
    memory: int = 30
    _cache: dict[int, float] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.mean <= 1.1 or self.volatility < 0 or self.knot_s <= 0:
            raise ValueError(
                "CloudWalk needs 0 <= mean <= 1.1, volatility >= 0 and knot_s > 0; got "
                f"mean={self.mean}, volatility={self.volatility}, knot_s={self.knot_s}"
            )
        if not 0.0 <= self.phi < 1.0 or self.memory < 1:
            raise ValueError("CloudWalk needs 0 <= phi < 1 and memory >= 1")

    def _knot(self, k: int) -> float:
        cached = self._cache.get(k)
        if cached is not None:
            return cached
        total = 0.0
        weight = 1.0
        for j in range(self.memory):
            total += weight * _unit_noise(self.seed, k - j)
            weight *= self.phi
        value = total * math.sqrt(1.0 - self.phi * self.phi)
        if len(self._cache) > 4096:
            self._cache.clear()
        self._cache[k] = value
        return value

    def factor(self, ts: float) -> float:
        """The share of clear-sky irradiance reaching the modules at POSIX time ``ts``."""
        pos = ts / self.knot_s
        k = math.floor(pos)
        frac = pos - k
        x = self._knot(k) * (1.0 - frac) + self._knot(k + 1) * frac
        return min(1.1, max(0.05, self.mean + self.volatility * x))


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


#: The largest clear-sky share a constant cloud factor may set (a bright, cold day's edge).
MAX_CLOUD_FACTOR = 1.5


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
            or not 0.0 <= setting <= MAX_CLOUD_FACTOR:
        raise ValueError(f"cloud_factor must be within 0..1.5, 'random' or a CloudWalk; "
                         f"got {setting!r}")
    constant = float(setting)
    return lambda ts: constant * wobble.irradiance_factor(ts)
