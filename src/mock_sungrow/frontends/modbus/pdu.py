"""Modbus PDUs: the constants, parsers and builders every Modbus front end shares.

Defined once here: the protocol's size limits, the layouts of a read request, an FC16 request
and the MBAP header, Sungrow's key request, exception and read replies, and the RTU CRC the
WiNet-S passthrough frames carry.
"""

from __future__ import annotations

import struct
from collections.abc import Awaitable

#: The longest read Modbus allows (and the protocol documents).
MAX_READ = 125
#: The longest write (FC16) Modbus allows.
MAX_WRITE = 123

#: The PDU of Sungrow's key request (FC4, wire address 0x0AE7, count 8) sent to unit 247.
KEY_REQUEST_PDU = bytes.fromhex("04 0A E7 00 08")
KEY_UNIT = 247

#: A read request (FC3/4; FC6 has the same layout): function, wire address, count or value.
READ = struct.Struct(">BHH")
#: The head of an FC16 request: function, wire address, count, byte count.
WRITE_MULTI = struct.Struct(">BHHB")
#: The MBAP header with the unit id: transaction id, protocol id, length, unit.
MBAP = struct.Struct(">HHHB")

#: What a handler answers: a response PDU, ``None`` (no reply), or an awaitable of either.
Reply = bytes | None
PendingReply = Awaitable[Reply]
Handled = Reply | PendingReply


def exception_pdu(function_code: int, code: int) -> bytes:
    """An exception response: the function code with its top bit set, then the code."""
    return bytes(((function_code | 0x80) & 0xFF, code))



_REPLY_STRUCTS = [struct.Struct(f">BB{n}H") for n in range(MAX_READ + 1)]


def read_reply(fc: int, values: list[int]) -> bytes:
    """A read response PDU. ``struct`` rejects words outside 0..65535 (a broken override)."""
    n = len(values)
    packer = _REPLY_STRUCTS[n] if n <= MAX_READ else struct.Struct(f">BB{n}H")
    return packer.pack(fc, 2 * n, *values)


def crc16(data: bytes) -> int:
    """Modbus RTU CRC-16 (polynomial 0xA001, initial 0xFFFF), as sent low byte first."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc
