"""The Modbus request path: strict in-order replies, the fast path, back-pressure, faults.

:class:`ModbusConnection` is a small :class:`asyncio.Protocol` rather than pymodbus's server:
pymodbus drops a second request that arrives in the same TCP segment, leaves request tasks
pending at shutdown, keeps process-wide singletons, and changed its data-block extension
point incompatibly in 3.13 (see ``docs/design.md``). Here each connection answers strictly in
order, pipelined and split frames included, with a synchronous fast path that costs one
function call per request and an ordered worker task only when an answer has to wait.
"""

from __future__ import annotations

import asyncio
import collections
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from mock_sungrow.errors import ExceptionCode
from mock_sungrow.faults.spec import Request
from mock_sungrow.faults.traffic import NO_FAULT, Decision
from mock_sungrow.frontends.base import IdleTimer, reset_transport
from mock_sungrow.frontends.modbus.codec import FrameError, take_mbap
from mock_sungrow.frontends.modbus.distort import (
    describe,
    distort_adu,
    distort_pdu,
    logged,
    note_old_words,
    outcome_of,
    scale_write,
    written_words,
)
from mock_sungrow.frontends.modbus.pdu import (
    KEY_REQUEST_PDU,
    KEY_UNIT,
    MBAP,
    Handled,
    PendingReply,
    Reply,
    exception_pdu,
)

if TYPE_CHECKING:
    from mock_sungrow.frontends.modbus.tcp import ModbusTcpFrontEnd

#: Answers one request: ``(unit, pdu, peer) -> response PDU | None | awaitable``.
#: ``ModbusApplication.handle`` is the usual one; a codec may answer some requests itself.
Handler = Callable[[int, bytes, str], Handled]
#: Frames and sends one answer: ``(transaction id, unit, response PDU or None, decision)``.
#: The decision carries the frame distortions a fault asks for.
Writer = Callable[[int, int, Reply, Decision], None]
#: One request on its way: the writer for its answer, transaction id, unit, PDU, what the
#: fault layer knows of it, and the fault decision.
_Job = tuple[Writer, int, int, bytes, "Request | None", Decision]
#: A request waiting behind one whose answer has to wait. A ``None`` handler drops the
#: connection once everything before it has been answered.
_Queued = tuple[Handler | None, _Job]


def _scaled_write(handler: Handler, scaled: bytes) -> Handler:
    """``handler`` applying ``scaled`` instead of the write it was sent (``write-scale``).

    The reply still echoes what the client sent, as the firmware does.
    """

    def run(unit: int, pdu: bytes, peer: str) -> Handled:
        result = handler(unit, scaled, peer)
        if isinstance(result, bytes):
            return pdu if result == scaled else result
        if result is None:
            return None

        async def echo(pending: PendingReply = result) -> Reply:
            reply = await pending
            return pdu if reply == scaled else reply

        return echo()

    return run


def _delayed(handler: Handler, delay: float) -> Handler:
    """``handler``, answering ``delay`` seconds late (a latency fault)."""

    async def late(unit: int, pdu: bytes, peer: str) -> Reply:
        await asyncio.sleep(delay)
        result = handler(unit, pdu, peer)
        if result is not None and not isinstance(result, bytes):
            result = await result
        return result

    return late


class ModbusConnection(asyncio.Protocol):
    """One client connection: framing, strict in-order replies, bounded buffers, faults.

    The framing is the only thing a transport changes. :meth:`take_requests` splits the
    buffered stream into requests and hands each to :meth:`submit` together with the handler
    that answers it and the writer that frames the answer; ordering, the async worker,
    back-pressure, the request log and fault injection live here once, for plain MBAP and for
    Sungrow's AES framing alike.

    Back-pressure: requests are taken from the buffer only while :meth:`can_take` (the client
    reads its replies, and few enough answers wait). When writing pauses, the transport
    stops reading too and what was read stays buffered (at most one read, 256 KiB), so a
    client that pipelines without reading holds the write buffer near its high-water mark;
    :meth:`resume_writing` carries on where it stopped.
    """

    #: Pending requests after which the connection stops reading (back-pressure).
    MAX_PENDING = 64
    #: The write buffer's high-water mark (asyncio pauses writing above it).
    HIGH_WATER = 64 * 1024

    def __init__(self, front_end: ModbusTcpFrontEnd) -> None:
        self.front_end = front_end
        self.app = front_end.app
        self.traffic = front_end.traffic
        self.transport: asyncio.Transport | None = None
        self.peer = "-"
        self._buffer = bytearray()
        self._queue: collections.deque[_Queued] = collections.deque()
        self._worker: asyncio.Task[None] | None = None
        self._paused = False
        self._admitted = False
        self._idle = IdleTimer(self.traffic, front_end.name)
        # Bound once: these are passed for every request.
        self._handle: Handler = self.app.handle
        self._write_mbap: Writer = self.write_mbap

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Admit the connection (faults may refuse it), or abort it if the front end stops."""
        self.transport = cast(asyncio.Transport, transport)  # a stream transport
        if self.front_end.closing:  # accepted while the front end was stopping
            self.transport.abort()
            return
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "-"
        refused, to_close = self.traffic.admit(self.front_end.name, self.peer, self)
        if refused is not None:
            reset_transport(self.transport)
            return
        for older in to_close:  # a "max-clients" fault keeping only the newest
            if older.transport is not None:
                older.transport.abort()
        self._admitted = True
        self.transport.set_write_buffer_limits(high=self.HIGH_WATER)
        self.front_end.connections.add(self)
        self._arm_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection and drop whatever it still had queued."""
        self.front_end.connections.discard(self)
        if self._admitted:
            self._admitted = False
            self.traffic.closed(self.front_end.name, self.peer, self)
        self._idle.cancel()
        self._queue.clear()
        self._buffer.clear()
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()

    def pause_writing(self) -> None:
        """The client is not reading its replies: stop taking and reading its requests.

        Called from inside ``transport.write`` as soon as the buffer crosses the high-water
        mark, so the request loop stops after the reply that crossed it; the rest of what was
        read stays in the buffer.
        """
        self._paused = True
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        """The client caught up: answer what is buffered, then read its requests again."""
        self._paused = False
        self._take_more()

    def can_take(self) -> bool:
        """Whether the next buffered request may be answered now (see the class docstring)."""
        transport = self.transport
        return (not self._paused and len(self._queue) < self.MAX_PENDING
                and transport is not None and not transport.is_closing())

    def _take_more(self) -> None:
        """Room again: answer buffered requests, and read once nothing holds us back."""
        if not self.can_take():
            return
        if self._buffer:
            self.take_requests()
        if self.can_take() and self.transport is not None:
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        """Split the stream into MBAP frames and answer each (in order)."""
        buf = self._buffer
        if not buf and not self._paused and len(data) >= 8:
            # The common case: exactly one whole, well-formed request in this segment.
            tid, pid, length, unit = MBAP.unpack_from(data)
            if pid == 0 and 2 <= length <= 254 and len(data) == 6 + length:
                self.submit(self._handle, self._write_mbap, tid, unit, data[7:])
                return
        buf += data
        self.take_requests()

    def take_requests(self) -> None:
        """Answer whole frames from the buffer, in order, while :meth:`can_take`.

        A transport's framing lives here (this one: plain MBAP); it is called when data
        arrives and again when back-pressure lifts.
        """
        buf = self._buffer
        handle, write, submit, can_take = self._handle, self._write_mbap, self.submit, \
            self.can_take
        while can_take():
            try:
                frame = take_mbap(buf)
            except FrameError as exc:
                self.reject(str(exc))
                return
            if frame is None:
                return
            tid, unit, pdu = frame
            submit(handle, write, tid, unit, pdu)

    def submit(self, handler: Handler, writer: Writer, tid: int, unit: int, pdu: bytes) -> None:
        """Answer one request after every request received before it.

        The common case costs one call: no fault, nothing is waiting, the handler answers at
        once, the writer sends. Once an answer has to wait (a latency fault, an ``async_``
        data block), later requests queue behind it and an ordered worker answers them.
        """
        traffic = self.traffic
        req: Request | None = None
        d = NO_FAULT
        if traffic.faults:
            req = describe(self.front_end.name, self.peer, unit, pdu, self.app.serial_of(unit))
            d = traffic.before(req)
        if req is not None and d is not NO_FAULT:
            if unit == KEY_UNIT and pdu == KEY_REQUEST_PDU:
                # The key reply is the dongle's handshake, not register data: word and frame
                # distortions leave it alone (an empty-frame fault would otherwise make every
                # key exchange fail); key-silent is the fault for it.
                d.words, d.frame = [], []
                if traffic.key_silent(req, d):
                    d.action = "silence"
            action = d.action
            if action == "silence":
                traffic.done(req, "silence", d)
                return
            if action == "drop":
                if self._worker is not None:
                    self._queue.append((None, (writer, tid, unit, pdu, req, d)))
                else:
                    self._drop(req, d)
                return
            if action == "exception":
                handler = functools.partial(_exception_handler, d.code)
            note_old_words(traffic, d, self.app.devices, req)
            if d.write_factor != 1:
                scaled = scale_write(pdu, d.write_factor)
                if scaled is None:  # the product does not fit a register: out of range
                    handler = functools.partial(_exception_handler,
                                                ExceptionCode.DEVICE_FAILURE)
                else:
                    handler = _scaled_write(handler, scaled)
            if d.delay > 0:
                handler = _delayed(handler, d.delay)
        job: _Job = (writer, tid, unit, pdu, req, d)
        if self._worker is not None:
            self._queue.append((handler, job))
            if len(self._queue) >= self.MAX_PENDING and self.transport is not None:
                self.transport.pause_reading()
            return
        result = handler(unit, pdu, self.peer)
        if result is None or isinstance(result, bytes):
            self._finish(job, result)
        else:
            self._worker = asyncio.ensure_future(self._drain(job, result))

    def _finish(self, job: _Job, result: Reply) -> None:
        """Distort (if a fault says so), log and send one answer."""
        writer, tid, unit, pdu, req, d = job
        traffic = self.traffic
        if req is None:  # no fault was active: log the raw PDU, decoded only when read
            outcome = "ok" if result and not result[0] & 0x80 else outcome_of(result)
            traffic.log.append_raw(logged, traffic.clock(), self.front_end.name, self.peer,
                                   unit, pdu, outcome, self.app.serial_of(unit))
            writer(tid, unit, result, d)
        else:
            if result is not None and (d.words or d.frame):
                result = distort_pdu(traffic, d, req, result, self.app.devices.get(unit))
            # Log before sending: a client may look at the log as soon as it has its answer.
            traffic.done(req, outcome_of(result), d, written_words(pdu) if req.write else None)
            writer(tid, unit, result, d)
        if self._idle.running or d is not NO_FAULT:
            self._arm_idle()

    def _drop(self, req: Request, d: Decision) -> None:
        self.traffic.done(req, "dropped", d)
        if self.transport is not None:
            self.transport.abort()

    def _arm_idle(self) -> None:
        """(Re)start the idle timer an ``idle-timeout`` fault asks for."""
        self._idle.arm(self.transport, self.peer)

    def reject(self, why: str) -> None:
        """Record why the stream cannot be read and close this connection (only this one)."""
        self.front_end.diagnostics.report(self.front_end.name, self.peer, "bad-frame", why)
        self._buffer.clear()
        if self.transport is not None:
            self.transport.close()

    def write_mbap(self, tid: int, unit: int, pdu: bytes | None, d: Decision = NO_FAULT) -> None:
        """Send ``pdu`` as a plain Modbus TCP frame (nothing for "no reply")."""
        transport = self.transport
        if pdu is None or transport is None or transport.is_closing():
            return
        adu = MBAP.pack(tid, 0, len(pdu) + 1, unit) + pdu
        if d.frame:
            adu = distort_adu(d, adu)
        transport.write(adu)

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
                result = handler(job[2], job[3], self.peer)
                if result is not None and not isinstance(result, bytes):
                    result = await result
                self._finish(job, result)
                self._take_more()  # room in the queue: buffered requests join it
        finally:
            self._worker = None
        self._take_more()  # the queue is empty: answer the rest directly again

def _exception_handler(code: int, unit: int, pdu: bytes, peer: str) -> Handled:
    """Answer with exception ``code`` (an ``exception`` fault)."""
    return exception_pdu(pdu[0], code)

