"""Sungrow's encrypted Modbus TCP: the "sungrow" front end (spec Part A).

Some Sungrow Wi-Fi dongles wrap Modbus TCP in AES-128-ECB. A client first sends a plain read of
8 input registers at wire address 2791 to unit 247 (the *key request*) and gets a 16-byte public
key; the AES key is that key XOR the fixed text ``Grow#0*2Sun68CbE``. Every later message then
travels as ``01 00 L P`` + AES(ADU with transaction id 0x6868, padded with P bytes of 0xFF),
where L is the ADU's length (one byte) and P = 16 - L mod 16.

This module only adds that wire codec (:class:`SungrowAesCodec`). Requests are answered by the
same :class:`~mock_sungrow.frontends.modbus.app.ModbusApplication` as the plain port, through the
same :class:`~mock_sungrow.frontends.modbus.path.RequestPath` (ordering, async worker,
back-pressure, faults, the log), so the two ports cannot drift apart. ``cryptography`` is
imported only when an ``aes`` front end is built: the pytest plugin and Modbus-only servers
never load it.

Three behaviours of a port 502 exist in the field, selected with ``encryption`` (the front end
itself is :class:`~mock_sungrow.frontends.modbus.tcp.SungrowFrontEnd`):

``aes``
    hands out a public key and speaks the AES framing. Plain requests other than the key
    request are ignored (``plain_requests="strict"``, what makes a plain client fail against an
    encrypting dongle) or answered in plain (``"lenient"``).
``none``
    answers the key request with 16 zero bytes ("no encryption"), then plain Modbus: clients
    fall back at once.
``lan``
    an inverter's own plain LAN port: the key request gets a Modbus exception 2 or no answer
    at all (``lan_key_reply``), the slow fallback users hit (sync clients lose one timeout per
    key fetch; the async Home Assistant client cannot fall back).
"""

from __future__ import annotations

import functools
import hashlib
import struct
import threading
from typing import TYPE_CHECKING

