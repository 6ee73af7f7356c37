"""Modbus framings: splitting a byte stream into requests.

Plain Modbus TCP (MBAP) here; Sungrow's AES framing is :mod:`mock_sungrow.frontends.modbus.aes`.
"""

from __future__ import annotations

from mock_sungrow.frontends.modbus.pdu import MBAP


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
    tid, pid, length, unit = MBAP.unpack_from(buf)
    if pid != 0 or not 2 <= length <= 254:
        raise FrameError(f"malformed MBAP header {bytes(buf[:7]).hex(' ')}")
    end = 6 + length
    if len(buf) < end:
        return None
    pdu = bytes(buf[7:end])
    del buf[:end]
    return tid, unit, pdu

