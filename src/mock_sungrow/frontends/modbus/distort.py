"""How faults look on the Modbus wire: request descriptions and distorted replies.

Both Modbus codecs (plain MBAP and Sungrow's AES framing) describe a request to the fault
layer the same way and distort their replies the same way; only the framing differs. This
module knows Modbus PDUs, not fault kinds: it unpacks a read reply into its words, lets the
word faults rewrite them (:meth:`~mock_sungrow.faults.traffic.Traffic.distort_read`) and the
frame faults reshape the reply
(:meth:`~mock_sungrow.faults.traffic.Traffic.distort_reply`), and packs the result; the codec
lets the frame faults at the framed reply (``Traffic.distort_adu``).
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Mapping
from typing import TYPE_CHECKING

from mock_sungrow.device.codec import sentinel_words
from mock_sungrow.device.registermap import FILLER, RegisterMap
from mock_sungrow.errors import ModbusError
from mock_sungrow.faults.decision import Decision
from mock_sungrow.faults.kinds.base import ReplyShape
from mock_sungrow.faults.requestlog import LoggedRequest
from mock_sungrow.faults.spec import Request
from mock_sungrow.faults.traffic import Traffic
from mock_sungrow.frontends.modbus.pdu import KEY_REQUEST_PDU, KEY_UNIT

if TYPE_CHECKING:
    from mock_sungrow.device.device import Device

_ADDRESS_COUNT = struct.Struct(">HH")


def describe(front_end: str, peer: str, unit: int, pdu: bytes,  # noqa: PLR0917
             device: str | None = None, endpoint: str | None = None) -> Request:
    """The fault layer's view of a request PDU (documented addresses).

    ``device`` is the serial of the device at ``unit`` (``None``: nobody answers there);
    ``endpoint`` the endpoint the request reached (``inverter[2].modbus``).
    """
    fc = pdu[0] if pdu else None
    if fc in (3, 4, 6, 16) and len(pdu) >= 5:
        address, second = _ADDRESS_COUNT.unpack_from(pdu, 1)
        return Request(front_end, peer, unit, fc, "input" if fc == 4 else "holding",
                       address + 1, 1 if fc == 6 else second, fc in (6, 16), device,
                       unit == KEY_UNIT and pdu == KEY_REQUEST_PDU, endpoint)
    return Request(front_end, peer, unit, fc, device=device, endpoint=endpoint)


def written_words(pdu: bytes) -> tuple[int, ...] | None:
    """The words a write PDU carries (None for anything else)."""
    if not pdu:
        return None
    if pdu[0] == 6 and len(pdu) == 5:
        return (struct.unpack_from(">H", pdu, 3)[0],)
    if pdu[0] == 16 and len(pdu) >= 6:
        n = (len(pdu) - 6) // 2
        return struct.unpack_from(f">{n}H", pdu, 6)
    return None


def logged(time: float, front_end: str, peer: str, unit: int, pdu: bytes,  # noqa: PLR0917
           outcome: str, device: str | None = None) -> LoggedRequest:
    """Decode a request logged raw by a Modbus front end (see ``RequestLog.append_raw``)."""
    req = describe(front_end, peer, unit, pdu)
    return LoggedRequest(time, front_end, peer, unit, req.function, req.table, req.address,
                         req.count, outcome, None, written_words(pdu) if req.write else None,
                         device)


def rewrite_write(traffic: Traffic, d: Decision, pdu: bytes) -> bytes | None:
    """A write PDU with the words the write faults make of its words.

    ``None`` when one no longer fits a register (the request is then refused with exception
    4); anything but a write passes unchanged.
    """
    words = written_words(pdu)
    if words is None:
        return pdu
    new = traffic.rewrite(d, list(words))
    if new is None or any(not 0 <= w <= 0xFFFF for w in new):
        return None
    if pdu[0] == 6:
        return pdu[:3] + struct.pack(">H", new[0])
    return pdu[:6] + struct.pack(f">{len(new)}H", *new)


def note_old_words(traffic: Traffic, d: Decision, devices: Mapping[int, Device],
                   req: Request) -> None:
    """Before a write: tell the word faults that remember them the words it replaces."""
    if not req.write or req.address is None or not d.notes_writes:
        return
    device = devices.get(req.unit or 0)
    if device is None:
        return
    try:
        old = device.holding.getValues(req.address, req.count)
    except ModbusError:
        return
    traffic.note_write(d, "holding", req.address, old)


def outcome_of(reply: bytes | None) -> str:
    """How the request was answered, for the request log."""
    if reply is None:
        return "no reply"
    if reply and reply[0] & 0x80:
        return f"exception {reply[1] if len(reply) > 1 else '?'}"
    return "ok"


@functools.lru_cache(maxsize=256)
def sentinel_table(regmap: RegisterMap, table: str) -> dict[int, int]:
    """Documented address -> the word a ``sentinel`` fault puts there (one map, one table).

    The map is the device's own: a battery's S16 current reads 0x7FFF, whatever the
    inverter's map has at that address.
    """
    out: dict[int, int] = {}
    for served in regmap.rows[table]:  # type: ignore[index]
        row = served.row
        for offset, word in enumerate(sentinel_words(row)):
            out[row.address + offset] = word
    return out


@functools.lru_cache(maxsize=256)
def _live(regmap: RegisterMap, table: str) -> frozenset[int]:
    return frozenset(
        addr for served in regmap.rows[table]  # type: ignore[index]
        if served.live for addr in range(served.row.address, served.row.end)
    )


def distort_pdu(traffic: Traffic, d: Decision, req: Request, reply: bytes,
                device: Device | None) -> bytes:
    """Apply word and frame distortions to a read or exception reply (others pass through).

    ``device`` is the one that answered (its map says what a sentinel is and which words are
    live). Frame faults that act on the framed reply later (``Traffic.distort_adu``) are
    counted here, so the request is logged with them before its answer leaves.
    """
    if reply[0] & 0x80:
        if d.frame:
            traffic.distort_reply(d, ReplyShape(reply[0], True, req.table, req.address, 0, [],
                                                _always, FILLER))
        return reply
    if req.table is None or req.address is None or req.write or device is None:
        return reply
    fc = reply[0]
    n = reply[1] // 2
    words = list(struct.unpack_from(f">{n}H", reply, 2))
    if d.words:
        sentinels = sentinel_table(device.map, req.table)
        words = traffic.distort_read(
            d, req.table, req.address, words, lambda reg: sentinels.get(reg, FILLER)
        )
    if d.frame:
        live = _live(device.map, req.table)
        shape = ReplyShape(fc, False, req.table, req.address, n, words, live.__contains__,
                           FILLER)
        traffic.distort_reply(d, shape)
        words = shape.words
    return struct.pack(f">BB{len(words)}H", fc, 2 * len(words), *words)


def _always(address: int) -> bool:
    return True
