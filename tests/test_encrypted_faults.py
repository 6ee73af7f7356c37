"""Frame faults inside Sungrow's encryption, and a key kept across a server restart.

The frame faults distort the Modbus TCP frame *inside* the AES envelope, as a dongle whose
firmware builds a bad frame and then encrypts it would. The client below decrypts with the
key it fetched (spec §A.3-A.5: ``01 00 L P`` + AES-128-ECB, key = public key XOR
``Grow#0*2Sun68CbE``, 0xFF padding) and returns the plaintext untouched, so the expected
bytes are the hand-written frames docs/faults.md gives for the plain port, with transaction
id 0x6868 as every encrypted frame carries.
"""

from __future__ import annotations

import struct
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mock_sungrow import ManualClock, MockSungrowServer
from tests.helpers import EncryptedModbus


def _plaintext(c: EncryptedModbus) -> bytes:
    """The next encrypted reply's Modbus TCP frame, as sent (L bytes), padding checked."""
    header = c.recv_exact(4)
    assert header[:2] == b"\x01\x00", header.hex(" ")
    size, pad = header[2], header[3]
    assert pad == 16 - size % 16
    dec = c.cipher.decryptor()
    plain = dec.update(c.recv_exact(size + pad)) + dec.finalize()
    assert plain[size:] == b"\xff" * pad
    return plain[:size]


def _read(fc: int, wire_address: int, count: int) -> bytes:
    return struct.pack(">BHH", fc, wire_address, count)


@pytest.mark.parametrize(
    ("kind", "params", "request_pdu", "expected"),
    [
        # 5001-5038 spans reserved gaps: a reply with no registers at all. MBAP length 3.
        ("empty-frame", {}, _read(4, 5000, 38), "68 68 00 00 00 03 01 04 00"),
        # An illegal read: the MBAP length says 2 (unit + FC) while 3 bytes follow.
        ("bad-exception-frame", {}, _read(4, 99, 1), "68 68 00 00 00 02 01 84 02"),
        # 2 bytes of data, then 4 registers of padding the length counts: 3 + 2 + 8 = 13.
        ("padded-frame", {"extra": 4}, _read(4, 4999, 1),
         "68 68 00 00 00 0d 01 04 02 01 26 00 00 00 00 00 00 00 00"),
    ],
)
def test_frame_faults_inside_the_encryption(
    mock_sungrow_factory: Any, kind: str, params: dict[str, Any], request_pdu: bytes,
    expected: str,
) -> None:
    """On an SG5K-D; the key exchange itself is never distorted (docs/faults.md)."""
    server: MockSungrowServer = mock_sungrow_factory(server_type="sungrow", encryption="aes")
    server.inject(kind, front_end="sungrow", **params)
    with EncryptedModbus("127.0.0.1", server.get_connection_info("sungrow")["port"]) as c:
        c.fetch_key()
        c.send(c.eframe(1, request_pdu))
        assert _plaintext(c).hex(" ") == expected
    assert server.requests.all()[-1].fault == kind


def test_wrong_count_inside_the_encryption(mock_sungrow_factory: Any) -> None:
    server: MockSungrowServer = mock_sungrow_factory(server_type="sungrow", model="SH10RT",
                                                     encryption="aes")
    server.inject("wrong-count", count=15, front_end="sungrow", table="input", address=13250)
    with EncryptedModbus("127.0.0.1", server.get_connection_info("sungrow")["port"]) as c:
        c.fetch_key()
        c.send(c.eframe(1, _read(4, 13249, 11)))  # firmware string: 11 registers asked
        plain = _plaintext(c)
    tid, pid, length, unit, fc, byte_count = struct.unpack_from(">HHHBBB", plain)
    assert (tid, pid, unit, fc) == (0x6868, 0, 1, 4)
    assert byte_count == 30 and length == 3 + 30 and len(plain) == 6 + length  # 15 came back
    assert server.requests.all()[-1].fault == "wrong-count"


def test_a_client_keeps_its_key_across_a_restart_with_the_same_configuration() -> None:
    """A restarted dongle (same serial, seed and day) accepts the key fetched before."""
    config: dict[str, Any] = {"server_type": "sungrow", "sungrow_port": 0, "encryption": "aes",
                              "serial": "A2231234567", "seed": 5}
    day = datetime(2026, 3, 3, 10, 0, tzinfo=ZoneInfo("Australia/Sydney"))
    with MockSungrowServer(clock=ManualClock(day), **config) as before, EncryptedModbus(
            "127.0.0.1", before.get_connection_info("sungrow")["port"]) as c:
        key = c.fetch_key()
        assert c.eread(4, 4999, 1) == [0x0126]
    with MockSungrowServer(clock=ManualClock(day), **config) as after:
        port = after.get_connection_info("sungrow")["port"]
        with EncryptedModbus("127.0.0.1", port, public_key=key) as c:  # no key request here
            assert c.eread(4, 4999, 1) == [0x0126]
        assert not after.problems
