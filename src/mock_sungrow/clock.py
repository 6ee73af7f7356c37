"""Clocks the plant reads time from.

The plant never calls :func:`time.time` itself: it asks a clock. ``RealClock`` follows the wall
clock; ``ManualClock`` stands still until a test moves it, which is what makes energy totals
exact and tests of a whole simulated day take milliseconds.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Protocol, runtime_checkable

#: Called with the new time after a manual clock moved.
ClockListener = Callable[[float], None]


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
        return value.timestamp()
    return float(value)


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
        """Move forward by ``seconds`` (never backwards) and return the new time."""
        if seconds < 0:
            raise ValueError(f"a manual clock only moves forward; got {seconds!r} s")
        with self._lock:
            self._now += seconds
            now = self._now
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
