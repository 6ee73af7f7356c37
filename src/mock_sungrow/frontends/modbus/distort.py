"""How faults look on the Modbus wire: request descriptions and distorted replies.

Both Modbus transports (plain MBAP and Sungrow's AES framing) describe a request to the fault
layer the same way and distort their replies the same way; only the framing differs. Word
distortions (``scale``, ``zeros``, ``sentinel``, ``value``, ``stale``...) rewrite the registers
of a read reply; PDU distortions (``empty-frame``, ``wrong-count``) rewrite the reply's shape;
ADU distortions (``bad-exception-frame``, ``padded-frame``) make the MBAP header disagree with
what follows, as some WiNet-S firmware does.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Mapping
from typing import TYPE_CHECKING

from mock_sungrow.device.codec import sentinel_words
from mock_sungrow.device.registermap import FILLER, RegisterMap
from mock_sungrow.errors import ModbusError
from mock_sungrow.faults.requestlog import LoggedRequest
from mock_sungrow.faults.spec import Request
from mock_sungrow.faults.traffic import Decision, Traffic

if TYPE_CHECKING:
    from mock_sungrow.device.device import Device

_ADDRESS_COUNT = struct.Struct(">HH")


def describe(front_end: str, peer: str, unit: int, pdu: bytes, device: str | None = None
             ) -> Request:
    """The fault layer's view of a request PDU (documented addresses).

    ``device`` is the serial of the device at ``unit`` (``None``: nobody answers there).
    """
    fc = pdu[0] if pdu else None
    if fc in (3, 4, 6, 16) and len(pdu) >= 5:
        address, second = _ADDRESS_COUNT.unpack_from(pdu, 1)
        return Request(front_end, peer, unit, fc, "input" if fc == 4 else "holding",
                       address + 1, 1 if fc == 6 else second, fc in (6, 16), device)
    return Request(front_end, peer, unit, fc, device=device)


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


def scale_write(pdu: bytes, factor: int) -> bytes | None:
    """A write PDU with its words multiplied by ``factor`` (``None`` if one overflows 16 bits).

    Some SH*RT firmware does this to holding 13074 before its range check.
    """
    words = written_words(pdu)
    if words is None:
        return pdu
    scaled = [w * factor for w in words]
    if any(w > 0xFFFF for w in scaled):
        return None
    if pdu[0] == 6:
        return pdu[:3] + struct.pack(">H", scaled[0])
    return pdu[:6] + struct.pack(f">{len(scaled)}H", *scaled)


def note_old_words(traffic: Traffic, d: Decision, devices: Mapping[int, Device],
                   req: Request) -> None:
    """Before a write: remember the words it replaces, for ``stale-after-write`` faults."""
    if not req.write or req.address is None or not any(
        f.name == "stale-after-write" for f in d.words
    ):
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
    """Apply word and PDU distortions to a successful read reply (others pass through).

    ``device`` is the one that answered (its map says what a sentinel is and which words are
    live). Frame faults that :func:`distort_adu` applies later are counted here, so the
    request is logged with them before its answer leaves.
    """
    if reply[0] & 0x80:
        bad = d.frame_fault("bad-exception-frame")
        if bad is not None:
            traffic.fired(d, bad)
        return reply
    if req.table is None or req.address is None or req.write or device is None:
        return reply
    fc = reply[0]
    n = reply[1] // 2
    words = list(struct.unpack_from(f">{n}H", reply, 2))
    if d.words:
        sentinels = sentinel_table(device.map, req.table)
        words = traffic.distort_read(
            d, req.table, req.address, words, lambda _t, reg: sentinels.get(reg, FILLER)
        )
    empty = d.frame_fault("empty-frame")
    if empty is not None:
        live = _live(device.map, req.table)
        if any(a not in live for a in range(req.address, req.address + n)):
            traffic.fired(d, empty)
            return bytes((fc, 0))
    wrong = d.frame_fault("wrong-count")
    if wrong is not None:
        count = wrong.params["count"]
        words = (words + [FILLER] * count)[:count]
        traffic.fired(d, wrong)
    padded = d.frame_fault("padded-frame")
    if padded is not None and fc in (3, 4):
        traffic.fired(d, padded)  # applied by distort_adu, counted here (before logging)
    return struct.pack(f">BB{len(words)}H", fc, 2 * len(words), *words)


def distort_adu(d: Decision, adu: bytes) -> bytes:
    """Apply MBAP-level distortions to a whole plain ADU (header + PDU)."""
    if len(adu) < 9:
        return adu
    is_exception = bool(adu[7] & 0x80)
    if is_exception and d.frame_fault("bad-exception-frame") is not None:
        return adu[:4] + b"\x00\x02" + adu[6:]  # length says unit + FC; the code follows
    padded = d.frame_fault("padded-frame")
    if padded is not None and not is_exception and adu[7] in (3, 4):
        extra = bytes(2 * padded.params["extra"])
        return adu[:4] + struct.pack(">H", len(adu) - 6 + len(extra)) + adu[6:] + extra
    return adu
