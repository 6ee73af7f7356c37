"""The active faults of one server: injection, matching, firing, lifetimes.

:class:`FaultSet` is thread-safe: tests inject from their thread while the front ends consult
the set on the server's loop. Front ends ask it questions at fixed points ("a connection
arrives", "a request arrives", "words are about to be sent"), so a fault kind only needs to
say at which point it acts.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from mock_sungrow.faults.catalogue import Phase
from mock_sungrow.faults.spec import Fault, Request

# ----------------------------------------------------------------------------- the set


class FaultSet:
    """The active faults of one server.

    A fault with a ``duration`` ends at its end time, not when somebody next looks: whatever
    moves or reads time calls :meth:`expire` (a manual clock when it is moved, a timer on the
    server's loop, every request, every plant read, every listing), and each fault due is
    removed in the order of its end, its listeners told with ``ended_at`` set to that end,
    so a plant fault's end takes effect at that instant however late it is noticed.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._listeners: list[Callable[[Fault, bool], None]] = []
        self._next_end: float | None = None
        self._expiring: int | None = None  # the thread inside expire(), if any
        #: Held while due faults are removed and their listeners run. The server gives it the
        #: plant's lock, so the plant can never integrate past a fault's end before the end
        #: has been applied (a request and a clock move racing each other).
        self.expiry_lock: threading.RLock = threading.RLock()
        #: Bumped on every change, so front ends can cache "no faults" cheaply.
        self.version = 0
        #: The effect hooks some fault in the set has, so callers skip a hook nobody has.
        self.hooks: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        if self._next_end is not None:  # only duration faults cost a clock read here
            self.expire()
        return bool(self._faults)

    def __iter__(self) -> Iterator[Fault]:
        return iter(self.live())

    def __len__(self) -> int:
        return len(self.live())

    def add_listener(self, callback: Callable[[Fault, bool], None]) -> None:
        """Call ``callback(fault, added)`` when a fault is added (True) or removed (False).

        Plant and session faults use this to change state when they start and end: the
        instant of the change is ``fault.injected_at`` or ``fault.ended_at`` (see
        :meth:`live`), which for an expired fault may lie a little before the call.
        """
        self._listeners.append(callback)

    def now(self) -> float:
        """The clock durations are measured on."""
        return self._clock()

    def next_end(self) -> float | None:
        """When the next duration fault ends (server clock), if any."""
        return self._next_end

    def live(self, at: float | None = None) -> list[Fault]:
        """Faults active at server-clock time ``at`` (default: now), in injection order.

        An ended fault is never listed, even before :meth:`expire` has removed it.
        """
        if at is None:
            self.expire()
        t = self._clock() if at is None else at
        with self._lock:
            return [f for f in self._faults if f.live_at(t)]

    def _changed_locked(self) -> None:
        self.version += 1
        self.hooks = frozenset().union(*(f.kind.effect.hooks for f in self._faults))
        ends = [end for f in self._faults if (end := f.ends_at) is not None]
        self._next_end = min(ends) if ends else None
        self._changed.notify_all()

    def _notify(self, fault: Fault, added: bool) -> None:
        for callback in self._listeners:
            callback(fault, added)

    def inject(self, fault: Fault) -> Fault:
        """Activate ``fault`` and return it (with its id)."""
        with self._lock:
            fault.id = next(self._ids)
            fault.injected_at = self._clock()
            fault.ended_at = None
            fault.expired = False
            fault._owner = self
            self._faults.append(fault)
            self._changed_locked()
        self._notify(fault, True)
        return fault

    def remove(self, fault_id: int) -> bool:
        """Remove one fault; False when there was none with that id (or it has ended)."""
        self.expire()  # a fault already over ends at its end, not now
        now = self._clock()
        with self._lock:
            found = [f for f in self._faults if f.id == fault_id]
            self._faults = [f for f in self._faults if f.id != fault_id]
            for fault in found:
                fault.ended_at = now
            self._changed_locked()
        for fault in found:
            self._notify(fault, False)
        return bool(found)

    def clear(self) -> None:
        """Remove every fault."""
        self.expire()
        now = self._clock()
        with self._lock:
            removed, self._faults = self._faults, []
            for fault in removed:
                fault.ended_at = now
            self._changed_locked()
        for fault in removed:
            self._notify(fault, False)

    def expire(self, now: float | None = None) -> None:
        """End every fault whose duration is over by ``now`` (default: the clock's time).

        Earliest end first; each one's listeners run before the next is removed, with
        ``ended_at`` = its end time. Count-limited faults stay (to show they fired). Cheap when
        nothing is due; a listener that looks at the set meanwhile does not re-enter.
        """
        next_end = self._next_end
        if next_end is None:
            return
        t = self._clock() if now is None else now
        if t < next_end:
            return
        me = threading.get_ident()
        with self.expiry_lock:
            if self._expiring == me:
                return
            self._expiring = me
            try:
                while True:
                    with self._lock:
                        due = [f for f in self._faults
                               if (end := f.ends_at) is not None and end <= t]
                        if not due:
                            return
                        fault = min(due, key=lambda f: (f.ends_at, f.id))
                        self._faults.remove(fault)
                        fault.ended_at = fault.ends_at
                        fault.expired = True
                        self._changed_locked()
                    self._notify(fault, False)
            finally:
                self._expiring = None

    def active(self, phase: Phase | tuple[Phase, ...], req: Request | None = None, *,
               registers: bool = True, also: Sequence[Request] = ()) -> list[Fault]:
        """Faults of ``phase`` that are live and match ``req`` (without firing them).

        Several phases: their faults phase by phase in the order given, each phase's in
        injection order. ``registers=False``: match everything but table and address (see
        :meth:`Match.matches`). ``also``: requests ``req`` stands for too, a fault matching
        any of them matches (a connection reaches every device of its endpoint).
        """
        if not self._faults:
            return []
        phases = phase if isinstance(phase, tuple) else (phase,)
        now = self._clock()
        next_end = self._next_end
        if next_end is not None and now >= next_end:
            self.expire(now)
        out = []
        with self._lock:
            ordered_turn = next(
                (f for f in self._faults if f.ordered and not f.used_up(now)), None
            )
            for f in self._faults:
                if f.kind.phase not in phases or f.used_up(now):
                    continue
                if f.ordered and f is not ordered_turn:
                    continue
                if f.kind.front_ends and req is not None and (
                    req.front_end not in f.kind.front_ends
                ):
                    continue
                if req is not None and not f.match.matches(req, registers=registers) and not any(
                    f.match.matches(r, registers=registers) for r in also
                ):
                    continue
                out.append(f)
        if len(phases) > 1:
            out.sort(key=lambda f: phases.index(f.kind.phase))
        return out

    def fire(self, fault: Fault) -> None:
        """Count one firing of ``fault`` (and wake :meth:`wait`)."""
        with self._lock:
            fault.fired += 1
            self._changed.notify_all()

    def wait(self, timeout: float = 5.0) -> None:
        """Return once every fault with a finite ``times`` has fired its last time.

        Faults limited by ``duration`` are waited for until they end (and have ended: their
        listeners have run when this returns). Raises :class:`TimeoutError` naming the faults
        still pending.
        """
        deadline = time.monotonic() + timeout

        def pending() -> list[Fault]:
            now = self._clock()
            return [f for f in self._faults if f.finite and not f.used_up(now)]

        with self._lock:
            while True:
                left = pending()
                if not left:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        "faults still waiting to fire: "
                        + "; ".join(f"{f!r} ({_pending_text(f, self._clock())})" for f in left)
                    )
                self._changed.wait(min(remaining, 0.05))
        self.expire()

    def describe(self) -> list[dict[str, Any]]:
        """Every fault as a dict (for the control API and messages)."""
        return [f.to_dict() for f in self]


def _pending_text(fault: Fault, now: float) -> str:
    parts = []
    if fault.times is not None:
        parts.append(f"fired {fault.fired}/{fault.times}")
    end = fault.ends_at
    if end is not None:
        parts.append(f"ends in {end - now:g} s of server clock")
    return ", ".join(parts)

