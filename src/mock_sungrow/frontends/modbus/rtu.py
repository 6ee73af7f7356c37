"""Modbus RTU: CRC-checked frames delimited by silence, on a line that has a baud rate.

The framing follows the Modbus over serial line specification (V1.02): an ADU is the unit,
the PDU and a CRC-16 sent low byte first, at most 256 bytes; there is no transaction id, so
answers go out in the order the requests came (the request path's order); a frame whose CRC
is wrong gets no answer, as a slave that cannot trust the address in it must not answer; a
broadcast (unit 0) is carried out and never answered; a frame for a unit this device does not
serve is someone else's on a shared bus and is ignored; frames end with 3.5 character times
of silence (1.75 ms above 19,200 baud, the specification's fixed value).

What makes it a line and not a stream is :class:`Line`: received bytes are taken to arrive at
the configured rate (the request is complete when its last byte would have arrived, and the
device answers after the silence that ends it plus its turnaround), and replies leave at that
rate, in chunks at the times their last byte would have left, so a client measures what a
9,600-baud cable gives (a 125-register read takes about 280 ms). The same codec serves a
pseudo-terminal (:mod:`~mock_sungrow.frontends.modbus.serial`, front end ``rtu``) and a TCP
stream (front end ``rtu-tcp``: a serial device server such as an Elfin EW11 forwarding the raw
frames of its RS485 side, which it receives at the line's rate).

Bounded state: a frame longer than 256 bytes is dropped with the rest of the burst, the
replies waiting for the line are capped (the path stops taking requests above
:attr:`Line.HIGH_WATER` bytes), and what a client sends without reading stays in the link's
own back-pressure.
"""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mock_sungrow.faults.decision import NO_FAULT, Decision
from mock_sungrow.frontends.modbus.codec import Codec
from mock_sungrow.frontends.modbus.pdu import crc16

if TYPE_CHECKING:
    from collections.abc import Callable

    from mock_sungrow.frontends.modbus.path import RequestPath

#: The longest RTU ADU (unit + PDU of at most 253 bytes + CRC).
MAX_ADU = 256
#: Parity names as pyserial spells them (N, E, O) and what each adds to a character.
PARITY_BITS = {"N": 0, "E": 1, "O": 1}


@dataclass(frozen=True)
class LineSettings:
    """A serial line's settings and the device's turnaround (Sungrow documents 9600 8N1)."""

    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: int = 1
    #: Seconds the device takes between the end of a request and the start of its answer.
    turnaround: float = 0.0

    @property
    def char_bits(self) -> int:
        """Bits on the wire per character: start, data, parity, stop."""
        return 1 + self.bytesize + PARITY_BITS[self.parity] + self.stopbits

    @property
    def char_time(self) -> float:
        """Seconds one character takes on the line."""
        return self.char_bits / self.baudrate

    @property
    def silence(self) -> float:
        """The inter-frame silence: 3.5 characters, 1.75 ms above 19,200 baud."""
        return 0.00175 if self.baudrate > 19200 else 3.5 * self.char_time

    def line_time(self, size: int) -> float:
        """Seconds ``size`` bytes take on the line."""
        return size * self.char_time

    def info(self) -> dict[str, Any]:
        """The settings as the ready line reports them (pyserial's names)."""
        return {"baudrate": self.baudrate, "bytesize": self.bytesize, "parity": self.parity,
                "stopbits": self.stopbits}


def adu(unit: int, pdu: bytes) -> bytes:
    """``pdu`` for ``unit`` framed as RTU: unit, PDU, CRC low byte first."""
    body = bytes([unit]) + pdu
    return body + crc16(body).to_bytes(2, "little")


def crc_ok(frame: bytes | bytearray) -> bool:
    """Whether the last two bytes of ``frame`` are the CRC of the rest."""
    return len(frame) >= 4 and crc16(bytes(frame[:-2])) == int.from_bytes(frame[-2:], "little")


