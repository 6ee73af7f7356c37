"""Where faults meet traffic: the questions every front end asks, and the request log.

A front end asks the :class:`Traffic` of its server at fixed points, and Traffic calls the
effect hooks (:mod:`mock_sungrow.faults.kinds`) of the faults active there; it knows no kind
by name:

* :meth:`Traffic.admit` when a connection arrives (refuse it? close an older one?);
* :meth:`Traffic.before` when a request arrives: a :class:`Decision` says whether to delay,
  answer normally, answer with an error, stay silent or drop the connection, and which word,
  frame or write distortions to apply on the way;
* :meth:`Traffic.distort_read`, :meth:`Traffic.note_write`, :meth:`Traffic.rewrite`,
  :meth:`Traffic.distort_reply` and :meth:`Traffic.distort_adu` where the front end applies
  those distortions;
* :meth:`Traffic.done` once the request is settled, which logs it and lets faults count it.

Two clocks are involved, on purpose. What models the *network* (latency, minimum gaps, idle
timeouts, reconnect cool-downs) runs on real monotonic time, because the client under test
lives in real time. What models the *device* (a fault's ``duration``, a frozen dongle's
recovery, a blocked client, a stale value's hold) runs on the server's clock, so a test
with a :class:`~mock_sungrow.clock.ManualClock` can move through it instantly.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from typing import Any

from mock_sungrow.faults.decision import DROP, NO_FAULT, SILENCE, Decision
from mock_sungrow.faults.faultset import FaultSet
from mock_sungrow.faults.kinds.base import Arrival, Phase, ReplyShape, Settled, Turn, WordRead
from mock_sungrow.faults.requestlog import LoggedRequest, RequestLog
from mock_sungrow.faults.spec import Fault, Request

#: A device a connection reaches: its Modbus unit and serial.
Reached = tuple[int, "str | None"]
#: Phases whose faults decide a request (``before``), in the order they are asked.
_DECIDING: tuple[Phase, ...] = ("connect", "request", "session")
#: Phases whose faults hear how a request was settled (``settled``).
_COUNTING: tuple[Phase, ...] = ("connect", "request")

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
        #: Random draws of network faults (latency jitter), seeded for reproducible runs.
        self.rng = random.Random(seed ^ 0x1A7E)
        self._connections: dict[str, list[Any]] = {}
        self._last_close: dict[tuple[str, str], float] = {}
        self._last_request: dict[str, float] = {}
        self._frozen: dict[str, tuple[float, Fault]] = {}

    # ------------------------------------------------------------------------ connections

    def admit(self, front_end: str, peer: str, conn: Any,
              endpoint: str | None = None, reach: Iterable[Reached] = ()
              ) -> tuple[str | None, list[Any]]:
        """A connection arrived. Returns (reason to refuse or None, connections to close).

        Connections are counted per ``endpoint`` (default: the ``front_end``'s name), so
        each inverter's LAN port is its own device. ``reach`` is the (unit, serial) of each
        device the endpoint serves: a connection fault naming a unit or a device applies to
        the connections of the endpoints that reach it.
        """
        where = endpoint or front_end
        to_close: list[Any] = []
        if self.faults and "admit" in self.faults.hooks:
            req, via = _connection(front_end, peer, where, reach)
            arrival = Arrival(self, front_end, peer, req.client, self.clock(), where)
            for f in self.faults.active("connect", req, also=via):
                verdict = f.kind.effect.admit(f, arrival)
                if verdict is None:
                    continue
                self.faults.fire(f)
                if isinstance(verdict, str):
                    self._record(req, "refused", f.name)
                    return verdict, []
                to_close = verdict
        self._connections.setdefault(where, []).append(conn)
        return None, to_close

    def closed(self, front_end: str, peer: str, conn: Any, endpoint: str | None = None
               ) -> None:
        """A connection to ``endpoint`` (a ``front_end``) ended (either side)."""
        where = endpoint or front_end
        conns = self._connections.get(where)
        if conns is not None and conn in conns:
            conns.remove(conn)
            self._last_close[where, Request(front_end, peer).client] = time.monotonic()

    def open_connections(self, endpoint: str) -> list[Any]:
        """The admitted connections of ``endpoint`` still open, oldest first."""
        return list(self._connections.get(endpoint, ()))

    def last_close(self, endpoint: str, client: str) -> float | None:
        """When (monotonic) ``client``'s last connection to ``endpoint`` closed, if ever."""
        return self._last_close.get((endpoint, client))

    def idle_timeout(self, front_end: str, endpoint: str | None = None,
                     reach: Iterable[Reached] = (), *, peer: str = "-"
                     ) -> tuple[float, str] | None:
        """Seconds after which an idle connection of ``front_end`` is closed, and why.

        ``endpoint`` and ``reach`` as for :meth:`admit`; ``peer`` is the connection's
        (``host:port``), so a fault naming a ``client`` applies to that client only.
        """
        if not self.faults or "idle_timeout" not in self.faults.hooks:
            return None
        req, via = _connection(front_end, peer, endpoint or front_end, reach)
        limits = [(seconds, f.name) for f in self.faults.active("connect", req, also=via)
                  if (seconds := f.kind.effect.idle_timeout(f)) is not None]
        return min(limits) if limits else None

    # ------------------------------------------------------------------------ requests

    def before(self, req: Request) -> Decision:
        """Decide how to treat ``req``. Fast when no fault is active."""
        where = req.where
        now_real = time.monotonic()
        previous = self._last_request.get(where)
        self._last_request[where] = now_real
        faults = self.faults
        if not faults:
            return NO_FAULT
        d = Decision()
        now = self.clock()
        frozen = self._frozen.get(where)
        if frozen is not None:
            until, cause = frozen
            if until > now and cause.ended_at is None:
                # The freeze was the fault's firing; what it ignores is logged under its name.
                d.action = SILENCE
                d.fired.append(cause)
                return d
            del self._frozen[where]
        if "before" in faults.hooks:
            turn = Turn(self, req, d, now, now_real, previous)
            for f in faults.active(_DECIDING, req):
                effect = f.kind.effect
                if "before" in effect.hooks and effect.before(f, turn):
                    return d
        if d.action in (SILENCE, DROP) or req.handshake:
            return d  # no answer; or the key reply, which is not register data
        # A request that names no registers (a WiNet-S service) has registers read on its
        # behalf, as a dongle polls its inverter: word faults naming registers then apply to
        # each of those reads (distort_read checks table and range), as on Modbus.
        d.words = faults.active("words", req, registers=req.table is not None)
        frame = faults.active("frame", req)
        if frame:  # the first fault of each kind shapes the reply
            kinds = {f.kind.name: f for f in reversed(frame)}
            d.frame = [f for f in frame if kinds[f.kind.name] is f]
        return d

    def freeze(self, endpoint: str, until: float, fault: Fault) -> None:
        """``endpoint`` answers nothing until server-clock time ``until`` (``fault`` did it).

        The freeze lifts early if ``fault`` is removed or ends.
        """
        self._frozen[endpoint] = (until, fault)

    def fired(self, d: Decision, f: Fault) -> None:
        """``f`` shaped the answer of ``d``'s request: count it once, name it in the log."""
        if f not in d.fired:
            self.faults.fire(f)
            d.fired.append(f)

    def done(self, req: Request, outcome: str, decision: Decision = NO_FAULT,
             values: tuple[int, ...] | None = None) -> None:
        """Log a settled request and let the faults that count requests count it."""
        self._record(req, outcome, None if decision is NO_FAULT else decision.fault, values)
        faults = self.faults
        if faults and "settled" in faults.hooks:
            settled = Settled(self, req, outcome, self.clock())
            for f in faults.active(_COUNTING, req):
                effect = f.kind.effect
                if "settled" in effect.hooks:
                    effect.settled(f, settled)

    def _record(self, req: Request, outcome: str, fault: str | None,
                values: tuple[int, ...] | None = None) -> None:
        self.log.append(LoggedRequest(
            self.clock(), req.front_end, req.peer, req.unit, req.function, req.table,
            req.address, req.count, outcome, fault, values, req.device,
        ))

    # ------------------------------------------------------------------------ distortions

    def distort_read(self, d: Decision, table: str, address: int, words: list[int],
                     sentinel_of: Callable[[int], int]) -> list[int]:
        """Apply word distortions to ``words`` read from ``table`` at ``address``."""
        read = WordRead(table, address, self.clock(), sentinel_of)
        out = list(words)
        for f in d.words:
            match, effect = f.match, f.kind.effect
            changed = False
            for i in range(len(out)):
                reg = address + i
                if not match.covers(table, reg):
                    continue
                word = effect.word(f, read, reg, out[i])
                if word is not None:
                    out[i] = word
                    changed = True
            if changed:
                self.fired(d, f)
        return out

    def note_write(self, d: Decision, table: str, address: int, old_words: list[int]) -> None:
        """A write is about to replace ``old_words``: tell the word faults that remember them."""
        now = self.clock()
        for f in d.words:
            effect = f.kind.effect
            if "written" in effect.hooks:
                effect.written(f, table, address, old_words, now)

    @staticmethod
    def rewrite(d: Decision, words: list[int]) -> list[int] | None:
        """The words a write applies instead of ``words`` (None: they do not fit a register)."""
        out = words
        for f in d.rewrite:
            rewritten = f.kind.effect.rewrite(f, out)
            if rewritten is None:  # it does not fit a register: the later ones have nothing
                return None
            out = rewritten
        return out

    def distort_reply(self, d: Decision, shape: ReplyShape) -> None:
        """Let the frame faults reshape a reply (each one that acts is counted)."""
        for f in d.frame:
            if shape.done:
                break
            if f.kind.effect.reply(f, shape):
                self.fired(d, f)

    @staticmethod
    def distort_adu(d: Decision, framing: str, adu: bytes) -> bytes:
        """Apply the frame faults to a framed reply (``framing``: ``"mbap"``, ...)."""
        for f in d.frame:
            adu = f.kind.effect.adu(f, framing, adu)
        return adu

    def connection_event(self, front_end: str, peer: str, outcome: str, fault: str) -> None:
        """Log something the server did to a connection on its own (an idle close...)."""
        self._record(Request(front_end, peer, function="connection"), outcome, fault)

    def reset(self) -> None:
        """Forget per-client and per-endpoint memory (not the open connections)."""
        self._last_request.clear()
        self._frozen.clear()
        self._last_close.clear()


def _connection(front_end: str, peer: str, where: str, reach: Iterable[Reached]
                ) -> tuple[Request, list[Request]]:
    """A connection as the fault layer sees it, and the same once per device it reaches."""
    req = Request(front_end, peer, endpoint=where)
    return req, [Request(front_end, peer, unit, device=serial, endpoint=where)
                 for unit, serial in reach]
