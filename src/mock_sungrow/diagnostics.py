"""What the server noticed that a test may need to know about.

Front ends report problems here instead of only logging them: a handler that raised, a frame
that could not be decoded, a connection closed for a protocol violation. A test (or the pytest
fixture at teardown) can then tell "the client misbehaved" or "the simulator broke" apart from
a silent pass.

Problems come from untrusted input, so both what is kept and what is logged are bounded: the
first :data:`MAX_PROBLEMS` // 2 problems and the latest :data:`MAX_PROBLEMS` // 2 are kept
(the first say what went wrong first, the latest what goes wrong now), with a count of the ones
dropped between them (:attr:`Diagnostics.dropped`); and each (front end, kind) logs at most
:data:`LOG_BURST` lines per :data:`LOG_WINDOW_S` seconds, then one line saying how many it did
not log. 300,000 bad frames used to keep 105 MB of records and write a 40 MB log.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("mock_sungrow")

#: Problems kept: the first half and the latest half of this many.
MAX_PROBLEMS = 1000
#: Log lines per (front end, kind) per window; the rest are counted and summarised.
LOG_BURST = 20
#: Seconds of a logging window.
LOG_WINDOW_S = 10.0


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing that went wrong on the server side."""

    time: float
    front_end: str
    peer: str
    kind: str  # "handler-error", "bad-frame", ...
    message: str


@dataclass
class _LogWindow:
    start: float
    logged: int = 0
    suppressed: int = 0


@dataclass
class Diagnostics:
    """A thread-safe, bounded record of :class:`Problem` s (see the module docstring)."""

    limit: int = MAX_PROBLEMS
    #: The clock the logging windows are timed with (seconds; monotonic).
    clock: Callable[[], float] = time.monotonic
    #: Problems dropped from the middle of the record since the last :meth:`clear`.
    dropped: int = 0
    _first: list[Problem] = field(default_factory=list, repr=False)
    _latest: collections.deque[Problem] = field(default_factory=collections.deque, repr=False)
    _windows: dict[tuple[str, str], _LogWindow] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.limit < 2:
            raise ValueError(f"Diagnostics keeps at least 2 problems; got limit={self.limit}")
        self._latest = collections.deque(maxlen=self.limit - self.limit // 2)

    def report(
        self,
        front_end: str,
        peer: str,
        kind: str,
        message: str,
        *,
        exc: BaseException | None = None,
    ) -> None:
        """Record a problem and log it (with the traceback when there is one), within bounds."""
        problem = Problem(time.time(), front_end, peer, kind, message)
        with self._lock:
            if len(self._first) < self.limit // 2:
                self._first.append(problem)
            else:
                if len(self._latest) == self._latest.maxlen:
                    self.dropped += 1
                self._latest.append(problem)
            summary, allowed = self._may_log(front_end, kind)
        if summary:
            log.warning("%s %s: %d more problems not logged in the last %g s",
                        front_end, kind, summary, LOG_WINDOW_S)
        if not allowed:
            return
        if exc is not None:
            log.error("%s %s %s: %s", front_end, peer, kind, message, exc_info=exc)
        else:
            log.warning("%s %s %s: %s", front_end, peer, kind, message)

    def _may_log(self, front_end: str, kind: str) -> tuple[int, bool]:
        """(problems not logged in the window that just ended, whether to log this one)."""
        now = self.clock()
        key = (front_end, kind)
        window = self._windows.get(key)
        summary = 0
        if window is None or now - window.start >= LOG_WINDOW_S:
            summary = window.suppressed if window is not None else 0
            window = self._windows[key] = _LogWindow(now)
        if window.logged < LOG_BURST:
            window.logged += 1
            return summary, True
        window.suppressed += 1
        return summary, False

    @property
    def problems(self) -> list[Problem]:
        """The problems kept, oldest first (see :attr:`dropped` for those left out)."""
        return self.snapshot()

    def clear(self) -> None:
        """Forget every recorded problem."""
        with self._lock:
            self._first.clear()
            self._latest.clear()
            self.dropped = 0

    def snapshot(self) -> list[Problem]:
        """A copy of the problems kept so far."""
        with self._lock:
            return [*self._first, *self._latest]