from mock_sungrow.errors import ExceptionCode
from mock_sungrow.faults.decision import NO_FAULT, Decision
from mock_sungrow.frontends.modbus.codec import Codec, FrameError, MbapCodec, take_mbap
from mock_sungrow.frontends.modbus.pdu import (
    KEY_REQUEST_PDU,
    KEY_UNIT,
    MBAP,
    Handled,
    exception_pdu,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from mock_sungrow.frontends.modbus.path import Handler, RequestPath, Writer
    from mock_sungrow.frontends.modbus.tcp import SungrowFrontEnd
    from mock_sungrow.plant.state import PlantState

#: The fixed 16-byte text every client XORs the public key with (a protocol constant).
PRIVATE_KEY = b"Grow#0*2Sun68CbE"
#: The transaction id inside every encrypted message.
INNER_TID = 0x6868
#: One length byte: an encrypted ADU is at most 255 bytes.
MAX_ADU = 255
#: Registers that fit one encrypted read reply (9 + 2n <= 255) and one FC16 request (13 + 2n).
MAX_ENCRYPTED_READ = (MAX_ADU - 9) // 2  # 123
MAX_ENCRYPTED_WRITE = (MAX_ADU - 13) // 2  # 121
#: Keys a device keeps accepting after it has handed out a newer one (see SungrowKeys).
KEYS_KEPT = 8

_COUNT = struct.Struct(">H")
_PADDING = [b"\xff" * n for n in range(17)]
#: The read the key request is: unit 247, FC4, wire address 2791 (0x0AE7), 8 registers.
_KEY_READ_PREFIX = KEY_REQUEST_PDU[:3]
_NO_KEYS = (bytes(16), b"\xff" * 16)  # what clients take for "this port does not encrypt"


def aes_key(public_key: bytes) -> bytes:
    """The AES-128 key clients derive from a public key (spec §A.2)."""
    return bytes(a ^ b for a, b in zip(public_key, PRIVATE_KEY, strict=True))


class SungrowKey:
    """One public key and the AES-ECB contexts for it.

    ECB has no chaining, so one encryptor and one decryptor serve every message of every
    connection as long as each call gets whole 16-byte blocks (the codec checks that before
    decrypting): no per-message context set-up. All use is on the server's loop thread.
    """

    __slots__ = ("_dec", "_enc", "public")

    def __init__(self, public: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        self.public = public
        cipher = Cipher(algorithms.AES(aes_key(public)), modes.ECB())  # noqa: S305 - the protocol
        self._enc = cipher.encryptor()
        self._dec = cipher.decryptor()

    def encrypt(self, data: bytes) -> bytes:
        """Encrypt whole blocks."""
        return self._enc.update(data)

    def decrypt(self, data: bytes) -> bytes:
        """Decrypt whole blocks."""
        return self._dec.update(data)

    def __repr__(self) -> str:
        return f"SungrowKey({self.public.hex()})"


class SungrowKeys:
    """The public key of one simulated dongle: stable for a calendar day, rotatable.

    The key handed out is derived from the device's serial, its seed, the plant's local date and
    a generation counter, so it is the same on every connection all day (the sync clients fetch
    it on one connection and use it on the next ones) and the same for a restarted server with
    the same configuration. Keys handed out earlier stay accepted (the newest :data:`KEYS_KEPT`)
    because a client re-fetches at *its own* midnight, not the plant's, and a test may move a
    manual clock by days while a client keeps its key. :meth:`rotate` is the fault: every key
    handed out so far stops working, and clients recover only once they fetch the new one.
    """

    def __init__(self, plant: Callable[[], PlantState]) -> None:
        self._plant = plant  # the dongle's inverter's plant (replaced by a reset)
        self._lock = threading.Lock()
        self._generation = 0
        #: Keys accepted on encrypted frames, newest first. Replaced, never mutated, so the
        #: loop thread reads it without the lock.
        self.accepted: tuple[SungrowKey, ...] = ()

    def _derive(self, generation: int) -> bytes:
        plant = self._plant()
        day = plant.local_time().date().isoformat()
        seed = f"mock-sungrow/{plant.serial}/{plant.seed}/{day}/{generation}"
        public = hashlib.sha256(seed.encode()).digest()[:16]
        while public in _NO_KEYS:  # would read as "no encryption"; never happens in practice
            public = hashlib.sha256(public).digest()[:16]
        return public

    def current(self) -> SungrowKey:
        """The key a key request gets now (and from now on accepted on encrypted frames)."""
        with self._lock:
            public = self._derive(self._generation)
            for key in self.accepted:
                if key.public == public:
                    return key
            key = SungrowKey(public)
            self.accepted = (key, *self.accepted)[:KEYS_KEPT]
            return key

    def public_key(self) -> bytes:
        """The 16 bytes a key request gets now."""
        return self.current().public

    def rotate(self) -> bytes:
        """Replace the key; every key handed out before stops decrypting. Returns the new one."""
        with self._lock:
            self._generation += 1
            self.accepted = ()
        return self.current().public


class SungrowAesCodec(MbapCodec):
    """The "sungrow" port's framing: plain MBAP and AES frames, told apart by their header.

    Bytes 2-3 of a plain MBAP header are the protocol id, always ``00 00``; an encrypted header
    is ``01 00 L P`` with P in 1..16 (spec §A.8). The key request is recognised by its content
    on any connection, at any time; encrypted frames need no earlier handshake on the same
    connection. A frame that cannot be read closes its own connection only.
    """

    def __init__(self, front_end: SungrowFrontEnd, path: RequestPath) -> None:
        super().__init__(path)
        self.front_end = front_end
        self._keys = front_end.keys
        self._plain_allowed = front_end.keys is None or front_end.plain_requests == "lenient"
        self._answer_key = front_end.answer_key_request
        self._told_plain = False

    #: Bytes are buffered and split here (no single-frame short cut: a frame may be encrypted).
    feed = Codec.feed

    def take(self) -> None:
        """Split the buffer into plain and encrypted frames and answer each, in order.

        Only while the path can take them (back-pressure, see ``RequestPath``).
        """
        buf = self.buffer
        can_take = self.path.can_take
        try:
            while len(buf) >= 4 and can_take():
                if buf[2] == 0 and buf[3] == 0:  # protocol id 0: plain Modbus TCP
                    frame = take_mbap(buf)
                    if frame is None:
                        return
                    self._plain(*frame)
                elif buf[0] == 1 and buf[1] == 0 and self._keys is not None:
                    if not self._encrypted(buf, self._keys):
                        return
                else:
                    self.reject(self._unknown_header(bytes(buf[:8])))
                    return
        except FrameError as exc:
            self.reject(str(exc))

    def _unknown_header(self, head: bytes) -> str:
        if head[:2] == b"\x01\x00" and self._keys is None:
            return (f"encrypted frame header {head[:4].hex(' ')} on a port that does not encrypt "
                    f"(encryption={self.front_end.encryption!r})")
        return f"neither a Modbus TCP nor an encrypted frame header: {head.hex(' ')}"

    def _plain(self, tid: int, unit: int, pdu: bytes) -> None:
        handler = self._special(unit, pdu)
        if handler is not None:
            self._submit(handler, self.write, tid, unit, pdu)
        elif self._plain_allowed:
            self._submit(self._handle, self.write, tid, unit, pdu)
        elif not self._told_plain:  # strict: no answer, as a real encrypting dongle
            self._told_plain = True
            self.front_end.diagnostics.report(
                self.front_end.name, self.path.peer, "plain-request",
                f"plain Modbus request ignored on an encrypting port ({pdu.hex(' ')}); "
                "plain_requests='lenient' answers it",
            )

    def _special(self, unit: int, pdu: bytes) -> Handler | None:
        """The key request (or a malformed one), which the codec answers itself."""
        if unit != KEY_UNIT or pdu[:3] != _KEY_READ_PREFIX:
            return None
        if pdu == KEY_REQUEST_PDU:
            return self._answer_key
        self.front_end.diagnostics.report(
            self.front_end.name, self.path.peer, "bad-frame",
            f"key request (unit 247, input 2791) with PDU {pdu.hex(' ')} instead of "
            f"{KEY_REQUEST_PDU.hex(' ')}: answered with exception 2",
        )
        return refuse

    def _encrypted(self, buf: bytearray, keys: SungrowKeys) -> bool:
        """Take one encrypted frame off ``buf``; False when it is not complete yet."""
        size, pad = buf[2], buf[3]
        if size < 8:
            raise FrameError(f"encrypted frame header {bytes(buf[:4]).hex(' ')}: length {size} "
                             "is shorter than any Modbus TCP request (8)")
        if not 1 <= pad <= 16:
            raise FrameError(f"encrypted frame header {bytes(buf[:4]).hex(' ')}: padding {pad} "
                             "outside 1..16")
        if (size + pad) % 16:
            raise FrameError(
                f"encrypted frame header {bytes(buf[:4]).hex(' ')}: {size} + {pad} bytes is not "
                f"a whole number of AES blocks (the padding for {size} is {16 - size % 16})"
            )
        end = 4 + size + pad
        if len(buf) < end:
            return False
        cipher = bytes(buf[4:end])
        del buf[:end]
        found = _decrypt(keys, cipher, size, pad)
        if found is None:
            raise FrameError(
                f"encrypted frame ({size}+{pad} bytes) does not decrypt to a Modbus TCP request "
                "with any key this device handed out (a stale or rotated key, or garbage)"
            )
        plain, key = found
        unit, pdu = plain[6], plain[7:size]
        writer: Writer = functools.partial(self._write_encrypted, key)
        handler = self._special(unit, pdu) or _size_check(pdu) or self._handle
        self._submit(handler, writer, INNER_TID, unit, pdu)
        return True

    def _write_encrypted(self, key: SungrowKey, tid: int, unit: int, pdu: bytes | None,
                         d: Decision = NO_FAULT) -> None:
        link = self._link
        if pdu is None or link.is_closing():
            return
        size = len(pdu) + 7
        if size > MAX_ADU:  # only a broken data-block override can get here
            self.front_end.diagnostics.report(
                self.front_end.name, self.path.peer, "handler-error",
                f"a {size}-byte reply does not fit the encrypted frame's length byte: "
                "answered with exception 4",
            )
            pdu = exception_pdu(pdu[0], ExceptionCode.DEVICE_FAILURE)
        adu = MBAP.pack(INNER_TID, 0, len(pdu) + 1, unit) + pdu
        if d.frame:  # a malformed-frame fault distorts the plaintext, then it is encrypted
            adu = self._traffic.distort_adu(d, "mbap", adu)[:MAX_ADU]
        size = len(adu)
        pad = 16 - size % 16
        link.write(bytes((1, 0, size, pad)) + key.encrypt(adu + _PADDING[pad]))


def _decrypt(
    keys: SungrowKeys, cipher: bytes, size: int, pad: int
) -> tuple[bytes, SungrowKey] | None:
    """Plaintext and key of a frame; a key is right when the ADU it yields is consistent.

    No MAC exists, so the check is structural: protocol id 0, an MBAP length that matches
    L, and 0xFF padding (48 bits a wrong key gets right by chance once in 2**48).
    """
    tried = keys.accepted
    for key in tried:
        plain = key.decrypt(cipher)
        if _consistent(plain, size, pad):
            return plain, key
    # Today's key, if this process never handed it out: a client may keep its key across a
    # restart of the server (same configuration, same day, same key).
    key = keys.current()
    if key not in tried:
        plain = key.decrypt(cipher)
        if _consistent(plain, size, pad):
            return plain, key
    return None


def _consistent(plain: bytes, size: int, pad: int) -> bool:
    return (plain[2] == 0 and plain[3] == 0 and (plain[4] << 8 | plain[5]) == size - 6
            and plain[size:] == _PADDING[pad])


def refuse(unit: int, pdu: bytes, peer: str, front_end: str) -> Handled:
    """Exception 2 ("illegal data address"), the code a Sungrow device uses for such reads."""
    return exception_pdu(pdu[0], ExceptionCode.ILLEGAL_ADDRESS)


def _size_check(pdu: bytes) -> Handler | None:
    """Refuse what cannot be framed: a read reply or FC16 request longer than 255 bytes.

    An overflowed length byte breaks the client's stream for the next request too (spec §A.6),
    so a read of more than 123 registers or a write of more than 121 gets exception 2.
    """
    if len(pdu) >= 5:
        fc = pdu[0]
        if fc in (3, 4):
            limit = MAX_ENCRYPTED_READ
        elif fc == 16:
            limit = MAX_ENCRYPTED_WRITE
        else:
            return None
        if _COUNT.unpack_from(pdu, 3)[0] > limit:
            return refuse
    return None


__all__ = [
    "MAX_ENCRYPTED_READ",
    "MAX_ENCRYPTED_WRITE",
    "PRIVATE_KEY",
    "SungrowAesCodec",
    "SungrowKey",
    "SungrowKeys",
    "aes_key",
]
