"""Modbus: the application layer every Modbus transport shares, and the plain TCP front end.

:class:`ModbusApplication` turns one request PDU into one response PDU (function codes 3, 4,
6 and 16, with Sungrow's exception behaviour). It does not know about sockets or framing, so the
plain MBAP transport here and the AES-framed transport share it unchanged.

:class:`ModbusTcpFrontEnd` is a small :class:`asyncio.Protocol` rather than pymodbus's server:
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
import struct
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from mock_sungrow.device.datablock import SimulatedDevice, SungrowModbusDataBlock
from mock_sungrow.device.registermap import MAX_READ, MAX_WRITE
from mock_sungrow.diagnostics import Diagnostics
from mock_sungrow.errors import ExceptionCode, ModbusError
from mock_sungrow.faults.faultset import FaultSet
from mock_sungrow.faults.requestlog import RequestLog
from mock_sungrow.faults.spec import Request
from mock_sungrow.faults.traffic import NO_FAULT, Decision, IdleTimer, Traffic
from mock_sungrow.frontends.base import (
    bind_server,
    bound_port,
    close_connections,
    reset_transport,
    stop_listening,
)
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

if TYPE_CHECKING:
    from mock_sungrow.server import MockSungrowServer

#: The PDU of Sungrow's key request (FC4, wire address 0x0AE7, count 8) sent to unit 247.
KEY_REQUEST_PDU = bytes.fromhex("04 0A E7 00 08")
KEY_UNIT = 247

_READ = struct.Struct(">BHH")
_WRITE_MULTI = struct.Struct(">BHHB")
_MBAP = struct.Struct(">HHHB")

Reply = bytes | None
PendingReply = Awaitable[Reply]
Handled = Reply | PendingReply


#: A decoded request: block, documented address, count, words to write (None for a read),
#: and a write's response PDU. A plain tuple: this is built once per request.
_Operation = tuple[SungrowModbusDataBlock, int, int, list[int] | None, bytes]


def exception_pdu(function_code: int, code: int) -> bytes:
    """An exception response: the function code with its top bit set, then the code."""
    return bytes(((function_code | 0x80) & 0xFF, code))


class ModbusApplication:
    """Function codes 3, 4, 6 and 16 against a set of simulated devices.

    ``handle`` returns the response PDU, ``None`` for "no reply" (a broadcast write), or an
    awaitable of either when a data block overrides an ``async_`` method.

    ``unknown_unit`` chooses what a unit id with no device gets: ``"exception"`` (0x0B,
    gateway target failed to respond, what a dongle reports) or ``"silence"``.
    ``key_reply`` is the 16-byte public key returned to Sungrow's key request on unit 247;
    the default of 16 zero bytes tells encryption-capable clients "this port is plain", the
    fast fallback real plain ports allow. ``None`` treats the key request like any other read.
    """

    def __init__(
        self,
        devices: Mapping[int, SimulatedDevice],
        diagnostics: Diagnostics,
        *,
        unknown_unit: str = "exception",
        key_reply: bytes | None = bytes(16),
        max_read: int = MAX_READ,
        max_write: int = MAX_WRITE,
    ) -> None:
        if unknown_unit not in ("exception", "silence"):
            raise ValueError("unknown_unit must be 'exception' or 'silence'")
        if key_reply is not None and len(key_reply) != 16:
            raise ValueError("key_reply must be exactly 16 bytes")
        self.diagnostics = diagnostics
        self.unknown_unit = unknown_unit
        self.key_reply = key_reply
        self.max_read = max_read
        self.max_write = max_write
        self.set_devices(devices)

    def set_devices(self, devices: Mapping[int, SimulatedDevice]) -> None:
        """Serve ``devices`` (by unit id) from now on; used when a server is reset."""
        self.devices = dict(devices)
        self._async_units = {u for u, d in self.devices.items() if d.is_async}

    def handle(self, unit: int, pdu: bytes, peer: str = "-") -> Handled:
        """Answer one request PDU addressed to ``unit``."""
        if not pdu:
            return exception_pdu(0, ExceptionCode.ILLEGAL_FUNCTION)
        if unit == KEY_UNIT and pdu == KEY_REQUEST_PDU and self.key_reply is not None:
            return b"\x04\x10" + self.key_reply
        device = self.devices.get(unit)
        if device is None:
            if unit == 0:  # broadcast: apply writes on every device, never answer
                if pdu[0] in (6, 16):
                    for dev in self.devices.values():
                        self._dispatch(dev, pdu, peer)
                return None
            if self.unknown_unit == "silence":
                return None
            return exception_pdu(pdu[0], ExceptionCode.GATEWAY_TARGET_FAILED)
        if unit in self._async_units:
            return self._dispatch_async(device, pdu, peer)
        return self._dispatch(device, pdu, peer)

    def _dispatch(self, device: SimulatedDevice, pdu: bytes, peer: str) -> Reply:
        """The synchronous path: no awaits, so a request costs a few function calls."""
        try:
            block, address, count, values, reply = self._parse(device, pdu)
            if values is None:
                return _read_reply(pdu[0], block.getValues(address, count))
            block.setValues(address, values)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an answer
            return self._failure(pdu, peer, exc)
        return reply

    async def _dispatch_async(self, device: SimulatedDevice, pdu: bytes, peer: str) -> Reply:
        """The same, for data blocks that override an ``async_`` method."""
        try:
            block, address, count, values, reply = self._parse(device, pdu)
            if values is None:
                return _read_reply(pdu[0], await block.async_getValues(address, count))
            await block.async_setValues(address, values)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an answer
            return self._failure(pdu, peer, exc)
        return reply

    def _failure(self, pdu: bytes, peer: str, exc: Exception) -> bytes:
        fc = pdu[0]
        if isinstance(exc, ModbusError):
            return exception_pdu(fc, exc.code)
        # A user's override or a bug: answer "device failure", record it, keep serving.
        self.diagnostics.report(
            "modbus", peer, "handler-error", f"FC{fc} {pdu.hex(' ')}: {exc!r}", exc=exc
        )
        return exception_pdu(fc, ExceptionCode.DEVICE_FAILURE)

    def _parse(self, device: SimulatedDevice, pdu: bytes) -> _Operation:
        fc = pdu[0]
        if fc in (3, 4):
            if len(pdu) != 5:
                raise ModbusError(ExceptionCode.ILLEGAL_ADDRESS, "a read PDU is 5 bytes")
            _, address, count = _READ.unpack(pdu)
            if not 1 <= count <= self.max_read:
                raise ModbusError(
                    ExceptionCode.ILLEGAL_ADDRESS, f"count {count} outside 1..{self.max_read}"
                )
            block = device.holding if fc == 3 else device.input
            return (block, address + 1, count, None, b"")
        if fc == 6:
            if len(pdu) != 5:
                raise ModbusError(ExceptionCode.ILLEGAL_ADDRESS, "a single write PDU is 5 bytes")
            _, address, value = _READ.unpack(pdu)
            return (device.holding, address + 1, 1, [value], pdu)
        if fc == 16:
            if len(pdu) < 6:
                raise ModbusError(ExceptionCode.ILLEGAL_ADDRESS, "truncated FC16 request")
            _, address, count, byte_count = _WRITE_MULTI.unpack_from(pdu)
            if not 1 <= count <= self.max_write or byte_count != 2 * count:
                raise ModbusError(
                    ExceptionCode.ILLEGAL_ADDRESS,
                    f"FC16 count {count} / byte count {byte_count} invalid (1..{self.max_write})",
                )
            if len(pdu) != 6 + byte_count:
                raise ModbusError(ExceptionCode.ILLEGAL_ADDRESS, "FC16 byte count does not match")
            values = list(struct.unpack_from(f">{count}H", pdu, 6))
            return (device.holding, address + 1, count, values, pdu[:5])
        raise ModbusError(ExceptionCode.ILLEGAL_FUNCTION, f"function code {fc} not supported")


_REPLY_STRUCTS = [struct.Struct(f">BB{n}H") for n in range(MAX_READ + 1)]


def _read_reply(fc: int, values: list[int]) -> bytes:
    """A read response PDU. ``struct`` rejects words outside 0..65535 (a broken override)."""
    n = len(values)
    packer = _REPLY_STRUCTS[n] if n <= MAX_READ else struct.Struct(f">BB{n}H")
    return packer.pack(fc, 2 * n, *values)


class FrameError(ValueError):
    """The byte stream cannot be split into frames: the connection has to be closed."""


def take_mbap(buf: bytearray) -> tuple[int, int, bytes] | None:
    """Remove the first whole MBAP frame from ``buf``: ``(transaction id, unit, pdu)``.

    ``None`` when the frame is not complete yet. A header that no Modbus TCP client sends
    (protocol id not 0, length outside 2..254) raises :class:`FrameError`: nothing after it
    can be trusted to be a frame boundary.
    """
    if len(buf) < 7:
        return None
    tid, pid, length, unit = _MBAP.unpack_from(buf)
    if pid != 0 or not 2 <= length <= 254:
        raise FrameError(f"malformed MBAP header {bytes(buf[:7]).hex(' ')}")
    end = 6 + length
    if len(buf) < end:
        return None
    pdu = bytes(buf[7:end])
    del buf[:end]
    return tid, unit, pdu


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
            tid, pid, length, unit = _MBAP.unpack_from(data)
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
            req = describe(self.front_end.name, self.peer, unit, pdu)
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
                                   unit, pdu, outcome)
            writer(tid, unit, result, d)
        else:
            if result is not None and (d.words or d.frame):
                result = distort_pdu(traffic, d, req, result, self.front_end.model)
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
        adu = _MBAP.pack(tid, 0, len(pdu) + 1, unit) + pdu
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


class ModbusTcpFrontEnd:
    """Plain Modbus TCP (MBAP) on one port."""

    def __init__(
        self,
        app: ModbusApplication,
        diagnostics: Diagnostics,
        host: str,
        port: int,
        *,
        name: str = "modbus",
        label: str = "Modbus TCP front end",
        protocol_factory: Callable[[ModbusTcpFrontEnd], asyncio.Protocol] | None = None,
        traffic: Traffic | None = None,
        model: str = "",
    ) -> None:
        self.app = app
        #: Fault decisions and the request log (a private one when none is given).
        self.traffic = traffic or Traffic(FaultSet(), RequestLog(1000), time.time)
        #: The model served, for fault distortions that depend on the register map.
        self.model = model
        self.diagnostics = diagnostics
        self.host = host
        self.requested_port = port
        self.name = name
        self.label = label
        self.connections: set[Any] = set()
        self._protocol_factory = protocol_factory or ModbusConnection
        self._server: asyncio.Server | None = None
        self.port: int | None = None
        self.closing = False

    async def start(self) -> None:
        """Listen; returns once the port accepts connections."""
        self.closing = False
        self._server = await bind_server(
            lambda: self._protocol_factory(self), self.host, self.requested_port, self.label
        )
        self.port = bound_port(self._server)

    async def stop(self) -> None:
        """Close the listener, abort every connection, and finish their tasks."""
        server, self._server = self._server, None
        if server is None:
            return
        self.closing = True
        await stop_listening(server)
        await close_connections(self.connections)
        await server.wait_closed()

    def connection_info(self) -> dict[str, Any]:
        """Where clients connect."""
        return {"host": self.host, "port": self.port, "connection_type": self.name}

    async def rearm_idle(self) -> None:
        """An ``idle-timeout`` fault came or went: restart every connection's idle timer."""
        for conn in list(self.connections):
            conn._arm_idle()


def build_front_end(server: MockSungrowServer) -> ModbusTcpFrontEnd:
    """The plain Modbus TCP front end of ``server`` (see ``server.FRONT_END_BUILDERS``)."""
    return ModbusTcpFrontEnd(server.modbus_app, server.diagnostics, server.host,
                             server.configured_port("modbus"), traffic=server.traffic,
                             model=server.model.name)
