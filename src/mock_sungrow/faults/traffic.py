"""Where faults meet traffic: the questions every front end asks, and the request log.

A front end asks the :class:`Traffic` of its server at three points:

* :meth:`Traffic.admit` when a connection arrives (refuse it? close an older one?);
* :meth:`Traffic.before` when a request arrives: a :class:`Decision` says whether to delay,
  answer normally, answer with an exception or a WiNet result code, stay silent or drop the
  connection, and which word or frame distortions to apply on the way out;
* :meth:`Traffic.done` once the request is settled, which logs it and keeps the counters some
  faults need (bad reads per client, illegal reads per front end).

Two clocks are involved, on purpose. What models the *network* (latency, minimum gaps, idle
timeouts, reconnect cool-downs) runs on real monotonic time, because the client under test
lives in real time. What models the *device* (a fault's ``duration``, a frozen dongle's
recovery, a blocked client, a stale value's hold time) runs on the server's clock, so a test
with a :class:`~mock_sungrow.clock.ManualClock` can move through it instantly.
"""

from __future__ import annotations

import contextvars
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mock_sungrow.faults.catalogue import latency_for
from mock_sungrow.faults.faultset import FaultSet
from mock_sungrow.faults.requestlog import LoggedRequest, RequestLog
from mock_sungrow.faults.spec import Fault, Request


@dataclass(slots=True)
class Decision:
    """What a front end should do with one request."""

    delay: float = 0.0
    action: str | None = None  # None (answer), "exception", "silence", "drop", "result"
    code: int = 0  # exception code or WiNet result code
    message: str | None = None  # WiNet result message
    fired: list[Fault] = field(default_factory=list)
    words: list[Fault] = field(default_factory=list)  # word distortions to apply
    write_factor: int = 1  # a "write-scale" fault multiplies written words
    frame: list[Fault] = field(default_factory=list)  # frame distortions to apply

    @property
    def fault(self) -> str | None:
        """Names of the faults that shaped this answer, for the request log."""
        return ",".join(f.name for f in self.fired) or None

    def frame_fault(self, name: str) -> Fault | None:
        """The frame distortion called ``name``, if one applies."""
        return next((f for f in self.frame if f.name == name), None)


#: The answer for "no fault applies" (shared, never mutated).
NO_FAULT = Decision()

#: The decision for the request being answered, where the answer is built far from the
#: transport (the WiNet-S front end reads registers deep inside its payload builders).
CURRENT_DECISION: contextvars.ContextVar[Decision] = contextvars.ContextVar(
    "mock_sungrow_decision", default=NO_FAULT
)