def request_size(buf: bytes | bytearray, at: int = 0) -> int | None:
    """The length of the request starting at ``buf[at]``, from its function code.

    ``None`` when the length is not known yet (a write-multiple whose byte count has not
    arrived) or cannot be known (a function code this device does not implement: that frame
    ends at the next silence).
    """
    if len(buf) - at < 2:
        return None
    fc = buf[at + 1]
    if fc in (3, 4, 6):
        return 8
    if fc == 16:
        return 9 + buf[at + 6] if len(buf) - at >= 7 else None
    return None


def whole_frames(buf: bytes | bytearray) -> int:
    """How many bytes at the start of ``buf`` are whole requests (of known length)."""
    at = 0
    while (size := request_size(buf, at)) is not None and len(buf) - at >= size:
        at += size
    return at


class Line:
    """The timing of one half-duplex line, in the event loop's clock.

    ``received`` says when the bytes just read would have finished arriving; ``send`` writes a
    frame in chunks at the times their last byte would have left, never before the line is
    free. ``backlog`` is what waits to leave; above :attr:`HIGH_WATER` the owner stops taking
    requests, and ``on_drained`` tells it when the line has room again.
    """

    #: Bytes waiting for the line above which no more requests are taken.
    HIGH_WATER = 4096
    #: Seconds of line time per chunk written (a timer per byte would cost more than it shows).
    CHUNK_TIME = 0.01

    def __init__(self, settings: LineSettings, write: Callable[[bytes], None],
                 on_drained: Callable[[], None]) -> None:
        self.settings = settings
        self._write = write
        self._on_drained = on_drained
        self._loop = asyncio.get_running_loop()
        self._rx_end = 0.0
        self._tx_free = 0.0
        self.backlog = 0
        #: The chunks' timers, in the order they fire (each chunk is due after the one before).
        self._timers: collections.deque[asyncio.TimerHandle] = collections.deque()

    def received(self, size: int) -> float:
        """``size`` bytes were read now: when their last byte would have arrived."""
        start = max(self._loop.time(), self._rx_end)
        self._rx_end = start + self.settings.line_time(size)
        return self._rx_end

    @property
    def rx_end(self) -> float:
        """When the last byte received so far would have finished arriving."""
        return self._rx_end

    @property
    def full(self) -> bool:
        """Whether the replies waiting for the line reach the high-water mark."""
        return self.backlog >= self.HIGH_WATER

    def send(self, frame: bytes, not_before: float) -> None:
        """Put ``frame`` on the line once it is free and not before ``not_before``."""
        settings = self.settings
        start = max(self._loop.time(), not_before, self._tx_free)
        per_chunk = max(1, int(self.CHUNK_TIME / settings.char_time))
        self._tx_free = start + settings.line_time(len(frame))
        self.backlog += len(frame)
        for offset in range(0, len(frame), per_chunk):
            chunk = frame[offset:offset + per_chunk]
            due = start + settings.line_time(offset + len(chunk))
            self._timers.append(self._loop.call_at(due, self._leave, chunk))

    def _leave(self, chunk: bytes) -> None:
        self._timers.popleft()
        was_full = self.full
        self.backlog -= len(chunk)
        self._write(chunk)
        if was_full and not self.full:
            self._on_drained()

    def flush(self) -> None:
        """Drop what has not left yet (the device stops talking: a drop, a stop)."""
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        self.backlog = 0
        self._tx_free = self._loop.time()


