"""When faults end: at their end time, on any clock, whether or not anything is looking.

A fault with a ``duration`` is over at ``injected_at + duration`` on the server's clock.
:meth:`FaultSet.expire <mock_sungrow.faults.FaultSet.expire>` ends it (at that instant, however
late it runs); this module makes sure it runs when the time comes:

* a :class:`~mock_sungrow.clock.ManualClock` calls it whenever the test moves the clock, so a
  test that advances past the end finds the fault gone and the plant changed, with no request
  needed;
* on any other clock a timer on the server's loop fires at the next end while the server
  runs;
* and every request, every plant read (the plant asks before it integrates) and every
  listing calls it too, so nothing ever observes a fault after its end.
"""

from __future__ import annotations

import asyncio

from mock_sungrow.clock import Clock, ManualClock
from mock_sungrow.faults.faultset import FaultSet
from mock_sungrow.faults.spec import Fault
from mock_sungrow.runtime import LoopThread

#: The shortest timer: a clock that does not run in real time must not spin the loop.
MIN_DELAY_S = 0.001


class FaultEnds:
    """Calls ``faults.expire()`` at the end of every duration fault of one server."""

    def __init__(self, faults: FaultSet, clock: Clock) -> None:
        self.faults = faults
        self.clock = clock
        self._manual = isinstance(clock, ManualClock)
        self._runtime: LoopThread | None = None
        self._handle: asyncio.TimerHandle | None = None
        if isinstance(clock, ManualClock):
            clock.add_listener(self._clock_moved)
        faults.add_listener(self._faults_changed)

    def _clock_moved(self, now: float) -> None:
        self.faults.expire(now)

    def start(self, runtime: LoopThread) -> None:
        """The server's loop runs: time the next end on it (not needed on a manual clock)."""
        if not self._manual:
            self._runtime = runtime
            runtime.call_soon(self._arm)

    def stop(self) -> None:
        """The loop is about to stop: no more timers."""
        runtime, self._runtime = self._runtime, None
        handle = self._handle
        if runtime is not None and handle is not None:
            runtime.call_soon(handle.cancel)

    def _faults_changed(self, fault: Fault, added: bool) -> None:
        runtime = self._runtime
        if runtime is not None:
            runtime.call_soon(self._arm)

    def _arm(self) -> None:
        """(On the loop.) One timer, for the next end."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        runtime = self._runtime
        end = self.faults.next_end()
        if runtime is None or runtime.loop is None or end is None:
            return
        delay = max(MIN_DELAY_S, end - self.clock.time())
        self._handle = runtime.loop.call_later(delay, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self.faults.expire()
        self._arm()
