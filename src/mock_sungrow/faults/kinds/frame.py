"""Frame faults: replies whose shape or framing is wrong, as some WiNet-S firmware sends them.

They act twice: in ``reply`` on the reply PDU's shape (how many registers it carries; this is
also where a fault is counted, so the request is logged with it before its answer leaves),
and in ``adu`` on the framed reply, where the header can disagree with what follows. The
framings so far are Modbus TCP's MBAP header (``"mbap"``), plain or inside Sungrow's AES
envelope; a kind for another framing checks its ``framing`` argument the same way.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from mock_sungrow.endpoints import MODBUS_FRONT_ENDS
from mock_sungrow.faults.kinds.base import Effect, FaultKind, ReplyShape
from mock_sungrow.faults.params import Param, positive

if TYPE_CHECKING:
    from mock_sungrow.faults.spec import Fault

_LENGTH = struct.Struct(">H")
#: An MBAP ADU with a function code: 7 header bytes (unit included), the code, one more.
_MIN_ADU = 9


def _is_read(adu: bytes) -> bool:
    return adu[7] in (3, 4)


class EmptyFrame(Effect):
    """A read touching an unmapped register gets a reply with no registers at all."""

    def reply(self, fault: Fault, shape: ReplyShape) -> bool:
        """Empty a read that touches a register without a live value."""
        if shape.exception or shape.address is None:
            return False
        if all(shape.live(a) for a in range(shape.address, shape.address + shape.count)):
            return False
        shape.words = []
        shape.done = True
        return True


class WrongCount(Effect):
    """Read replies carry ``count`` registers, whatever was asked (unmapped ones pad)."""

    def reply(self, fault: Fault, shape: ReplyShape) -> bool:
        """Cut or pad the read's words to ``count``."""
        if shape.exception:
            return False
        count = fault.params["count"]
        shape.words = (shape.words + [shape.filler] * count)[:count]
        return True


class PaddedFrame(Effect):
    """Read replies longer than their byte count: the MBAP length counts extra registers."""

    def reply(self, fault: Fault, shape: ReplyShape) -> bool:
        """Count a read reply (it is padded in :meth:`adu`)."""
        return shape.fc in (3, 4)  # a read's reply (an exception's is 0x83/0x84); padded in adu()

    def adu(self, fault: Fault, framing: str, adu: bytes) -> bytes:
        """Append ``extra`` zero registers that the MBAP length counts."""
        if framing != "mbap" or len(adu) < _MIN_ADU or not _is_read(adu):  # not 0x83/0x84
            return adu
        extra = bytes(2 * fault.params["extra"])
        return adu[:4] + _LENGTH.pack(len(adu) - 6 + len(extra)) + adu[6:] + extra


class BadExceptionFrame(Effect):
    """Exception replies whose MBAP length says 2 (unit + function) while 3 bytes follow."""

    def reply(self, fault: Fault, shape: ReplyShape) -> bool:
        """Count an exception reply (it is reframed in :meth:`adu`)."""
        return shape.exception  # counted here, reframed in adu()

    def adu(self, fault: Fault, framing: str, adu: bytes) -> bytes:
        """Make the MBAP length of an exception reply say 2."""
        if framing != "mbap" or len(adu) < _MIN_ADU or not adu[7] & 0x80:
            return adu
        return adu[:4] + b"\x00\x02" + adu[6:]


KINDS = (
    FaultKind("empty-frame", "frame", MODBUS_FRONT_ENDS,
              "a read that touches unmapped registers gets a reply with no registers",
              (21,), registers=True, effect=EmptyFrame()),
    FaultKind("bad-exception-frame", "frame", MODBUS_FRONT_ENDS,
              "exception replies whose MBAP length says 2 while 3 bytes follow", (22,),
              registers=True, effect=BadExceptionFrame()),
    FaultKind("padded-frame", "frame", MODBUS_FRONT_ENDS,
              "read replies longer than their byte count (MBAP counts extra registers)",
              (23,), (Param("extra", int, 4, check=positive,
                            doc="padding registers after the data"),), registers=True,
              effect=PaddedFrame()),
    FaultKind("wrong-count", "frame", MODBUS_FRONT_ENDS,
              "read replies carrying a different number of registers than asked", (23,),
              (Param("count", int, 15, check=positive,
                     doc="registers actually returned"),), registers=True,
              effect=WrongCount()),
)
