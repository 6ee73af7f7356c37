"""Which keys the encrypted port accepts, and which decrypted frames it takes for requests.

The rules (spec §A.3, §A.4, §A.7; ``SungrowKeys``): the key is the same all of a plant day and
the same for a server with the same configuration; a client keeps its key until *its own*
midnight, so the newest 8 keys handed out stay accepted; today's key works even if this server
never handed it out (a client that kept it across a restart). There is no MAC, so a decrypted
frame is a request only when it looks like one: protocol id ``00 00``, an MBAP length that
matches L, and ``FF`` padding. Frames are built by the independent client in ``tests.helpers``.
"""

from __future__ import annotations

import struct
from datetime import datetime, timezone
from typing import Any

import pytest

from mock_sungrow import ManualClock, MockSungrowServer
from tests.helpers import EncryptedModbus

NOON = datetime(2026, 1, 10, 2, 0, tzinfo=timezone.utc)  # 13:00 in Sydney
DAY = 86400.0
READ_4999 = struct.pack(">BHH", 4, 4999, 1)  # documented 5000: device type code 0x0126


def _port(server: MockSungrowServer) -> int:
    return int(server.get_connection_info("sungrow")["port"])


def _works(server: MockSungrowServer, key: bytes) -> bool:
    """Whether an encrypted read under ``key`` is answered (else the port closes the line)."""
    with EncryptedModbus("127.0.0.1", _port(server), public_key=key, timeout=30) as c:
        c.send(c.eframe(1, READ_4999))
        try:
            return c.recv_encrypted() == (1, b"\x04\x02\x01\x26")
        except (ConnectionError, AssertionError):
            return False


def _fetch(server: MockSungrowServer) -> bytes:
    with EncryptedModbus("127.0.0.1", _port(server)) as c:
        return c.fetch_key()


@pytest.mark.mock_sungrow_expect_errors
def test_the_newest_eight_keys_handed_out_stay_accepted(mock_sungrow_factory: Any) -> None:
    clock = ManualClock(NOON)
    # a coarse plant step: reads after eight simulated days need not integrate every second
    server: MockSungrowServer = mock_sungrow_factory(server_type="sungrow", clock=clock,
                                                     tick=600.0)
    keys = []
    for day in range(9):  # nine plant days, each key fetched again and again
        if day:
            clock.advance(DAY)
        keys.append(_fetch(server))
        for _ in range(9):
            assert _fetch(server) == keys[-1]
    assert len(set(keys)) == 9
    assert [_works(server, key) for key in keys] == [False] + [True] * 8
    assert {p.kind for p in server.problems} == {"bad-frame"}


def test_repeated_key_requests_do_not_push_out_yesterdays_key(mock_sungrow_factory: Any) -> None:
    clock = ManualClock(NOON)
    server: MockSungrowServer = mock_sungrow_factory(server_type="sungrow", clock=clock)
    monday = _fetch(server)
    clock.advance(DAY)
    for _ in range(12):  # more key requests than keys kept, all for the same key
        _fetch(server)
    assert _works(server, monday)


def test_todays_key_works_on_a_server_that_never_handed_it_out(
    mock_sungrow_factory: Any,
) -> None:
    """Two servers, one configuration: the second never gets a key request on day two."""
    first_clock, second_clock = ManualClock(NOON), ManualClock(NOON)
    first: MockSungrowServer = mock_sungrow_factory(server_type="sungrow", clock=first_clock)
    second: MockSungrowServer = mock_sungrow_factory(server_type="sungrow", clock=second_clock)
    assert _fetch(first) == _fetch(second)  # same configuration, same day: same key
    first_clock.advance(DAY)
    second_clock.advance(DAY)
    tuesday = _fetch(first)
    assert _works(second, tuesday)
    assert second.problems == []


def _inner(enc: EncryptedModbus, head: bytes) -> bytes:
    """An encrypted FC4 read whose plaintext MBAP bytes 2-5 are ``head``."""
    adu = enc.frame(1, READ_4999)
    return enc.encrypt(adu[:2] + head + adu[6:])


@pytest.mark.mock_sungrow_expect_errors
@pytest.mark.parametrize(
    ("what", "head"),
    [("protocol id 00 01", "00 01 00 06"), ("protocol id 01 00", "01 00 00 06"),
     ("MBAP length 0x0106 for L = 12", "00 00 01 06"),
     ("MBAP length 7 for L = 12", "00 00 00 07")],
)
def test_a_frame_under_the_right_key_must_still_look_like_a_request(
    mock_sungrow_factory: Any, what: str, head: str
) -> None:
    server: MockSungrowServer = mock_sungrow_factory(server_type="sungrow",
                                                     clock=ManualClock(NOON))
    with EncryptedModbus("127.0.0.1", _port(server)) as c:
        c.fetch_key()
        frame = _inner(c, bytes.fromhex(head))
        assert frame[:4] == bytes.fromhex("01 00 0c 04")
        c.send(c.eframe(1, READ_4999) + frame)
        assert c.recv_encrypted() == (1, b"\x04\x02\x01\x26"), what  # the request before it
        assert c.sock.recv(100) == b"", what  # then closed
    (problem,) = server.problems
    assert (problem.kind, problem.message) == (
        "bad-frame",
        "encrypted frame (12+4 bytes) does not decrypt to a Modbus TCP request with any key "
        "this device handed out (a stale or rotated key, or garbage)")


