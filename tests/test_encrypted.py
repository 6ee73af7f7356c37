"""The "sungrow" front end (Sungrow's encrypted Modbus) over real sockets, byte by byte.

The client here (``tests.helpers.EncryptedModbus``) is written from the spec and checks every
byte of the framing; the unchanged PyPI clients are run in ``test_sungrow_clients.py``.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from mock_sungrow import ManualClock, MockSungrowServer
from tests.helpers import GET_KEY, EncryptedModbus, RawModbus, flood_until_unread

NOON = datetime(2026, 1, 10, 2, 0, tzinfo=timezone.utc)  # 13:00 in Sydney


def _port(server: MockSungrowServer, kind: str = "sungrow") -> int:
    port = server.get_connection_info(kind)["port"]
    assert isinstance(port, int)
    return port


def _read(fc: int, address: int, count: int) -> bytes:
    return struct.pack(">BHH", fc, address, count)


@pytest.fixture
def server(mock_sungrow_factory: Any) -> MockSungrowServer:
    """Plain and encrypted ports on one plant, time standing still."""
    s: MockSungrowServer = mock_sungrow_factory(server_type="modbus+sungrow",
                                                clock=ManualClock(NOON))
    return s


@pytest.fixture
def enc(server: MockSungrowServer) -> Iterator[EncryptedModbus]:
    with EncryptedModbus("127.0.0.1", _port(server)) as client:
        client.fetch_key()
        yield client


def _connections(server: MockSungrowServer) -> set[Any]:
    for fe in server._front_ends:
        if fe.name == "sungrow":
            return fe.connections  # type: ignore[attr-defined, no-any-return]
    raise AssertionError("no sungrow front end")


# ---------------------------------------------------------------------- the key (§A.3, §A.7)


def test_key_request_gets_a_25_byte_reply_with_a_real_key(server: MockSungrowServer) -> None:
    with RawModbus("127.0.0.1", _port(server)) as raw:
        raw.send(GET_KEY)
        reply = raw.recv_exact(25)
    assert reply[:9] == bytes.fromhex("68 68 00 00 00 13 f7 04 10")
    key = reply[9:]
    assert key not in (bytes(16), b"\xff" * 16)
    assert key == server.sungrow_public_key()


def test_key_is_stable_across_connections_and_servers(
    server: MockSungrowServer, mock_sungrow_factory: Any
) -> None:
    keys = set()
    for _ in range(3):
        with EncryptedModbus("127.0.0.1", _port(server)) as c:
            keys.add(c.fetch_key())
    assert len(keys) == 1
    same = mock_sungrow_factory(server_type="sungrow", clock=ManualClock(NOON))
    other_seed = mock_sungrow_factory(server_type="sungrow", clock=ManualClock(NOON), seed=1)
    assert same.sungrow_public_key() in keys
    assert other_seed.sungrow_public_key() not in keys


def test_encrypted_frames_need_no_handshake_on_their_connection(
    server: MockSungrowServer,
) -> None:
    # The sync clients fetch the key on one connection and use it on the next ones (§A.7).
    with EncryptedModbus("127.0.0.1", _port(server)) as first:
        key = first.fetch_key()
    with EncryptedModbus("127.0.0.1", _port(server), public_key=key) as second:
        assert second.eread(4, 4999, 1) == [0x0126]


def test_key_request_then_encrypted_frames_in_one_write(server: MockSungrowServer) -> None:
    # The Home Assistant client's pattern: key request first, then AES on the same socket.
    key = server.sungrow_public_key()
    assert key is not None
    with EncryptedModbus("127.0.0.1", _port(server), public_key=key) as c:
        c.send(GET_KEY + c.eframe(1, _read(4, 4999, 1)) + GET_KEY)
        assert c.recv_exact(25)[9:] == key
        assert c.recv_encrypted() == (1, b"\x04\x02\x01\x26")
        assert c.recv_exact(25)[9:] == key


def test_encrypted_key_request_gets_the_key_encrypted(enc: EncryptedModbus) -> None:
    assert enc.erequest(247, _read(4, 0x0AE7, 8)) == b"\x04\x10" + (enc.public_key or b"")


def test_key_changes_with_the_plant_day_and_yesterdays_key_keeps_working(
    mock_sungrow_factory: Any,
) -> None:
    clock = ManualClock(NOON)
    server = mock_sungrow_factory(server_type="sungrow", clock=clock)
    with EncryptedModbus("127.0.0.1", _port(server)) as c:
        monday = c.fetch_key()
        clock.advance(10 * 3600)  # 23:00 local: same day, same key
        assert server.sungrow_public_key() == monday
        clock.advance(2 * 3600)  # 01:00 the next day
        tuesday = server.sungrow_public_key()
        assert tuesday != monday
        # A client re-fetches at *its own* midnight: until then its key must still work.
        assert c.eread(4, 4999, 1) == [0x0126]
        c.use_key(c.fetch_key())
        assert c.public_key == tuesday
        assert c.eread(4, 4999, 1) == [0x0126]


@pytest.mark.mock_sungrow_expect_errors
def test_rotated_key_fails_until_fetched_again(server: MockSungrowServer) -> None:
    with EncryptedModbus("127.0.0.1", _port(server)) as c:
        old = c.fetch_key()
        assert c.eread(4, 4999, 1) == [0x0126]
        new = server.rotate_sungrow_key()
        assert new != old and server.sungrow_public_key() == new
        c.send(c.eframe(1, _read(4, 4999, 1)))
        assert c.sock.recv(100) == b""  # frames under the old key are refused: closed
    assert [p.kind for p in server.problems] == ["bad-frame"]
    assert "rotated key" in server.problems[0].message
    with EncryptedModbus("127.0.0.1", _port(server)) as c:
        assert c.fetch_key() == new
        assert c.eread(4, 4999, 1) == [0x0126]


def test_rotation_needs_an_encrypting_port(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="sungrow", encryption="none")
    with pytest.raises(ValueError, match="encryption='aes'"):
        server.rotate_sungrow_key()
    assert server.sungrow_public_key() == bytes(16)
    lan = MockSungrowServer(server_type="sungrow", encryption="lan", sungrow_port=0)
    assert lan.sungrow_public_key() is None


def test_restarted_server_accepts_the_key_a_client_kept(mock_sungrow_factory: Any) -> None:
    first = mock_sungrow_factory(server_type="sungrow", clock=ManualClock(NOON))
    with EncryptedModbus("127.0.0.1", _port(first)) as c:
        key = c.fetch_key()
    first.stop()
    second = mock_sungrow_factory(server_type="sungrow", clock=ManualClock(NOON))
    with EncryptedModbus("127.0.0.1", _port(second), public_key=key) as c:
        assert c.eread(4, 4999, 1) == [0x0126]


# ---------------------------------------------------------------------- frames (§A.4, §A.5)


def test_encrypted_reply_is_byte_exact(enc: EncryptedModbus) -> None:
    enc.send(enc.eframe(1, _read(4, 4999, 1)))
    header = enc.recv_exact(4)
    assert header == bytes((1, 0, 11, 5))  # 11-byte ADU, 5 bytes of padding
    dec = enc.cipher.decryptor()
    plain = dec.update(enc.recv_exact(16)) + dec.finalize()
    assert plain == bytes.fromhex("68 68 00 00 00 05 01 04 02 01 26") + b"\xff" * 5


def test_full_block_padding_when_the_adu_is_a_multiple_of_16(enc: EncryptedModbus) -> None:
    # 9 + 2 * 7 = 23; 9 + 2 * 19 = 47; 9 + 2 * 123 = 255; a 32-byte ADU needs P = 16.
    for count, size in ((7, 23), (19, 47), (123, 255)):
        enc.send(enc.eframe(1, _read(4, 4999, count)))
        _unit, pdu = enc.recv_encrypted()
        assert len(pdu) + 7 == size
    # A request whose ADU is exactly 16 bytes: FC16 with two registers is 7 + 6 + 4 = 17;
    # FC16 with one register is 15; build a 16-byte one from an unsupported function.
    adu = enc.frame(1, b"\x2b\x0e\x01\x00\x00\x00\x00\x00\x00")
    assert len(adu) == 16
    framed = enc.encrypt(adu)
    assert framed[:4] == bytes((1, 0, 16, 16)) and len(framed) == 4 + 32
    enc.send(framed)
    assert enc.recv_encrypted() == (1, b"\xab\x01")


def test_encrypted_reads_equal_plain_reads(server: MockSungrowServer,
                                           enc: EncryptedModbus) -> None:
    """One code path: the same plant, the same words, whichever port."""
    with RawModbus("127.0.0.1", _port(server, "modbus")) as raw:
        for fc, address, count in ((4, 4989, 12), (4, 4999, 40), (4, 5000, 38), (3, 4999, 10),
                                   (4, 5100, 100), (4, 100, 10), (3, 5008, 1)):
            assert enc.eread(fc, address, count) == raw.read(fc, address, count)


def test_writes_through_the_encrypted_port_reach_the_plant(server: MockSungrowServer,
                                                           enc: EncryptedModbus) -> None:
    assert enc.erequest(1, struct.pack(">BHH", 6, 5007, 500)) == struct.pack(">BHH", 6, 5007, 500)
    assert server.read_registers("holding", 5008) == [500]
    values = [0x55, 750]
    pdu = struct.pack(">BHHB2H", 16, 5006, 2, 4, *values)
    assert enc.erequest(1, pdu) == struct.pack(">BHH", 16, 5006, 2)
    with RawModbus("127.0.0.1", _port(server, "modbus")) as raw:
        assert raw.read(3, 5006, 2) == values
    assert enc.erequest(1, struct.pack(">BHH", 6, 5005, 0x12)) == b"\x86\x04"  # out of range


def test_split_frames_are_reassembled(enc: EncryptedModbus) -> None:
    stream = (enc.eframe(1, _read(4, 4999, 1)) + GET_KEY + enc.eframe(1, _read(4, 5000, 1)))
    for byte in stream:
        enc.send(bytes([byte]))
    assert enc.recv_encrypted() == (1, b"\x04\x02\x01\x26")
    assert enc.recv_exact(25)[9:] == enc.public_key
    assert enc.recv_encrypted() == (1, b"\x04\x02\x00\x32")


def test_pipelined_and_coalesced_requests_are_answered_in_order(enc: EncryptedModbus) -> None:
    requests = [_read(4, 4999, 1), _read(3, 4999, 1), _read(4, 100, 1), _read(4, 4999, 124),
                struct.pack(">BHH", 6, 5007, 321), _read(3, 5007, 1), _read(4, 5000, 1)]
    enc.send(b"".join(enc.eframe(1, pdu) for pdu in requests))
    replies = [enc.recv_encrypted()[1] for _ in requests]
    assert replies[0] == b"\x04\x02\x01\x26"
    assert replies[1][:2] == b"\x03\x02"
    assert replies[2] == b"\x84\x02"
    assert replies[3] == b"\x84\x02"  # too large for the length byte
    assert replies[4] == struct.pack(">BHH", 6, 5007, 321)
    assert replies[5] == b"\x03\x02\x01\x41"
    assert replies[6] == b"\x04\x02\x00\x32"


def test_replies_keep_request_order_when_an_answer_has_to_wait(
    mock_sungrow_factory: Any,
) -> None:
    import asyncio

    from mock_sungrow import SungrowModbusDataBlock

    class SlowBlock(SungrowModbusDataBlock):
        async def async_getValues(self, address: int, count: int = 1) -> list[int]:
            if self.table == "input":
                await asyncio.sleep(0.05)
            return self.getValues(address, count)

    server = mock_sungrow_factory(server_type="sungrow", datablock_class=SlowBlock)
    with EncryptedModbus("127.0.0.1", _port(server)) as c:
        c.fetch_key()
        c.send(c.eframe(1, _read(4, 4999, 1)) + GET_KEY + c.eframe(1, _read(3, 5007, 1))
               + c.eframe(1, _read(4, 5000, 1)) + c.eframe(1, _read(4, 4999, 125)))
        assert c.recv_encrypted() == (1, b"\x04\x02\x01\x26")
        assert c.recv_exact(25)[9:] == c.public_key
        assert c.recv_encrypted() == (1, b"\x03\x02\x03\xe8")
        assert c.recv_encrypted() == (1, b"\x04\x02\x00\x32")
        assert c.recv_encrypted() == (1, b"\x84\x02")


# ---------------------------------------------------------------------- size limit (§A.6)


def test_size_limit_refuses_what_the_length_byte_cannot_frame(
    server: MockSungrowServer, enc: EncryptedModbus
) -> None:
    assert isinstance(enc.eread(4, 4999, 123), list)
    assert enc.eread(4, 4999, 124) == 2
    assert enc.eread(4, 12999, 125) == 2  # SunGather's hybrid scan size
    assert enc.eread(3, 4999, 125) == 2
    assert enc.eread(4, 4999, 1) == [0x0126]  # and the stream is still in step
    # FC16 of 122 registers cannot even be framed (13 + 244 > 255); the count alone decides.
    assert enc.erequest(1, struct.pack(">BHHB", 16, 5006, 122, 0)) == b"\x90\x02"
    # The plain port has no such limit.
    with RawModbus("127.0.0.1", _port(server, "modbus")) as raw:
        words = raw.read(4, 4999, 125)
        assert isinstance(words, list) and len(words) == 125


@pytest.mark.mock_sungrow_expect_errors
def test_a_handler_error_is_recorded_on_the_port_it_happened(mock_sungrow_factory: Any) -> None:
    from mock_sungrow import SungrowModbusDataBlock

    class Broken(SungrowModbusDataBlock):
        def getValues(self, address: int, count: int = 1) -> list[int]:
            raise RuntimeError("broken override")

    server = mock_sungrow_factory(server_type="modbus+sungrow", datablock_class=Broken)
    with EncryptedModbus("127.0.0.1", _port(server)) as c:
        c.fetch_key()
        assert c.eread(4, 4999, 1) == 4  # slave device failure
    with RawModbus("127.0.0.1", _port(server, "modbus")) as r:
        assert r.read(4, 4999, 1) == 4
    assert [(p.front_end, p.kind) for p in server.problems] == [
        ("sungrow", "handler-error"), ("modbus", "handler-error")]


def test_a_broken_override_never_overflows_the_length_byte(mock_sungrow_factory: Any) -> None:
    from mock_sungrow import SungrowModbusDataBlock

    class TooMany(SungrowModbusDataBlock):
        def getValues(self, address: int, count: int = 1) -> list[int]:
            return [7] * (count + 10)

    server = mock_sungrow_factory(server_type="sungrow", datablock_class=TooMany)
    with EncryptedModbus("127.0.0.1", _port(server)) as c:
        c.fetch_key()
        # 114 + 10 words: a 257-byte ADU (a byte count the PDU itself can still carry).
        assert c.eread(4, 4999, 114) == 4
        assert c.erequest(1, _read(4, 4999, 1)) == b"\x04\x16" + b"\x00\x07" * 11
    assert [p.kind for p in server.problems] == ["handler-error"]
    server.diagnostics.clear()


# ---------------------------------------------------------------------- plain requests (§A.8)


@pytest.mark.mock_sungrow_expect_errors
def test_strict_port_ignores_plain_requests(server: MockSungrowServer,
                                            enc: EncryptedModbus) -> None:
    enc.send(enc.frame(1, _read(4, 4999, 1)) + enc.eframe(1, _read(4, 5000, 1)))
    # The first reply is the encrypted one: the plain request got nothing.
    assert enc.recv_encrypted() == (1, b"\x04\x02\x00\x32")
    assert [p.kind for p in server.problems] == ["plain-request"]
    assert "lenient" in server.problems[0].message


def test_lenient_port_answers_plain_requests_in_plain(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="sungrow", plain_requests="lenient")
    with EncryptedModbus("127.0.0.1", _port(server)) as c:
        c.fetch_key()  # sungrowinverter's pattern: key, then plain requests
        assert c.read(4, 4999, 1) == [0x0126]
        plain = c.frame(1, _read(4, 5000, 1))
        tid = c.tid
        c.send(plain + c.eframe(1, _read(4, 4999, 1)))
        assert c.recv_frame() == (tid, 1, b"\x04\x02\x00\x32")
        assert c.recv_encrypted() == (1, b"\x04\x02\x01\x26")
        assert c.read(4, 4999, 125) != 2  # plain: no size limit


# ---------------------------------------------------------------------- modes


def test_none_mode_says_no_encryption_then_speaks_plain(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="sungrow", encryption="none")
    assert server.get_connection_info("sungrow")["encryption"] == "none"
    with RawModbus("127.0.0.1", _port(server)) as raw:
        raw.send(GET_KEY)
        assert raw.recv_exact(25) == bytes.fromhex("68 68 00 00 00 13 f7 04 10") + bytes(16)
        assert raw.read(4, 4999, 1) == [0x0126]
        words = raw.read(4, 4999, 125)
        assert isinstance(words, list) and len(words) == 125


def test_lan_mode_answers_the_key_request_with_exception_2(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="sungrow", encryption="lan")
    with RawModbus("127.0.0.1", _port(server)) as raw:
        raw.send(GET_KEY)
        assert raw.recv_exact(9) == bytes.fromhex("68 68 00 00 00 03 f7 84 02")
        assert raw.read(4, 4999, 1) == [0x0126]


def test_lan_mode_can_stay_silent_on_the_key_request(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="sungrow", encryption="lan",
                                  lan_key_reply="silence")
    with RawModbus("127.0.0.1", _port(server)) as raw:
        raw.send(GET_KEY + raw.frame(1, _read(4, 4999, 1)))
        # The first reply is the read's: the key request got nothing.
        assert raw.recv_frame() == (raw.tid, 1, b"\x04\x02\x01\x26")


@pytest.mark.mock_sungrow_expect_errors
@pytest.mark.parametrize("mode", ["none", "lan"])
def test_plain_ports_refuse_encrypted_frames(mock_sungrow_factory: Any, mode: str) -> None:
    server = mock_sungrow_factory(server_type="sungrow", encryption=mode)
    with EncryptedModbus("127.0.0.1", _port(server), public_key=bytes(range(16))) as c:
        c.send(c.eframe(1, _read(4, 4999, 1)))
        assert c.sock.recv(100) == b""
    assert [p.kind for p in server.problems] == ["bad-frame"]
    assert f"encryption='{mode}'" in server.problems[0].message


# ---------------------------------------------------------------------- bad input

BAD_HEADERS = {
    "padding 0": bytes((1, 0, 12, 0)) + bytes(16),
    "padding 17": bytes((1, 0, 12, 17)) + bytes(32),
    "wrong padding length": bytes((1, 0, 12, 8)) + bytes(20),
    "ciphertext not whole blocks": bytes((1, 0, 16, 9)) + bytes(25),
    "L below 8": bytes((1, 0, 4, 12)) + bytes(16),
    "L 0": bytes((1, 0, 0, 16)) + bytes(16),
    "bytes 0-1 not 01 00": bytes((2, 0, 12, 4)) + bytes(16),
    "garbage": bytes.fromhex("de ad be ef 00 11 22 33 44 55 66 77"),
    "http": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "plain MBAP length 1": bytes.fromhex("00 01 00 00 00 01 01"),
}


@pytest.mark.mock_sungrow_expect_errors
@pytest.mark.parametrize("garbage", list(BAD_HEADERS.values()), ids=list(BAD_HEADERS))
def test_bad_frames_close_only_that_connection(
    server: MockSungrowServer, enc: EncryptedModbus, garbage: bytes
) -> None:
    with EncryptedModbus("127.0.0.1", _port(server), public_key=enc.public_key) as bad:
        bad.send(garbage)
        assert bad.sock.recv(100) == b""  # closed by the server
    assert enc.eread(4, 4999, 1) == [0x0126]  # the other client goes on
    assert [p.kind for p in server.problems] == ["bad-frame"]


def _undecryptable(enc: EncryptedModbus) -> dict[str, bytes]:
    adu = enc.frame(1, _read(4, 4999, 1))
    other = EncryptedModbus.__new__(EncryptedModbus)
    other.use_key(bytes(range(16)))
    broken_length = adu[:4] + b"\x00\x07" + adu[6:]
    return {
        "wrong key": other.encrypt(adu),
        "padding not 0xFF": enc.encrypt(adu, fill=b"\x00"),
        "MBAP length disagrees with L": enc.encrypt(broken_length),
        "random blocks": bytes((1, 0, 12, 4)) + os.urandom(16),
    }


@pytest.mark.mock_sungrow_expect_errors
@pytest.mark.parametrize("case", ["wrong key", "padding not 0xFF",
                                  "MBAP length disagrees with L", "random blocks"])
def test_undecryptable_frames_close_only_that_connection(
    server: MockSungrowServer, enc: EncryptedModbus, case: str
) -> None:
    frame = _undecryptable(enc)[case]
    with EncryptedModbus("127.0.0.1", _port(server), public_key=enc.public_key) as bad:
        bad.send(bad.eframe(1, _read(4, 5000, 1)) + frame + bad.eframe(1, _read(4, 5000, 1)))
        assert bad.recv_encrypted() == (1, b"\x04\x02\x00\x32")  # the request before it
        assert bad.sock.recv(100) == b""
    assert enc.eread(4, 4999, 1) == [0x0126]
    assert [p.kind for p in server.problems] == ["bad-frame"]
    assert "does not decrypt" in server.problems[0].message


@pytest.mark.mock_sungrow_expect_errors
@pytest.mark.parametrize("count", [0, 7, 9, 125])
def test_key_request_with_a_wrong_count_is_answered_with_exception_2(
    server: MockSungrowServer, count: int
) -> None:
    with RawModbus("127.0.0.1", _port(server)) as raw:
        raw.send(bytes.fromhex("68 68 00 00 00 06 f7 04 0a e7") + count.to_bytes(2, "big"))
        assert raw.recv_exact(9) == bytes.fromhex("68 68 00 00 00 03 f7 84 02")
        raw.send(GET_KEY)  # the connection stays usable
        assert raw.recv_exact(25)[9:] == server.sungrow_public_key()
    assert [p.kind for p in server.problems] == ["bad-frame"]
    assert "key request" in server.problems[0].message


def test_truncated_frames_then_close_are_harmless(server: MockSungrowServer,
                                                  enc: EncryptedModbus) -> None:
    frame = enc.eframe(1, _read(4, 4999, 1))
    for cut in (1, 3, 4, 10, len(frame) - 1):
        with socket.create_connection(("127.0.0.1", _port(server))) as s:
            s.sendall(frame[:cut])
    for cut in (3, 8, 11):
        with socket.create_connection(("127.0.0.1", _port(server))) as s:
            s.sendall(GET_KEY[:cut])
    assert enc.eread(4, 4999, 1) == [0x0126]
    assert server.problems == []


def test_connections_without_a_byte_cost_nothing(server: MockSungrowServer) -> None:
    """The sync clients open and close 2-5 empty connections per request (§A.7)."""
    for _ in range(200):
        socket.create_connection(("127.0.0.1", _port(server))).close()
    with EncryptedModbus("127.0.0.1", _port(server)) as c:
        c.fetch_key()
        assert c.eread(4, 4999, 1) == [0x0126]
        # Closed connections are forgotten (their close is processed before this request's
        # round trip; allow the loop a moment on a loaded machine).
        deadline = time.monotonic() + 5
        while len(_connections(server)) > 1 and time.monotonic() < deadline:
            c.eread(4, 4999, 1)
        assert len(_connections(server)) == 1
    assert server.problems == []


def test_client_that_never_reads_is_throttled(server: MockSungrowServer,
                                              enc: EncryptedModbus) -> None:
    """A client that pipelines without reading its replies stops being read; others are served."""
    hog = socket.create_connection(("127.0.0.1", _port(server)))
    try:
        view = flood_until_unread(server, "sungrow", hog, enc.eframe(1, _read(4, 5099, 120)) * 64)
        assert not view["closing"], view  # stopped for back-pressure, not closed
        assert view["write_buffer"] >= 64 * 1024, view  # its replies back up...
        # ...and what was read before writing paused waits: at most one read (asyncio reads
        # 256 KiB at a time) after a partial frame. tests/test_backpressure.py checks more.
        assert view["unanswered"] <= 256 * 1024 + 512, view
        assert enc.eread(4, 4999, 1) == [0x0126]  # another client is served meanwhile
    finally:
        hog.close()
    assert server.problems == []  # every frame the hog sent was whole


# ---------------------------------------------------------------------- the server around it


def test_reset_keeps_the_encrypted_port_serving_the_new_plant(
    server: MockSungrowServer, enc: EncryptedModbus
) -> None:
    key = enc.public_key
    assert enc.erequest(1, struct.pack(">BHH", 6, 5007, 100))[0] == 6
    server.reset()
    assert enc.eread(3, 5007, 1) == [1000]  # same connection, fresh plant
    assert server.sungrow_public_key() == key  # the dongle's key is not plant state


def test_connection_info_and_server_types() -> None:
    from mock_sungrow.frontends import IMPLEMENTED_FRONT_ENDS, SERVER_TYPES

    server = MockSungrowServer(server_type="sungrow", sungrow_port=1502)
    assert server.get_connection_info("sungrow") == {
        "host": "127.0.0.1", "port": 1502, "connection_type": "sungrow", "encryption": "aes"}
    assert server.configured_port("sungrow") == 1502
    every_kind = {kind for kinds in SERVER_TYPES.values() for kind in kinds}
    assert set(SERVER_TYPES["all"]) == every_kind == {"modbus", "http", "sungrow"}
    assert SERVER_TYPES["sungrow"] == ("sungrow",)
    assert set(SERVER_TYPES["modbus+sungrow"]) == {"modbus", "sungrow"}
    assert "sungrow" in IMPLEMENTED_FRONT_ENDS


def test_all_serves_every_front_end(mock_sungrow_factory: Any) -> None:
    from mock_sungrow import FrontEndUnavailableError
    from mock_sungrow.frontends import IMPLEMENTED_FRONT_ENDS, SERVER_TYPES

    missing = set(SERVER_TYPES["all"]) - IMPLEMENTED_FRONT_ENDS
    if missing:  # the WiNet-S front end lands on another branch
        with pytest.raises(FrontEndUnavailableError):
            MockSungrowServer(server_type="all")
        return
    server = mock_sungrow_factory(server_type="all")
    assert set(server.connection_infos()) == set(SERVER_TYPES["all"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"encryption": "rsa"}, r"encryption must be one of aes, none, lan; got 'rsa'"),
     ({"lan_key_reply": "nope"}, r"lan_key_reply must be one of exception, silence"),
     ({"plain_requests": "maybe"}, r"plain_requests must be one of strict, lenient"),
     ({"sungrow_port": 65536}, r"sungrow_port must be an integer 0..65535")],
)
def test_bad_sungrow_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MockSungrowServer(server_type="sungrow", **kwargs)  # type: ignore[arg-type]


def test_port_in_use_names_the_sungrow_front_end() -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    try:
        server = MockSungrowServer(server_type="modbus+sungrow", modbus_port=0,
                                   sungrow_port=port)
        with pytest.raises(OSError, match=rf"Sungrow encrypted Modbus front end cannot bind "
                                          rf"127\.0\.0\.1:{port}"):
            server.start()
        assert not server.running
    finally:
        blocker.close()


def test_cryptography_is_imported_only_for_an_encrypting_front_end() -> None:
    code = (
        "import sys\n"
        "import mock_sungrow.pytest_plugin\n"
        "from mock_sungrow import MockSungrowServer\n"
        "for kw in ({'server_type': 'modbus'}, {'server_type': 'sungrow', 'encryption': 'none'}):\n"
        "    MockSungrowServer(modbus_port=0, sungrow_port=0, **kw).start().stop()\n"
        "assert 'cryptography' not in sys.modules, 'imported too early'\n"
        "MockSungrowServer(sungrow_port=0, server_type='sungrow').start().stop()\n"
        "assert 'cryptography' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# ---------------------------------------------------------------------- the command line


def test_cli_serves_the_sungrow_port_and_reports_it_in_the_ready_line() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_sungrow", "serve", "--server-type", "modbus+sungrow",
         "--modbus-port", "0", "--sungrow-port", "0", "--encryption", "none",
         "--status-interval", "0", "--control-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        assert set(ready) == {"modbus", "sungrow", "control", "devices"}
        info = ready["sungrow"]
        assert info["connection_type"] == "sungrow" and info["encryption"] == "none"
        with RawModbus(info["host"], info["port"]) as raw:
            raw.send(GET_KEY)
            assert raw.recv_exact(25)[9:] == bytes(16)
            assert raw.read(4, 4999, 1) == [0x0126]
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err


def test_cli_aes_port_hands_out_a_key() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_sungrow", "serve", "--server-type", "sungrow",
         "--sungrow-port", "0", "--plain-requests", "lenient", "--status-interval", "0",
         "--control-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())["sungrow"]
        assert info["encryption"] == "aes"
        with EncryptedModbus(info["host"], info["port"]) as c:
            assert c.fetch_key() not in (bytes(16), b"\xff" * 16)
            assert c.eread(4, 4999, 1) == [0x0126]
            assert c.read(4, 4999, 1) == [0x0126]  # lenient: plain answered too
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err


@pytest.mark.parametrize("args", [["--encryption", "rsa"], ["--lan-key-reply", "x"],
                                  ["--plain-requests", "x"], ["--sungrow-port", "-1"]])
def test_cli_rejects_bad_sungrow_flags(args: list[str]) -> None:
    r = subprocess.run([sys.executable, "-m", "mock_sungrow", "serve", "--server-type",
                        "sungrow", *args], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and r.stdout == ""
    assert args[0] in r.stderr
