"""The Modbus request path: strict in-order replies, the fast path, back-pressure, faults, log.

:class:`RequestPath` is what every Modbus connection needs once, whatever its framing and
whatever carries its bytes: it takes requests from a codec
(:class:`~mock_sungrow.frontends.modbus.codec.Codec`: MBAP, Sungrow's AES framing, next RTU)
as ``(handler, writer, tid, unit, pdu)``, asks the fault layer about each, answers them
strictly in order (pipelined and split frames included) with a synchronous fast path that
costs one function call per request and an ordered worker task only when an answer has to
wait, logs them, and writes the answers back through the codec's writer to a :class:`Link`
(an asyncio stream transport for TCP, :mod:`~mock_sungrow.frontends.modbus.stream`; a serial
line next). It knows no framing and no socket.

This is an own implementation rather than pymodbus's server: pymodbus drops a second request
that arrives in the same TCP segment, leaves request tasks pending at shutdown, keeps
process-wide singletons, and changed its data-block extension point incompatibly in 3.13 (see
``docs/design.md``).
"""

from __future__ import annotations

import asyncio
import collections
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from mock_sungrow.errors import ExceptionCode
from mock_sungrow.faults.decision import DROP, ERROR, NO_FAULT, SILENCE, Decision
from mock_sungrow.faults.spec import Request
from mock_sungrow.frontends.base import IdleTimer
from mock_sungrow.frontends.modbus.distort import (
    describe,
    distort_pdu,
    logged,
    note_old_words,
    outcome_of,
    rewrite_write,
    written_words,
)
from mock_sungrow.frontends.modbus.pdu import Handled, PendingReply, Reply, exception_pdu

if TYPE_CHECKING:
    from mock_sungrow.diagnostics import Diagnostics
    from mock_sungrow.faults.traffic import Traffic
    from mock_sungrow.frontends.modbus.app import ModbusApplication
    from mock_sungrow.frontends.modbus.codec import Codec

#: Answers one request: ``(unit, pdu, peer, front end) -> response PDU | None | awaitable``.
#: ``ModbusApplication.handle`` is the usual one; a codec may answer some requests itself.
Handler = Callable[[int, bytes, str, str], Handled]
#: Frames and sends one answer: ``(transaction id, unit, response PDU or None, decision)``.
#: The decision carries the frame distortions a fault asks for.
Writer = Callable[[int, int, Reply, Decision], None]
#: One request on its way: the writer for its answer, transaction id, unit, PDU, what the
#: fault layer knows of it, and the fault decision.
_Job = tuple[Writer, int, int, bytes, "Request | None", Decision]
#: A request waiting behind one whose answer has to wait. A ``None`` handler drops the
#: connection once everything before it has been answered.
_Queued = tuple[Handler | None, _Job]


class Link(Protocol):
    """What carries a connection's bytes: an asyncio stream transport has all of it."""

    def write(self, data: bytes) -> None:
        """Send bytes (buffered; the link tells the path when its buffer is full)."""
        ...

    def pause_reading(self) -> None:
        """Stop delivering received bytes."""
        ...

    def resume_reading(self) -> None:
        """Deliver received bytes again."""
        ...

    def close(self) -> None:
        """Close once what was written has been sent."""
        ...

    def abort(self) -> None:
        """Close at once, dropping what was not sent yet."""
        ...

    def is_closing(self) -> bool:
        """Whether the link is closed or closing."""
        ...


class Endpoint(Protocol):
    """What a request path needs of its front end.

    ``name`` is the front end's (``modbus``), what faults match; ``endpoint_name`` the
    endpoint's (``inverter[2].modbus``), whose connection memory the requests share.
    """

    name: str
    endpoint_name: str
    app: ModbusApplication
    traffic: Traffic
    diagnostics: Diagnostics
    #: Set once the front end stops (possibly from another thread: a fleet's stop marks all
    #: its front ends at once): requests still arriving are not answered.
    closing: bool


def _rewritten(handler: Handler, written: bytes) -> Handler:
    """``handler`` applying ``written`` instead of the write it was sent (``rewrite`` faults).

    The reply still echoes what the client sent, as the firmware does.
    """

    def run(unit: int, pdu: bytes, peer: str, front_end: str) -> Handled:
        result = handler(unit, written, peer, front_end)
        if isinstance(result, bytes):
            return pdu if result == written else result
        if result is None:
            return None

        async def echo(pending: PendingReply = result) -> Reply:
            reply = await pending
            return pdu if reply == written else reply

        return echo()

    return run


