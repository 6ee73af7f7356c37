"""What the server noticed that a test may need to know about.

Front ends report problems here instead of only logging them: a handler that raised, a frame
that could not be decoded, a connection closed for a protocol violation. A test (or the pytest
fixture at teardown) can then tell "the client misbehaved" or "the simulator broke" apart from
a silent pass.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

log = logging.getLogger("mock_sungrow")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing that went wrong on the server side."""

    time: float
    front_end: str
    peer: str
    kind: str  # "handler-error", "bad-frame", ...
    message: str


@dataclass
class Diagnostics:
    """A thread-safe list of :class:`Problem` records."""

    problems: list[Problem] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def report(
        self,
        front_end: str,
        peer: str,
        kind: str,
        message: str,
        *,
        exc: BaseException | None = None,
    ) -> None:
        """Record a problem and log it (with the traceback when there is one)."""
        problem = Problem(time.time(), front_end, peer, kind, message)
        with self._lock:
            self.problems.append(problem)
        if exc is not None:
            log.error("%s %s %s: %s", front_end, peer, kind, message, exc_info=exc)
        else:
            log.warning("%s %s %s: %s", front_end, peer, kind, message)

    def clear(self) -> None:
        """Forget every recorded problem."""
        with self._lock:
            self.problems.clear()

    def snapshot(self) -> list[Problem]:
        """A copy of the problems so far."""
        with self._lock:
            return list(self.problems)