def test_word_and_frame_faults_leave_the_key_reply_alone(mock_sungrow_factory: Any) -> None:
    """The key request is a handshake, not register data: ``zeros`` and ``wrong-count`` on
    every register change the reads, never the 16 key bytes (plain or encrypted)."""
    server: MockSungrowServer = mock_sungrow_factory(server_type="sungrow",
                                                     clock=ManualClock(NOON))
    key = server.sungrow_public_key()
    assert key is not None and key != bytes(16)
    server.inject("zeros")
    server.inject("wrong-count", count=2)
    with EncryptedModbus("127.0.0.1", _port(server)) as c:
        assert c.fetch_key() == key
        assert c.erequest(247, struct.pack(">BHH", 4, 0x0AE7, 8)) == b"\x04\x10" + key
        reply = c.erequest(1, READ_4999)  # one register asked: two came, the asked one 0
        assert (reply[:4], len(reply)) == (b"\x04\x04\x00\x00", 6)


def test_encrypted_requests_without_an_answer_hold_nothing_up(mock_sungrow_factory: Any) -> None:
    """A silent unit and a broadcast write, encrypted: no reply for either, the next one comes."""
    server: MockSungrowServer = mock_sungrow_factory(server_type="sungrow", unknown_unit="silence",
                                                     clock=ManualClock(NOON))
    with EncryptedModbus("127.0.0.1", _port(server)) as c:
        c.fetch_key()
        c.send(c.eframe(9, READ_4999) + c.eframe(0, struct.pack(">BHH", 6, 5007, 500))
               + c.eframe(1, struct.pack(">BHH", 3, 5007, 1)))
        assert c.recv_encrypted() == (1, b"\x03\x02\x01\xf4")  # the broadcast was applied
    assert [r.outcome for r in server.requests.all()] == ["ok", "no reply", "no reply", "ok"]


@pytest.mark.mock_sungrow_expect_errors
def test_a_reply_too_long_for_the_length_byte_is_refused_and_named(
    mock_sungrow_factory: Any,
) -> None:
    """Only a broken override can make one: it becomes exception 4, and the problem says why."""
    from mock_sungrow import SungrowModbusDataBlock

    class TooMany(SungrowModbusDataBlock):
        def getValues(self, address: int, count: int = 1) -> list[int]:
            return [7] * (count + 10)

    server: MockSungrowServer = mock_sungrow_factory(server_type="sungrow",
                                                     datablock_class=TooMany,
                                                     clock=ManualClock(NOON))
    with EncryptedModbus("127.0.0.1", _port(server)) as c:
        c.fetch_key()
        # 114 + 10 words: 9 + 248 = a 257-byte ADU
        assert c.erequest(1, struct.pack(">BHH", 4, 4999, 114)) == b"\x84\x04"
        host, port = c.sock.getsockname()[:2]
    (problem,) = server.problems
    assert (problem.front_end, problem.peer, problem.kind, problem.message) == (
        "sungrow", f"{host}:{port}", "handler-error",
        "a 257-byte reply does not fit the encrypted frame's length byte: "
        "answered with exception 4")


def test_only_reads_and_fc16_have_a_count_to_refuse(mock_sungrow_factory: Any) -> None:
    """The size limit reads a count from FC3, FC4 and FC16 only: other functions with bytes
    where a count would be are answered as any port answers them (FC6 writes the value;
    an unsupported function gets exception 1)."""
    server: MockSungrowServer = mock_sungrow_factory(server_type="sungrow",
                                                     clock=ManualClock(NOON))
    with EncryptedModbus("127.0.0.1", _port(server)) as c:
        c.fetch_key()
        assert c.erequest(1, bytes.fromhex("11 00 00 01 00")) == b"\x91\x01"
        assert c.erequest(1, bytes.fromhex("17 00 00 01 00")) == b"\x97\x01"
        assert c.erequest(1, bytes.fromhex("06 13 8f 03 e8")) == bytes.fromhex("06 13 8f 03 e8")
        assert c.erequest(1, bytes.fromhex("04 13 87 00 7b"))[:2] == b"\x04\xf6"  # 123: fits
        assert c.erequest(1, bytes.fromhex("03 13 87 00 7c")) == b"\x83\x02"  # 124: refused


def test_the_key_request_reaches_the_ports_inverter(mock_sungrow_factory: Any) -> None:
    """Unit 247's key request is the port's own, and it counts as the inverter's: a
    ``key-silent`` naming that inverter silences it, and the log names the inverter."""
    from tests.helpers import GET_KEY, RawModbus

    server: MockSungrowServer = mock_sungrow_factory(server_type="sungrow",
                                                     clock=ManualClock(NOON))
    serial = server.device.serial
    server.inject("key-silent", device=serial)
    with RawModbus("127.0.0.1", _port(server)) as c:
        c.sock.settimeout(0.5)
        c.send(GET_KEY)
        with pytest.raises(TimeoutError):
            c.sock.recv(1)  # silenced: the fault named the inverter behind the port
    (logged,) = server.requests.all()
    assert (logged.unit, logged.device, logged.outcome) == (247, serial, "silence")
