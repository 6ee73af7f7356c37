"""Frame faults reshape only the replies docs/faults.md names, byte for byte.

A raw socket sends Modbus TCP requests and reads the replies' bytes as they come: the MBAP
header (transaction id, protocol 0, length, unit), then the PDU (Modbus Application Protocol
v1.1b3 §6.3/§6.4: function code, byte count, registers; §7: function | 0x80, exception
code). What each fault does to them is docs/faults.md's catalogue ("empty-frame",
"bad-exception-frame", "padded-frame", "wrong-count"); which requests a fault was counted
for is in the request log.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

import pytest

from mock_sungrow import MockSungrowServer
from tests.helpers import RawModbus

DEVICE_TYPE = 0x0126  # input 5000 of the default SG5K-D (wire address 4999)
UNMAPPED = 0xFFFF  # what a register without a row reads (padding of wrong-count)


def _exchange(server: MockSungrowServer, pdu: bytes, tid: int = 7) -> tuple[int, bytes]:
    """Send one request; return (the MBAP length field, every byte after the header).

    Reads until the server has nothing more to send for the request (it keeps the
    connection open, so the end is the first pause after the length's worth has come).
    """
    port = server.get_connection_info("modbus")["port"]
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(struct.pack(">HHHB", tid, 0, len(pdu) + 1, 1) + pdu)
        data = b""
        while len(data) < 6:
            chunk = s.recv(4096)
            assert chunk, f"closed after {data.hex(' ')}"
            data += chunk
        got_tid, pid, length = struct.unpack(">HHH", data[:6])
        assert (got_tid, pid) == (tid, 0)
        # Whatever the length says, read what is sent: the header may lie either way.
        s.settimeout(0.5)
        try:
            while len(data) < 6 + max(length, 3) or len(data) < 9:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            pass
        return length, data[6:]


def _read(fc: int, wire: int, count: int) -> bytes:
    return struct.pack(">BHH", fc, wire, count)


def _fired(server: MockSungrowServer, kind: str) -> list[int]:
    return [f["fired"] for f in server.faults.describe() if f["kind"] == kind]


# ----------------------------------------------------------------------------- padded-frame


def test_padded_frame_pads_reads_only(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    server.inject("padded-frame", extra=1)
    length, body = _exchange(server, _read(4, 4999, 1))
    # unit, fc, byte count 2, the register, then one zero register the length counts.
    assert length == 1 + 2 + 2 + 2
    assert body == bytes((1, 4, 2)) + struct.pack(">HH", DEVICE_TYPE, 0)
    length, body = _exchange(server, _read(3, 4999, 2))  # holding reads too
    assert length == 1 + 2 + 4 + 2 and len(body) == length and body[:3] == bytes((1, 3, 4))
    length, body = _exchange(server, _read(4, 4999, 64))  # byte count 128 (0x80)
    assert length == 1 + 2 + 128 + 2 and len(body) == length and body[:3] == bytes((1, 4, 128))
    assert body[-2:] == b"\x00\x00"
    assert _fired(server, "padded-frame") == [3]
    # An exception reply and a write's echo keep their true length, and are not counted.
    length, body = _exchange(server, _read(4, 99, 1))
    assert (length, body) == (3, bytes((1, 0x84, 2)))
    echo = struct.pack(">BHH", 6, 5007, 900)
    length, body = _exchange(server, echo)
    assert (length, body) == (1 + len(echo), bytes((1,)) + echo)
    assert _fired(server, "padded-frame") == [3]
    assert [r.fault for r in server.requests.all()] == ["padded-frame"] * 3 + [None, None]


@pytest.mark.parametrize("code", [3, 4])
def test_padded_frame_leaves_exceptions_whose_code_is_a_read_function(
        mock_sungrow_factory: Any, code: int) -> None:
    """Exception 3 and 4 replies (0x84 0x03, 0x84 0x04): the code byte is not a function."""
    server = mock_sungrow_factory(server_type="modbus")
    server.inject("padded-frame", extra=1)
    server.inject("exception", code=code)
    assert _exchange(server, _read(4, 4999, 1)) == (3, bytes((1, 0x84, code)))
    assert _fired(server, "padded-frame") == [0]


# ----------------------------------------------------------------------------- bad-exception


def test_bad_exception_frame_reframes_exception_replies_only(mock_sungrow_factory: Any
                                                             ) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    server.inject("bad-exception-frame")
    length, body = _exchange(server, _read(4, 4999, 1))  # a good read: untouched
    assert (length, body) == (5, bytes((1, 4, 2)) + struct.pack(">H", DEVICE_TYPE))
    length, body = _exchange(server, _read(3, 4999, 1))  # a good holding read too
    assert length == 5 and len(body) == 5 and body[:3] == bytes((1, 3, 2))
    assert _fired(server, "bad-exception-frame") == [0]
    length, body = _exchange(server, _read(3, 99, 2))  # illegal holding read
    assert (length, body) == (2, bytes((1, 0x83, 2)))  # says 2, three bytes follow
    assert _fired(server, "bad-exception-frame") == [1]
    assert [r.fault for r in server.requests.all()] == [None, None, "bad-exception-frame"]


# ----------------------------------------------------------------------------- wrong-count


def test_wrong_count_cuts_or_pads_reads_to_its_count(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as c:
        honest = c.read(4, 4999, 4)
        assert isinstance(honest, list) and honest[0] == DEVICE_TYPE
        with server.inject("wrong-count", count=2):
            reply = c.request(1, _read(4, 4999, 4))
            assert reply == bytes((4, 4)) + struct.pack(">2H", *honest[:2])  # cut
        with server.inject("wrong-count", count=3):
            reply = c.request(1, _read(4, 4999, 1))
            assert reply == bytes((4, 6)) + struct.pack(">3H", DEVICE_TYPE, UNMAPPED,
                                                        UNMAPPED)  # padded
            assert c.read(4, 99, 1) == 2  # an exception stays an exception
            assert _fired(server, "wrong-count") == [1]


def test_the_first_frame_fault_of_a_kind_shapes_the_reply(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    server.inject("wrong-count", count=2)
    server.inject("wrong-count", count=5)
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as c:
        reply = c.request(1, _read(4, 4999, 1))
    assert reply[:2] == bytes((4, 4))  # the older fault's two registers
    assert _fired(server, "wrong-count") == [1, 0]


# ----------------------------------------------------------------------------- empty-frame


def test_empty_frame_empties_only_reads_that_touch_a_gap(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    server.inject("empty-frame")
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as c:
        assert c.request(1, _read(4, 4999, 1)) == bytes((4, 2)) + struct.pack(">H",
                                                                             DEVICE_TYPE)
        assert _fired(server, "empty-frame") == [0]
        assert c.request(1, _read(4, 5000, 38)) == bytes((4, 0))  # 5025-5030 are gaps
        assert c.read(4, 99, 1) == 2  # exceptions pass
        assert _fired(server, "empty-frame") == [1]


def test_empty_frame_leaves_nothing_for_the_faults_after_it(mock_sungrow_factory: Any
                                                            ) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    server.inject("empty-frame")
    server.inject("wrong-count", count=3)
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as c:
        assert c.request(1, _read(4, 5000, 38)) == bytes((4, 0))
        assert _fired(server, "wrong-count") == [0]
        # A read without gaps: empty-frame passes, wrong-count acts.
        assert c.request(1, _read(4, 4999, 1))[:2] == bytes((4, 6))
    assert _fired(server, "empty-frame") == [1] and _fired(server, "wrong-count") == [1]
    assert [r.fault for r in server.requests.all()] == ["empty-frame", "wrong-count"]


def test_padded_frame_pads_an_emptied_read_too(mock_sungrow_factory: Any) -> None:
    """An empty read reply (fc, byte count 0: the shortest read ADU) is still a read reply."""
    server = mock_sungrow_factory(server_type="modbus")
    server.inject("empty-frame")
    server.inject("padded-frame", extra=1)
    length, body = _exchange(server, _read(4, 5000, 38))  # 5001-5038 has gaps
    assert (length, body) == (1 + 2 + 2, bytes((1, 4, 0, 0, 0)))
