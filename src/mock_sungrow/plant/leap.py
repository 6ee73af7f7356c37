"""Long clock jumps in bounded time: whole days integrated in coarse, closed-form blocks.

The plant integrates lazily, from the last instant it was read to the clock's, in steps of at
most a minute: about 0.1 s of work per simulated day. A test (or ``POST /clock``) that moves a
manual clock by a year would hold the plant's lock, and with it every front end, for tens of
seconds; a century would never finish. :func:`leap` bounds the work whatever the jump:

* the rest of the current day is integrated exactly (minute steps), so today's counters and
  history slots are right up to midnight;
* the whole days in between are cut into at most :data:`LEAP_SAMPLES` blocks. The last day of
  each block is integrated from its midnight in coarse steps (:data:`COARSE_STEP_S`, the
  steps a fresh plant's history is replayed with), with the state the previous block left
  (mode, state of charge, settings, faults); the block's other days are taken to be copies of
  it: every total counter (and the operating hours) grows by that day's integral times the
  number of days copied. So the totals are sums of whole-day trapezoid integrals, the
  instantaneous balance (PV + discharge + import = load + charge + export + losses) holds for
  them exactly, and they grow by about what the same days integrated minute by minute give
  (the seasons are sampled once per block);
* the calendar rolls as it would have: daily counters start from zero at each midnight, the
  monthly yield holds the days of its month (copies included), the history's day records of
  the last year are filled (older ones are never shown: the yearly array is synthetic before
  this year);
* the last (partial) day is integrated exactly again, so what a client reads after the jump
  (the daily yield since midnight, the quarter-hour slots) comes from real steps.

The state of charge is carried through the sampled days only: a copied day repeats the
sampled day's energies, not its change of charge (a day of self-consumption ends about where
it started, so the difference is small). Jumps of up to :data:`LEAP_AFTER_S` are integrated
step by step as before.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from mock_sungrow.plant.counters import Counters

if TYPE_CHECKING:
    from mock_sungrow.plant.integrate import PlantIntegrator

#: Jumps longer than this (seconds) leap; shorter ones are integrated step by step.
LEAP_AFTER_S = 2 * 86400.0
#: At most this many days of a leap are integrated (one per block); the rest are copies.
LEAP_SAMPLES = 12
#: Step of a sampled day (seconds; quarter hours still split steps).
COARSE_STEP_S = 600.0
#: Day records of the history kept for copied days (the arrays show this year at most).
HISTORY_DAYS = 400

#: Counters that only ever grow: a copied day adds to each of them.
_TOTALS = tuple(f.name for f in fields(Counters) if f.name.startswith("total_"))


def _midnight(plant: PlantIntegrator, day: date) -> float:
    """Host time of the plant's local midnight starting ``day``."""
    local = datetime.combine(day, datetime.min.time(), plant.tz)
    return local.timestamp() - plant._offset


def _totals(c: Counters) -> list[float]:
    return [getattr(c, name) for name in _TOTALS]


def leap(plant: PlantIntegrator, t_end: float) -> None:
    """Integrate ``plant`` from its last instant to host time ``t_end`` in bounded work."""
    plant._step_to(plant._next_midnight(plant._t))  # the rest of today, exactly
    first = plant.local_time(plant._t).date()
    last = plant.local_time(t_end).date()  # the day t_end falls in (integrated exactly)
    days = (last - first).days
    blocks = min(days, LEAP_SAMPLES)
    start = first
    for i in range(blocks):
        end = first + timedelta(days=days * (i + 1) // blocks)  # exclusive
        sampled = end - timedelta(days=1)
        copies = (sampled - start).days
        if copies > 0:  # jump over the copied days to the sampled day's midnight
            plant._last = None
            plant._t = _midnight(plant, sampled)
            plant._roll_calendar(start, sampled)
        c = plant._counters
        before = _totals(c)
        plant._step_to(_midnight(plant, end), COARSE_STEP_S)
        if copies > 0:
            gained = [after - b for after, b in zip(_totals(c), before, strict=True)]
            for name, delta in zip(_TOTALS, gained, strict=True):
                setattr(c, name, getattr(c, name) + delta * copies)
            if (end.year, end.month) == (sampled.year, sampled.month):
                # The month goes on after the block: its yield holds the copies in it.
                in_month = min(copies, sampled.day - 1)
                c.monthly_yield += gained[_TOTALS.index("total_yield")] * in_month
            oldest = max(0, (last - start).days - HISTORY_DAYS)
            plant._history.copy_day(sampled, (start + timedelta(days=k)
                                              for k in range(oldest, copies)))
        start = end
    plant._step_to(t_end)  # the last day, exactly