class Traffic:
    """Connection bookkeeping, fault decisions and the request log of one server."""

    def __init__(
        self,
        faults: FaultSet,
        log: RequestLog,
        clock: Callable[[], float],
        *,
        is_night: Callable[[], bool] = lambda: False,
        seed: int = 0,
    ) -> None:
        self.faults = faults
        self.log = log
        self.clock = clock
        self.is_night = is_night
        self._rng = random.Random(seed ^ 0x1A7E)
        self._connections: dict[str, list[Any]] = {}
        self._last_close: dict[tuple[str, str], float] = {}
        self._bad_reads: Counter[str] = Counter()
        self._blocked_until: dict[str, float] = {}
        self._illegal: Counter[str] = Counter()
        self._frozen_until: dict[str, float] = {}
        self._last_request: dict[str, float] = {}
        self._locked: dict[str, bool] = {}
        self._stale: dict[tuple[int, str, int], tuple[int, float]] = {}

    # ------------------------------------------------------------------------ connections

    def admit(self, front_end: str, peer: str, conn: Any) -> tuple[str | None, list[Any]]:
        """A connection arrived. Returns (reason to refuse or None, connections to close)."""
        client = Request(front_end, peer).client
        reason: str | None = None
        to_close: list[Any] = []
        if self.faults:
            req = Request(front_end, peer)
            now = self.clock()
            for f in self.faults.active("connect", req):
                name = f.name
                if name == "refuse":
                    reason = "refused"
                elif name == "night-shutdown" and self.is_night():
                    reason = "night: the inverter is off"
                elif name == "reconnect-cooldown":
                    last = self._last_close.get((front_end, client))
                    if last is not None and time.monotonic() - last < f.params["seconds"]:
                        reason = "reconnected too soon"
                elif name == "block-after-bad-reads":
                    if self._blocked_until.get(client, -1.0) > now:
                        reason = "blocked after bad reads"
                elif name == "max-clients":
                    open_conns = self._connections.get(front_end, [])
                    if len(open_conns) >= f.params["limit"]:
                        if f.params["policy"] == "refuse":
                            reason = "too many clients"
                        else:
                            to_close = open_conns[: len(open_conns) - f.params["limit"] + 1]
                else:
                    continue
                if reason is not None or to_close:
                    self.faults.fire(f)
                    if reason is not None:
                        self._record(Request(front_end, peer), "refused", f.name)
                        return reason, []
        self._connections.setdefault(front_end, []).append(conn)
        return None, to_close

    def closed(self, front_end: str, peer: str, conn: Any) -> None:
        """A connection ended (either side)."""
        conns = self._connections.get(front_end)
        if conns is not None and conn in conns:
            conns.remove(conn)
            self._last_close[front_end, Request(front_end, peer).client] = time.monotonic()

    def idle_timeout(self, front_end: str) -> float | None:
        """Seconds after which an idle connection of ``front_end`` is closed, if any."""
        if not self.faults:
            return None
        found = self.faults.active("connect", Request(front_end))
        timeouts = [f.params["seconds"] for f in found if f.name == "idle-timeout"]
        return min(timeouts) if timeouts else None

    # ------------------------------------------------------------------------ requests

    def before(self, req: Request) -> Decision:
        """Decide how to treat ``req``. Fast when no fault is active."""
        front_end = req.front_end
        now_real = time.monotonic()
        previous = self._last_request.get(front_end)
        self._last_request[front_end] = now_real
        if not self.faults:
            return NO_FAULT
        d = Decision()
        now = self.clock()
        # A frozen dongle answers nothing until it recovers.
        if self._frozen_until.get(front_end, -1.0) > now:
            d.action = "silence"
            return d
        # The inverter switched off at sunset: connections opened by day are dropped.
        for f in self.faults.active("connect", req):
            if f.name == "night-shutdown" and self.is_night():
                self._fire(d, f)
                d.action = "drop"
                return d
        for f in self.faults.active("request", req):
            name = f.name
            if name == "min-gap":
                gap = f.params["gap"]
                too_fast = previous is not None and now_real - previous < gap
                if f.params["overload"] == "lockup":
                    locked = self._locked.get(front_end, False)
                    if locked and previous is not None and now_real - previous >= f.params["idle"]:
                        self._locked[front_end] = locked = False
                    if too_fast or locked:
                        self._locked[front_end] = True
                        self._fire(d, f)
                        d.action = "silence"
                        return d
                elif too_fast:
                    self._fire(d, f)
                    d.action = "drop"
                    return d
            elif name == "latency":
                d.delay += latency_for(f, self._rng)
                self._fire(d, f)
            elif name in ("silence", "drop") and d.action is None:
                d.action = name
                self._fire(d, f)
            elif name == "exception" and d.action is None:
                d.action, d.code = "exception", f.params["code"]
                self._fire(d, f)
            elif name == "write-scale" and req.write:
                d.write_factor *= f.params["factor"]
                self._fire(d, f)
            elif name == "winet-result" and d.action is None:
                d.action, d.code = "result", f.params["code"]
                d.message = f.params.get("message")
                self._fire(d, f)
        if d.action in ("silence", "drop"):
            return d
        # A request that names no registers (a WiNet-S service) has registers read on its
        # behalf, as a dongle polls its inverter: word faults naming registers then apply to
        # each of those reads (distort_read checks table and range), as on Modbus.
        d.words = self.faults.active("words", req, registers=req.table is not None)
        d.frame = self.faults.active("frame", req)
        return d

    def _fire(self, d: Decision, f: Fault) -> None:
        self.faults.fire(f)
        d.fired.append(f)

    def fired(self, d: Decision, f: Fault) -> None:
        """A front end applied a word or frame distortion: count and log it."""
        if f not in d.fired:
            self._fire(d, f)

    def done(self, req: Request, outcome: str, decision: Decision = NO_FAULT,
             values: tuple[int, ...] | None = None) -> None:
        """Log a settled request and update the counters faults rely on."""
        self._record(req, outcome, None if decision is NO_FAULT else decision.fault, values)
        if self.faults and outcome.startswith("exception"):
            client = req.client
            self._bad_reads[client] += 1
            for f in self.faults.active("connect", req):
                if (f.name == "block-after-bad-reads"
                        and self._bad_reads[client] >= f.params["reads"]):
                    self._blocked_until[client] = self.clock() + f.params["seconds"]
                    self._bad_reads[client] = 0
                    self.faults.fire(f)
            if outcome == "exception 2":
                self._illegal[req.front_end] += 1
                for f in self.faults.active("request", req):
                    if (f.name == "freeze-after-illegal-reads"
                            and self._illegal[req.front_end] >= f.params["reads"]):
                        self._frozen_until[req.front_end] = self.clock() + f.params["recover"]
                        self._illegal[req.front_end] = 0
                        self.faults.fire(f)

    def _record(self, req: Request, outcome: str, fault: str | None,
                values: tuple[int, ...] | None = None) -> None:
        self.log.append(LoggedRequest(
            self.clock(), req.front_end, req.peer, req.unit, req.function, req.table,
            req.address, req.count, outcome, fault, values, req.device,
        ))

    # ------------------------------------------------------------------------ words

    def distort_read(self, d: Decision, table: str, address: int, words: list[int],
                     sentinel_of: Callable[[str, int], int]) -> list[int]:
        """Apply word distortions to ``words`` read from ``table`` at ``address``."""
        now = self.clock()
        out = list(words)
        for f in d.words:
            match = f.match
            name = f.name
            lo = address if match.address is None else match.address[0]  # where patterns start
            changed = False
            for i in range(len(out)):
                reg = address + i
                if not match.covers(table, reg):
                    continue
                if name == "scale":
                    out[i] = min(0xFFFF, round(out[i] * f.params["factor"]))
                elif name == "zeros":
                    out[i] = 0
                elif name == "sentinel":
                    out[i] = sentinel_of(table, reg)
                elif name == "value":
                    pattern: list[int] = f.params["words"]
                    out[i] = pattern[(reg - lo) % len(pattern)]
                elif name == "stale":
                    frozen: dict[tuple[str, int], int] = f.state.setdefault("words", {})
                    out[i] = frozen.setdefault((table, reg), out[i])
                elif name == "stale-after-write":
                    old = self._stale.get((id(f), table, reg))
                    if old is None or old[1] <= now:
                        continue
                    out[i] = old[0]
                else:
                    continue
                changed = True
            if changed:
                self.fired(d, f)
        return out

    def note_write(self, d: Decision, table: str, address: int, old_words: list[int]) -> None:
        """Remember pre-write words for ``stale-after-write`` faults."""
        now = self.clock()
        for f in d.words:
            if f.name != "stale-after-write":
                continue
            for i, word in enumerate(old_words):
                if f.match.covers(table, address + i):
                    self._stale[id(f), table, address + i] = (word, now + f.params["hold"])

    def key_silent(self, req: Request, d: Decision) -> bool:
        """Whether a ``key-silent`` fault swallows this key request (and fire it)."""
        for f in self.faults.active("session", req):
            if f.name == "key-silent":
                self._fire(d, f)
                return True
        return False

    def connection_event(self, front_end: str, peer: str, outcome: str, fault: str) -> None:
        """Log something the server did to a connection on its own (an idle close...)."""
        self._record(Request(front_end, peer, function="connection"), outcome, fault)

    def reset(self) -> None:
        """Forget per-client and per-front-end memory (not the open connections)."""
        self._bad_reads.clear()
        self._blocked_until.clear()
        self._illegal.clear()
        self._frozen_until.clear()
        self._last_request.clear()
        self._locked.clear()
        self._stale.clear()
        self._last_close.clear()