def _delayed(handler: Handler, delay: float) -> Handler:
    """``handler``, answering ``delay`` seconds late (a latency fault)."""

    async def late(unit: int, pdu: bytes, peer: str, front_end: str) -> Reply:
        await asyncio.sleep(delay)
        result = handler(unit, pdu, peer, front_end)
        if result is not None and not isinstance(result, bytes):
            result = await result
        return result

    return late


def _exception_handler(code: int, unit: int, pdu: bytes, peer: str, front_end: str) -> Handled:
    """Answer with exception ``code`` (a fault's ``ERROR`` action)."""
    return exception_pdu(pdu[0], code)


class RequestPath:
    """One connection's requests: strict in-order replies, bounded buffers, faults, the log.

    Back-pressure: the codec takes requests from its buffer only while :meth:`can_take` (the
    client reads its replies, and few enough answers wait). When the link's write buffer is
    full (:meth:`pause_writing`), the link stops reading too and what was read stays in the
    codec's buffer (at most one read, 256 KiB on TCP), so a client that pipelines without
    reading holds the write buffer near its high-water mark; :meth:`resume_writing` carries
    on where it stopped.
    """

    #: Pending requests after which the connection stops reading (back-pressure).
    MAX_PENDING = 64
    #: Requests one connection answers in a row before it lets the loop serve the others
    #: (fairness: one read of 256 KiB holds ~21,800 pipelined requests). While it waits for
    #: its next turn it does not read, so its buffer stays at most one read.
    SLICE = 256

    def __init__(self, endpoint: Endpoint, link: Link, peer: str,
                 codec: Callable[[RequestPath], Codec]) -> None:
        self.endpoint = endpoint
        self.name = endpoint.name
        self.endpoint_name = endpoint.endpoint_name
        self.app = endpoint.app
        self.traffic = endpoint.traffic
        self.link = link
        self.peer = peer
        #: True while no request may be taken: the link's write buffer is over its
        #: high-water mark, or this connection has used its slice and waits for its turn.
        self.paused = False
        self._write_paused = False
        self._yielding = False
        self._slice = self.SLICE
        self._queue: collections.deque[_Queued] = collections.deque()
        self._worker: asyncio.Task[None] | None = None
        self._idle = IdleTimer(self.traffic, self.name, self.endpoint_name, self.app.devices)
        #: The application's handler (bound once: it is passed for every request).
        self.handle: Handler = self.app.handle
        self.codec = codec(self)

    # ------------------------------------------------------------------------ the link's side

    def pause_writing(self) -> None:
        """The client is not reading its replies: stop taking and reading its requests.

        Called from inside ``link.write`` as soon as its buffer crosses the high-water mark,
        so the codec's loop stops after the reply that crossed it; the rest of what was read
        stays in its buffer.
        """
        self._write_paused = True
        self._update_paused()
        self.link.pause_reading()

    def resume_writing(self) -> None:
        """The client caught up: answer what is buffered, then read its requests again."""
        self._write_paused = False
        self._update_paused()
        self._take_more()

    def _yield_turn(self) -> None:
        """The slice is used up: stop taking and reading until the loop's next turn."""
        self._slice = self.SLICE
        if self._yielding:
            return
        self._yielding = True
        self._update_paused()
        self.link.pause_reading()
        asyncio.get_running_loop().call_soon(self._next_turn)

    def _next_turn(self) -> None:
        self._yielding = False
        self._update_paused()
        if not self.link.is_closing():
            self._take_more()

    def _update_paused(self) -> None:
        """``paused`` is one rule over both reasons, kept as a plain attribute for the hot path.

        Either reason may end while the other holds: the write buffer drains while the
        connection waits for its turn, or its turn comes while the client still does not read.
        """
        self.paused = self._write_paused or self._yielding

    def lost(self) -> None:
        """The link is gone: drop whatever was still queued or buffered."""
        self._idle.cancel()
        self._queue.clear()
        self.codec.lost()
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()

    def release(self) -> None:
        """The link is gone for good (a TCP connection closed, not a serial line's abort).

        The path and its codec refer to each other (and the codec to its own bound
        ``write``), so without this a closed connection, its transport and its socket object
        wait for the cyclic collector. A fleet polled connect-read-close makes a thousand of
        them a second; their collections were most of its p99. Called after :meth:`lost`,
        when nothing will feed this path again.
        """
        self.codec.release()
        del self.codec

    @property
    def write_paused(self) -> bool:
        """Whether the link's write buffer is over its high-water mark (the client lags)."""
        return self._write_paused

    @property
    def worker(self) -> asyncio.Task[None] | None:
        """The task answering queued requests, while one runs."""
        return self._worker

    @property
    def queued(self) -> int:
        """Requests waiting behind one whose answer has to wait."""
        return len(self._queue)

    def arm_idle(self) -> None:
        """(Re)start the idle timer an ``idle-timeout`` fault asks for."""
        self._idle.arm(self.link, self.peer)

    # ------------------------------------------------------------------------ the codec's side

    def can_take(self) -> bool:
        """Whether the next buffered request may be answered now (see the class docstring)."""
        return (not self.paused and len(self._queue) < self.MAX_PENDING
                and not self.link.is_closing())

    def _take_more(self) -> None:
        """Room again: answer buffered requests, and read once nothing holds us back."""
        if not self.can_take():
            return
        self.codec.take()
        if self.can_take():
            self.link.resume_reading()

    def reject(self, why: str) -> None:
        """Record why the stream cannot be read and close this connection (only this one)."""
        self.endpoint.diagnostics.report(self.name, self.peer, "bad-frame", why)
        self.link.close()

    def submit(self, handler: Handler, writer: Writer, tid: int, unit: int, pdu: bytes) -> None:
        """Answer one request after every request received before it.

        The common case costs one call: no fault, nothing is waiting, the handler answers at
        once, the writer sends. Once an answer has to wait (a latency fault, an ``async_``
        data block), later requests queue behind it and an ordered worker answers them.
        """
        if self.endpoint.closing:  # stopping: the backlog of an overload is not worked off
            return
        self._slice -= 1
        if self._slice <= 0:
            self._yield_turn()  # this one is answered; the next ones after the others
        traffic = self.traffic
        req: Request | None = None
        d = NO_FAULT
        if traffic.faults:
            req = describe(self.name, self.peer, unit, pdu, self.app.serial_of(unit, pdu),
                           self.endpoint_name)
            d = traffic.before(req)
        if req is not None and d is not NO_FAULT:
            action = d.action
            if action == SILENCE:
                traffic.done(req, "silence", d)
                return
            if action == DROP:
                if self._worker is not None:
                    self._queue.append((None, (writer, tid, unit, pdu, req, d)))
                else:
                    self._drop(req, d)
                return
            if action == ERROR:
                handler = functools.partial(_exception_handler, d.code)
            if d.notes_writes:
                note_old_words(traffic, d, self.app.devices, req)
            if d.rewrite:
                written = rewrite_write(traffic, d, pdu)
                if written is None:  # a word no longer fits a register: out of range
                    handler = functools.partial(_exception_handler,
                                                ExceptionCode.DEVICE_FAILURE)
                else:
                    handler = _rewritten(handler, written)
            if d.delay > 0:
                handler = _delayed(handler, d.delay)
        job: _Job = (writer, tid, unit, pdu, req, d)
        if self._worker is not None:
            self._queue.append((handler, job))
            if len(self._queue) >= self.MAX_PENDING:
                self.link.pause_reading()
            return
        result = handler(unit, pdu, self.peer, self.name)
        if result is None or isinstance(result, bytes):
            self._finish(job, result)
        else:
            self._worker = asyncio.ensure_future(self._drain(job, result))

    # ------------------------------------------------------------------------ answers

    def _finish(self, job: _Job, result: Reply) -> None:
        """Distort (if a fault says so), log and send one answer."""
        writer, tid, unit, pdu, req, d = job
        traffic = self.traffic
        if req is None:  # no fault was active: log the raw PDU, decoded only when read
            outcome = "ok" if result and not result[0] & 0x80 else outcome_of(result)
            traffic.log.append_raw(logged, traffic.clock(), self.name, self.peer, unit, pdu,
                                   outcome, self.app.serial_of(unit, pdu))
            writer(tid, unit, result, d)
        else:
            if result is not None and (d.words or d.frame):
                result = distort_pdu(traffic, d, req, result, self.app.device_at(unit))
            # Log before sending: a client may look at the log as soon as it has its answer.
            traffic.done(req, outcome_of(result), d, written_words(pdu) if req.write else None)
            writer(tid, unit, result, d)
        if self._idle.running or d is not NO_FAULT:
            self.arm_idle()

    def _drop(self, req: Request, d: Decision) -> None:
        self.traffic.done(req, "dropped", d)
        self.link.abort()

    async def _drain(self, job: _Job, first: PendingReply) -> None:
        """Answer queued requests in arrival order, awaiting the ones that must wait."""
        try:
            self._finish(job, await first)
            while self._queue:
                handler, job = self._queue.popleft()
                if handler is None:  # a "drop" fault queued behind earlier answers
                    req = job[4]
                    if req is not None:
                        self._drop(req, job[5])
                    self._queue.clear()
                    return
                result = handler(job[2], job[3], self.peer, self.name)
                if result is not None and not isinstance(result, bytes):
                    result = await result
                self._finish(job, result)
                self._take_more()  # room in the queue: buffered requests join it
        finally:
            self._worker = None
        self._take_more()  # the queue is empty: answer the rest directly again
