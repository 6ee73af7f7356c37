"""Line faults: what an RS485 bus does to RTU replies that a TCP stream never does.

Frame faults on the RTU framing (``"rtu"``: unit, PDU, CRC) of the ``rtu`` pty and the
``rtu-tcp`` gateway. They count in ``reply`` (so the request is logged with the fault before
its answer leaves) and act in ``adu`` on the framed reply:

* ``bad-crc``: the reply's CRC is wrong (a bit flipped on the cable); clients discard it and
  time out, or retry;
* ``noise``: bytes of line noise arrive before the reply (an unterminated bus, a long stub):
  clients that frame by silence see one garbled frame;
* ``collision``: a second master (a dongle, a meter poller) transmits while the inverter
  answers: the reply's middle is garbled by the other frame and its CRC fails.

A late reply (one that lands after the client's timeout, so the client takes it for the
answer to its next request) is the ``latency`` fault on these front ends: RTU has no
transaction id to tell the two apart. A gateway's minimum gap between requests is ``min-gap``.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from mock_sungrow.faults.kinds.base import Effect, FaultKind, ReplyShape
from mock_sungrow.faults.params import Param, positive

if TYPE_CHECKING:
    from mock_sungrow.faults.spec import Fault

#: The front ends with an RTU line (the pty and the gateway's serial side).
RTU_FRONT_ENDS = frozenset({"rtu", "rtu-tcp"})


class _OnEveryReply(Effect):
    """A line fault hits whatever reply goes out while it is active."""

    def reply(self, fault: Fault, shape: ReplyShape) -> bool:
        """Every reply counts (the framed bytes are changed in ``adu``)."""
        return True


class BadCrc(_OnEveryReply):
    """The reply's CRC does not match (its low byte flipped)."""

    def adu(self, fault: Fault, framing: str, adu: bytes) -> bytes:
        """Flip the CRC's low byte."""
        if framing != "rtu" or len(adu) < 4:
            return adu
        return adu[:-2] + bytes([adu[-2] ^ 0xFF]) + adu[-1:]


def _rng(fault: Fault, adu: bytes) -> random.Random:
    """Seeded by the fault's seed and the reply, so a run repeats exactly."""
    return random.Random(f"{fault.params['seed']}:{adu.hex()}")


class Noise(_OnEveryReply):
    """Random bytes on the line just before the reply."""

    def adu(self, fault: Fault, framing: str, adu: bytes) -> bytes:
        """Prepend ``bytes`` noise bytes."""
        if framing != "rtu":
            return adu
        noise = _rng(fault, adu).randbytes(fault.params["bytes"])
        return noise + adu


class Collision(_OnEveryReply):
    """Another master transmits over the reply: its middle bytes are garbled."""

    def adu(self, fault: Fault, framing: str, adu: bytes) -> bytes:
        """XOR the bytes after the function code with another frame's (never all zero)."""
        if framing != "rtu" or len(adu) < 4:
            return adu
        rng = _rng(fault, adu)
        middle = bytes(b ^ (rng.randrange(255) + 1) for b in adu[2:-2])
        return adu[:2] + middle + adu[-2:]


KINDS = (
    FaultKind("bad-crc", "frame", RTU_FRONT_ENDS,
              "RTU replies arrive with a wrong CRC (a bit flipped on the cable)", (),
              registers=True, effect=BadCrc()),
    FaultKind("noise", "frame", RTU_FRONT_ENDS,
              "line noise: random bytes arrive just before each RTU reply", (),
              (Param("bytes", int, 3, check=positive, doc="noise bytes before the reply"),
               Param("seed", int, 0, doc="seed of the noise bytes")),
              registers=True, effect=Noise()),
    FaultKind("collision", "frame", RTU_FRONT_ENDS,
              "a second master transmits during each RTU reply: garbled, CRC fails", (),
              (Param("seed", int, 0, doc="seed of the other master's bytes"),),
              registers=True, effect=Collision()),
)
