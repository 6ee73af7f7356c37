"""Clocks the plant reads time from.

The plant never calls :func:`time.time` itself: it asks a clock. ``RealClock`` follows the wall
clock; ``ManualClock`` stands still until a test moves it, which is what makes energy totals
exact and tests of a whole simulated day take milliseconds.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Protocol, runtime_checkable

#: Called with the new time after a manual clock moved.
ClockListener = Callable[[float], None]

#: The span any clock of the simulator may show (POSIX seconds, UTC): 1970-01-01 up to
#: 9000-01-01. Every date inside it, shifted by at most :data:`MAX_CLOCK_SHIFT_S` (an
#: inverter clock set apart from the host's) in any time zone, is a valid
#: :class:`~datetime.datetime`, so no later move can push a plant past year 9999.
EARLIEST = 0.0
LATEST = datetime(9000, 1, 1, tzinfo=timezone.utc).timestamp()
#: How far an inverter's own clock may be set from the server clock (900 years).
MAX_CLOCK_SHIFT_S = 900 * 365.25 * 86400.0


def iso_date(t: float) -> str:
    """The UTC date of POSIX time ``t`` (for messages)."""
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d")


def check_time(t: float, what: str = "the clock") -> float:
    """``t`` as a float if it is a finite time inside the clock range, else ``ValueError``."""
    if isinstance(t, bool) or not isinstance(t, (int, float)):
        raise ValueError(f"{what} is POSIX seconds or an aware datetime; got {t!r}")  # noqa: TRY004
    try:
        value = float(t)
    except OverflowError:  # an int beyond any float
        value = math.inf
    if not math.isfinite(value):
        raise ValueError(f"{what} must be a finite time; got {t!r}")
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"{what} must stay between {iso_date(EARLIEST)} and {iso_date(LATEST)}; "
                         f"got {t!r} s")
    return value


@runtime_checkable
class Clock(Protocol):
    """Anything with ``time()`` returning POSIX seconds (UTC) can drive a plant."""

    def time(self) -> float:
        """The current time in POSIX seconds."""
        ...


class RealClock:
    """The wall clock."""

    def time(self) -> float:
        """Return :func:`time.time`."""
        return time.time()

    def __repr__(self) -> str:
        return "RealClock()"


def _to_epoch(value: float | datetime) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(
                "a naive datetime is ambiguous for the plant clock; give it a tzinfo "
                "(for example datetime(2026, 6, 21, 12, tzinfo=ZoneInfo('Europe/Berlin')))"
            )
        try:
            return check_time(value.timestamp())
        except (OverflowError, OSError):  # an offset pushing it past year 9999
            raise ValueError(f"the clock must stay between {iso_date(EARLIEST)} and "
                             f"{iso_date(LATEST)}; got {value!r}") from None
    return check_time(value)


class ManualClock:
    """A clock that moves only when told to.

    ``start`` is POSIX seconds or an aware :class:`~datetime.datetime`. The default start,
    2026-06-21 00:00 UTC, is fixed so that tests which do not care about the date still see
    the same numbers on every run.

    Whatever is due at a time (a fault's end) happens when the clock is moved past it:
    listeners (:meth:`add_listener`) are called after every move, so nothing has to wait for
    a request to notice that time went by.
    """

    DEFAULT_START = datetime(2026, 6, 21, tzinfo=timezone.utc)

    def __init__(self, start: float | datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._now = _to_epoch(self.DEFAULT_START if start is None else start)
        self._listeners: list[Callable[[], ClockListener | None]] = []

    def add_listener(self, callback: ClockListener) -> None:
        """Call ``callback(new_time)`` after every :meth:`advance` and :meth:`set`.

        It runs on the thread that moved the clock. A bound method is held weakly, so a clock
        a test keeps does not keep every server that ever used it alive.
        """
        ref: Callable[[], ClockListener | None]
        if hasattr(callback, "__self__") and hasattr(callback, "__func__"):
            ref = weakref.WeakMethod(callback)
        else:
            ref = lambda: callback  # noqa: E731 - a strong reference with the same interface
        with self._lock:
            self._listeners = [r for r in self._listeners if r() is not None] + [ref]

    def _moved(self, now: float) -> None:
        for ref in list(self._listeners):
            callback = ref()
            if callback is not None:
                callback(now)

    def time(self) -> float:
        """The clock's current reading."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` (never backwards) and return the new time.

        A step that is not a finite number, is negative, or would leave the clock range
        (:data:`LATEST`) is refused with ``ValueError`` before the clock moves.
        """
        try:
            finite = not isinstance(seconds, bool) and isinstance(seconds, (int, float)) \
                and math.isfinite(seconds)
        except OverflowError:  # an int beyond any float
            finite = False
        if not finite:
            raise ValueError(f"advance takes a finite number of seconds; got {seconds!r}")
        if seconds < 0:
            raise ValueError(f"a manual clock only moves forward; got {seconds!r} s")
        with self._lock:
            now = self._now + float(seconds)
            if now >= LATEST:
                raise ValueError(f"advancing by {seconds!r} s would move the clock past "
                                 f"{iso_date(LATEST)} (the latest time it shows)")
            self._now = now
        self._moved(now)
        return now

    def set(self, when: float | datetime) -> None:
        """Jump to ``when``; going backwards is refused because counters never run back."""
        target = _to_epoch(when)
        with self._lock:
            if target < self._now:
                raise ValueError("a manual clock cannot go back in time (energy counters would)")
            self._now = target
        self._moved(target)

    def __repr__(self) -> str:
        return f"ManualClock({datetime.fromtimestamp(self.time(), timezone.utc).isoformat()})"
