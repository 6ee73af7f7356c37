"""The energy history an SH*RT shows in its arrays (inputs 6100-6806).

Today's quarter-hour slots, the days of this month, the months of this year and twenty years,
per kind of energy (PV, direct use, export, battery charge from PV). The plant adds each
integration step's energy; periods before the plant existed are filled with plausible, seeded
values.
"""

from __future__ import annotations

import calendar
import zlib
from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mock_sungrow.plant.integrate import PlantIntegrator

#: The kinds of energy the history keeps.
_KINDS = ("pv", "direct", "export", "charge")
#: Today's power curves kept beside them (average W per slot, signed as the snapshot's:
#: grid + importing, battery + charging). No register shows them; the dashboard plots them.
POWER_KINDS = ("load", "grid", "battery")


class History:
    """Per-slot, per-day, per-month and per-year energies, as the SH*RT history arrays show.

    Today's 96 quarter-hour slots hold average power (W); the day, month and year arrays hold
    energy (kWh). Periods before the plant existed are filled with plausible, seeded values so
    that a fresh plant looks like one that has been running for a while.
    """

    def __init__(self, plant: PlantIntegrator) -> None:
        self.plant = plant
        self.today = {k: [0.0] * 96 for k in _KINDS}
        #: Watt-seconds per slot of :data:`POWER_KINDS`.
        self.powers = {k: [0.0] * 96 for k in POWER_KINDS}
        self.days: dict[str, dict[date, float]] = {k: {} for k in _KINDS}
        self._month_cache: dict[tuple[str, date, int], float] = {}

    def add(self, t: float, pv: float, direct: float, export: float, charge: float, *,
            dt: float = 0.0, powers: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> None:
        """Add one step's energies (kWh) at host time ``t`` to its slot and its day.

        ``powers`` are the step's average load, grid and battery powers (W) over its ``dt``
        seconds (:data:`POWER_KINDS`).
        """
        local = self.plant.local_time(t)
        slot = (local.hour * 60 + local.minute) // 15
        day = local.date()
        for kind, kwh in zip(_KINDS, (pv, direct, export, charge), strict=True):
            self.today[kind][slot] += kwh
            days = self.days[kind]
            days[day] = days.get(day, 0.0) + kwh
        for kind, watts in zip(POWER_KINDS, powers, strict=True):
            self.powers[kind][slot] += watts * dt

    def copy_day(self, source: date, targets: Iterable[date]) -> None:
        """Record each of ``targets`` with ``source``'s energies (a leap's copied days)."""
        for day in targets:
            for kind in _KINDS:
                days = self.days[kind]
                days[day] = days.get(source, 0.0)
        self._month_cache.clear()

    def roll(self, before: date, after: date) -> None:
        """The plant's local date changed from ``before`` to ``after``."""
        if after != before:
            for kind in _KINDS:
                self.today[kind] = [0.0] * 96
            for kind in POWER_KINDS:
                self.powers[kind] = [0.0] * 96
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
        """One array (``today``, ``days``, ``months`` or ``years``) of ``kind`` at ``now``.

        The power kinds (:data:`POWER_KINDS`) have ``today`` only.
        """
        if kind in POWER_KINDS:
            if period != "today":
                raise ValueError(f"the history keeps today's {kind} power only")
            return [ws / 900.0 for ws in self.powers[kind]]  # W s per 15 min -> W
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
        if period != "years":  # a caller's typo must not read as twenty years of energy
            raise ValueError(f"no {period!r} history: today, days, months or years")
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
