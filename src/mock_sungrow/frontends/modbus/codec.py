"""Modbus framings: how a link's bytes become requests, and answers become bytes again.

A :class:`Codec` sits between a link (the bytes: a TCP stream now, a serial line next) and the
:class:`~mock_sungrow.frontends.modbus.path.RequestPath` (ordering, back-pressure, faults, the
log). It owns the bytes received and not yet taken, and it knows one framing: it splits the
bytes into requests, hands each to :meth:`RequestPath.submit` with the handler that answers it
and the writer that frames the answer, and writes framed answers to the link. The request path
knows no framing, so a framing is one codec:

* :class:`MbapCodec` here: Modbus TCP (transaction ids, lengths in the header);
* :class:`~mock_sungrow.frontends.modbus.aes.SungrowAesCodec`: Sungrow's AES framing, mixed
  with plain MBAP on one connection;
* Modbus RTU fits the same shape: no transaction id (the path answers in order anyway, and the
  writer ignores ``tid``), a frame with a bad CRC is dropped without an answer (the codec
  simply does not submit it), a broadcast (unit 0) is submitted and the application answers
  it with ``None`` ("no reply"), and frame boundaries come from the line's silence: the link
  calls :meth:`Codec.gap` when the line has been quiet for the inter-frame time (or the codec
  keeps timestamps of what :meth:`Codec.feed` got). ``tests/test_codec_fit.py`` drives such a
  codec through the request path over a socket.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mock_sungrow.faults.decision import NO_FAULT, Decision
from mock_sungrow.frontends.modbus.pdu import MBAP

if TYPE_CHECKING:
    from mock_sungrow.frontends.modbus.path import RequestPath


class FrameError(ValueError):
    """The byte stream cannot be split into frames: the connection has to be closed."""


class Codec:
    """One framing of Modbus requests, for one connection (see the module docstring).

    Subclasses implement :meth:`take`; :meth:`feed`, :meth:`gap` and :meth:`lost` have stream
    defaults. ``take`` must take requests only while ``path.can_take()`` (back-pressure): the
    path calls it again whenever there is room, so frames a codec holds back (whole frames
    waiting for room, or bytes waiting for a gap) are taken then.
    """

    def __init__(self, path: RequestPath) -> None:
        self.path = path
        #: Bytes received and not yet taken as requests.
        self.buffer = bytearray()

    def feed(self, data: bytes) -> None:
        """Bytes arrived from the link."""
        self.buffer += data
        self.take()

    def take(self) -> None:
        """Submit the whole requests in :attr:`buffer`, in order, while the path can take."""
        raise NotImplementedError

    def gap(self) -> None:
        """The line has been silent for an inter-frame time (serial links).

        Stream framings carry their own lengths and ignore it; a silence-delimited framing
        (RTU) takes what is buffered as one frame.
        """

    def lost(self) -> None:
        """The link is gone: forget what was buffered (and stop any timer the codec runs)."""
        self.buffer.clear()

    def release(self) -> None:
        """The link is gone for good (a closed TCP connection): drop what refers back here.

        See :meth:`RequestPath.release`. A codec that keeps a bound method of its own (on
        itself, or on a helper such as the RTU codec's line) drops it here; this one keeps
        none.
        """

    def reject(self, why: str) -> None:
        """The bytes cannot be framed: forget them and close this connection (only this one)."""
        self.buffer.clear()
        self.path.reject(why)


def take_mbap(buf: bytearray) -> tuple[int, int, bytes] | None:
    """Remove the first whole MBAP frame from ``buf``: ``(transaction id, unit, pdu)``.

    ``None`` when the frame is not complete yet. A header that no Modbus TCP client sends
    (protocol id not 0, length outside 2..254) raises :class:`FrameError`: nothing after it
    can be trusted to be a frame boundary.
    """
    if len(buf) < 7:
        return None
    tid, pid, length, unit = MBAP.unpack_from(buf)
    if pid != 0 or not 2 <= length <= 254:
        raise FrameError(f"malformed MBAP header {bytes(buf[:7]).hex(' ')}")
    end = 6 + length
    if len(buf) < end:
        return None
    pdu = bytes(buf[7:end])
    del buf[:end]
    return tid, unit, pdu


def _not_sent(tid: int, unit: int, pdu: bytes | None, d: Decision = NO_FAULT) -> None:
    """A released codec's writer: its connection is closed, so nothing is sent."""


class MbapCodec(Codec):
    """Plain Modbus TCP: a 7-byte MBAP header (transaction id, protocol 0, length, unit)."""

    def __init__(self, path: RequestPath) -> None:
        super().__init__(path)
        # Bound once: these are used for every request.
        self._submit = path.submit
        self._handle = path.handle
        self._link = path.link
        self._traffic = path.traffic
        self.write = self._write

    def feed(self, data: bytes) -> None:
        """Answer the frames in ``data``, in order; one whole frame takes the short way."""
        if not self.buffer and len(data) >= 8 and not self.path.paused:
            # The common case: exactly one whole, well-formed request in this segment.
            tid, pid, length, unit = MBAP.unpack_from(data)
            if pid == 0 and 2 <= length <= 254 and len(data) == 6 + length:
                self._submit(self._handle, self.write, tid, unit, data[7:])
                return
        self.buffer += data
        self.take()

    def take(self) -> None:
        """Answer whole frames from the buffer, in order, while the path can take them."""
        buf = self.buffer
        handle, write, submit, can_take = self._handle, self.write, self._submit, \
            self.path.can_take
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

    def release(self) -> None:
        """Drop ``write``: a bound method of this codec, kept on it, is a cycle."""
        self.write = _not_sent

    def _write(self, tid: int, unit: int, pdu: bytes | None, d: Decision = NO_FAULT) -> None:
        """Send ``pdu`` as a plain Modbus TCP frame (nothing for "no reply")."""
        link = self._link
        if pdu is None or link.is_closing():
            return
        adu = MBAP.pack(tid, 0, len(pdu) + 1, unit) + pdu
        if d.frame:
            adu = self._traffic.distort_adu(d, "mbap", adu)
        link.write(adu)