class RtuCodec(Codec):
    """Modbus RTU over a link with a :class:`Line`'s timing (see the module docstring).

    ``write`` is where framed bytes go (the link's ``write``); the path's ``tid`` carries a
    sequence number, so an answer that waited (a latency fault) still leaves no earlier than
    its own request's end plus silence and turnaround.
    """

    def __init__(self, path: RequestPath, settings: LineSettings) -> None:
        super().__init__(path)
        self.line = Line(settings, self._to_link, self._drained)
        self._gap_timer: asyncio.TimerHandle | None = None
        #: Bytes until the next silence are not trusted (after a bad CRC or an overlong frame).
        self._skipping = False
        self._seq = 0
        self._frame_end: dict[int, float] = {}
        self._serves = path.app.devices

    # ------------------------------------------------------------------------ receiving

    def feed(self, data: bytes) -> None:
        """Bytes from the line: frame what is whole; the next silence ends the rest."""
        end = self.line.received(len(data))
        if self._gap_timer is not None:
            self._gap_timer.cancel()
        self._gap_timer = asyncio.get_running_loop().call_at(
            end + self.line.settings.silence, self.gap)
        if self._skipping:
            return
        self.buffer += data
        self.take()

    def take(self) -> None:
        """Answer the whole frames in the buffer, in order, while the path and line have room."""
        buf = self.buffer
        while buf and self.path.can_take() and not self.line.full:
            size = request_size(buf)
            if size is None:
                if len(buf) > MAX_ADU:
                    self._garbled(f"no frame in {len(buf)} bytes (longer than {MAX_ADU})")
                return  # wait for the rest, or for the silence that ends it
            if len(buf) < size:
                return
            frame = bytes(buf[:size])
            del buf[:size]
            if not crc_ok(frame):
                self._garbled(f"CRC error in {frame.hex(' ')}")
                return
            self._submit(frame)
        if self.line.full:  # the rest waits in the link until the line has room
            self.path.link.pause_reading()

    def gap(self) -> None:
        """The line fell silent: what follows the whole requests is one frame, or a broken one.

        Whole requests still buffered (waiting for room on the line) stay queued.
        """
        self._gap_timer = None
        self._skipping = False
        buf = self.buffer
        whole = whole_frames(buf)
        if whole == len(buf):
            return
        frame = bytes(buf[whole:])
        del buf[whole:]
        if (not whole and request_size(frame) is None and crc_ok(frame)
                and len(frame) <= MAX_ADU):
            self._submit(frame)  # a function code without a known length: its frame ended
        else:
            self._report(f"truncated frame {frame[:16].hex(' ')} ended by silence")

    def _garbled(self, why: str) -> None:
        """Nothing until the next silence can be trusted to start a frame."""
        self.buffer.clear()
        self._skipping = True
        self._report(why)

    def _report(self, why: str) -> None:
        self.path.endpoint.diagnostics.report(self.path.name, self.path.peer, "bad-frame", why)

    def _submit(self, frame: bytes) -> None:
        unit = frame[0]
        if unit and unit not in self._serves:
            return  # another slave's frame on a shared bus
        self._seq += 1
        self._frame_end[self._seq] = self.line.rx_end
        self.path.submit(self.path.handle, self._reply, self._seq, unit, frame[1:-2])

    def lost(self) -> None:
        """The link is gone: stop the timers, forget the buffer and the line's backlog."""
        if self._gap_timer is not None:
            self._gap_timer.cancel()
            self._gap_timer = None
        self.line.flush()
        self._frame_end.clear()
        super().lost()

    def release(self) -> None:
        """The TCP connection closed (after :meth:`lost`): the line lets go of this codec.

        The line keeps this codec's bound ``_to_link`` and ``_drained``; without this, every
        closed RTU-over-TCP connection would wait for the cyclic collector (see
        :meth:`RequestPath.release`). :meth:`lost` has stopped its timers: nothing uses it
        again.
        """
        del self.line

    # ------------------------------------------------------------------------ answering

    def _reply(self, tid: int, unit: int, pdu: bytes | None, d: Decision = NO_FAULT) -> None:
        ends = self._frame_end
        end = ends.pop(tid, 0.0)
        for older in [k for k in ends if k < tid]:  # silenced requests never get here
            del ends[older]
        if pdu is None or self.path.link.is_closing():
            return  # a broadcast, or nobody to answer
        frame = adu(unit, pdu)
        if d.frame:
            frame = self.path.traffic.distort_adu(d, "rtu", frame)
        settings = self.line.settings
        self.line.send(frame, end + settings.silence + settings.turnaround)

    def _to_link(self, chunk: bytes) -> None:
        if not self.path.link.is_closing():
            self.path.link.write(chunk)

    def _drained(self) -> None:
        """The line has room again: take what is buffered, then read, unless the path waits."""
        self.take()
        if not self.line.full and self.path.can_take():
            self.path.link.resume_reading()


def rtu_codec(settings: LineSettings) -> Callable[[RequestPath], RtuCodec]:
    """A codec factory for a front end: each connection's RTU codec on ``settings``."""
    return lambda path: RtuCodec(path, settings)
