"""The Modbus TCP front end over real sockets: pymodbus 3.x and raw bytes."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from pymodbus.client import ModbusTcpClient
from pymodbus.pdu import ExceptionResponse

from mock_sungrow import MockSungrowServer
from tests.helpers import RawModbus, flood_until_unread


def _port(server: MockSungrowServer) -> int:
    port = server.get_connection_info("modbus")["port"]
    assert isinstance(port, int)
    return port


@pytest.fixture
def client(mock_sungrow: MockSungrowServer) -> Iterator[ModbusTcpClient]:
    c = ModbusTcpClient("127.0.0.1", port=_port(mock_sungrow), timeout=2, retries=0)
    assert c.connect()
    yield c
    c.close()


@pytest.fixture
def raw(mock_sungrow: MockSungrowServer) -> Iterator[RawModbus]:
    with RawModbus("127.0.0.1", _port(mock_sungrow)) as r:
        yield r


def exc_code(resp: Any) -> int:
    assert resp.isError(), resp
    assert isinstance(resp, ExceptionResponse)
    return int(resp.exception_code)


# ---------------------------------------------------------------------- identification


@pytest.mark.parametrize(
    ("model", "code"),
    [("SG5K-D", 0x0126), ("SG10RT", 0x2433), ("SG33CX", 0x2C00), ("SH10RT", 0x0E03),
     ("SH5.0RT", 0x0E00)],
)
def test_model_detection_reads_the_device_type_code(
    mock_sungrow_factory: Any, model: str, code: int
) -> None:
    server = mock_sungrow_factory(model=model)
    c = ModbusTcpClient("127.0.0.1", port=_port(server), timeout=2, retries=0)
    c.connect()
    try:
        # SunGather's detection read: wire 4999 = documented 5000.
        assert c.read_input_registers(4999, count=1).registers == [code]
        nominal = c.read_input_registers(5000, count=1).registers[0]
        assert nominal * 100 == server.model.rated_power_w
    finally:
        c.close()


def test_serial_number_is_a_utf8_string_stable_per_server(
    mock_sungrow: MockSungrowServer, client: ModbusTcpClient
) -> None:
    words = client.read_input_registers(4989, count=10).registers
    text = b"".join(w.to_bytes(2, "big") for w in words).rstrip(b"\0").decode()
    assert text == mock_sungrow.plant.serial
    assert text.startswith("A") and len(text) == 11
    assert client.read_input_registers(4989, count=10).registers == words


def test_serial_can_be_configured(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(serial="B2301234567")
    with RawModbus("127.0.0.1", _port(server)) as r:
        words = r.read(4, 4989, 10)
        assert isinstance(words, list)
        assert b"".join(w.to_bytes(2, "big") for w in words).startswith(b"B2301234567\0")


# ---------------------------------------------------------------------- SunGather's scans

LEVEL1_BLOCKS = {
    "SG5K-D": [(4, 5000, 38), (4, 5039, 61), (4, 5100, 100), (3, 4999, 10)],
    "SG10RT": [(4, 5000, 38), (4, 5100, 100), (3, 4999, 10)],
    "SH10RT": [(4, 5000, 38), (4, 5100, 100), (4, 12999, 125), (3, 4999, 10)]
    + [(4, a, 100) for a in range(6099, 6700, 100)],
}


@pytest.mark.parametrize("model", sorted(LEVEL1_BLOCKS))
def test_sungather_level1_blocks_answer_exact_counts(mock_sungrow_factory: Any, model: str) -> None:
    server = mock_sungrow_factory(model=model)
    c = ModbusTcpClient("127.0.0.1", port=_port(server), timeout=2, retries=0)
    c.connect()
    try:
        for fc, address, count in LEVEL1_BLOCKS[model]:
            read = c.read_input_registers if fc == 4 else c.read_holding_registers
            resp = read(address, count=count)
            assert not resp.isError(), (model, fc, address, count, resp)
            assert len(resp.registers) == count
    finally:
        c.close()


@pytest.mark.parametrize("model", ["SG5K-D", "SH10RT", "SH5K-20", "MG5RL", "SG250HX"])
def test_clock_block_always_answers(mock_sungrow_factory: Any, model: str) -> None:
    server = mock_sungrow_factory(model=model)
    with RawModbus("127.0.0.1", _port(server)) as r:
        # The read and a snapshot can straddle a second on a loaded machine: bracket the read
        # between two snapshots and expect a time between them (no sleeping, no retrying).
        before = server.snapshot().local.replace(microsecond=0)
        words = r.read(3, 4999, 10)
        after = server.snapshot().local
        assert isinstance(words, list)
        year, month, day, hour, minute, second = words[:6]
        read = datetime(year, month, day, hour, minute, second, tzinfo=before.tzinfo)
        assert before <= read <= after, (before, words[:6], after)
        if server.model.name == "SH10RT":  # the recorded SH10RT's LAN port (family rules):
            assert words[6:] == [0x00CF, 0x00AA, 0x03E8, 0xFFFF]  # started, limit on, 100 %
        elif server.model.is_hybrid:
            assert words[6:] == [0xFFFF] * 4  # 5006-5009 are string-inverter registers
        else:
            assert words[6] == 0xCF  # start/stop reads "started"


# ---------------------------------------------------------------------- exceptions (spec B.7)


def test_count_zero_and_over_125_are_exception_2(client: ModbusTcpClient, raw: RawModbus) -> None:
    assert raw.read(4, 4999, 0) == 2
    assert raw.read(4, 4999, 126) == 2
    assert raw.read(3, 4999, 0) == 2
    assert len(client.read_input_registers(4999, count=125).registers) == 125


def test_read_touching_no_defined_register_is_exception_2(raw: RawModbus) -> None:
    assert raw.read(4, 100, 10) == 2
    assert raw.read(3, 100, 10) == 2
    # Hybrid-only input registers do not exist on a string inverter.
    assert raw.read(4, 12999, 10) == 2
    # Touching one defined register is enough: gaps read the filler.
    words = raw.read(4, 4990, 20)
    assert isinstance(words, list) and len(words) == 20


def test_gaps_inside_a_block_read_fillers_and_sentinels(raw: RawModbus) -> None:
    # SG5K-D has two MPPTs: MPPT 3 (documented 5015/5016) answers the U16 sentinel.
    words = raw.read(4, 5014, 2)
    assert words == [0xFFFF, 0xFFFF]
    # Documented 5025-5030 are reserved inside the block: filler, read alone or not.
    block = raw.read(4, 5023, 8)
    assert isinstance(block, list)
    assert block[:7] == [0xFFFF] * 7  # 5024 is phase C current: a sentinel on one phase
    assert raw.read(4, 5024, 6) == [0xFFFF] * 6
    # Far from every documented block: refused.
    assert raw.read(4, 5400, 10) == 2
    # Holding 5009 (between rows) reads 0xFFFF, like a real SG3.0RS.
    hold = raw.read(3, 5008, 1)
    assert hold == [0xFFFF]


def test_unsupported_function_is_exception_1(raw: RawModbus) -> None:
    for pdu in (b"\x01\x00\x00\x00\x08", b"\x02\x00\x00\x00\x08", b"\x05\x00\x00\xff\x00",
                b"\x2b\x0e\x01\x00", b"\x17\x00\x00\x00\x01\x00\x00\x00\x01\x02\x00\x00"):
        reply = raw.request(1, pdu)
        assert reply == bytes((pdu[0] | 0x80, 1)), pdu.hex()


def test_write_to_read_only_or_undefined_register_is_exception_2(
    client: ModbusTcpClient,
) -> None:
    assert exc_code(client.write_register(5030, 100)) == 2  # 5031 is an input register
    assert exc_code(client.write_register(100, 1)) == 2
    assert exc_code(client.write_registers(5007, [1000, 0])) == 2  # 5009 is not a register


def test_write_out_of_range_is_exception_4(client: ModbusTcpClient) -> None:
    assert exc_code(client.write_register(5005, 0x12)) == 4  # start/stop takes 0xCF / 0xCE
    assert exc_code(client.write_register(5000, 13)) == 4  # month 13 (documented 5001)
    assert exc_code(client.write_register(5007, 1101)) == 4  # power limit above 110 %
    assert exc_code(client.write_registers(4999, [2026, 2, 30, 12, 0, 0])) == 4  # 30 February


def test_failed_multi_write_changes_nothing(client: ModbusTcpClient) -> None:
    before = client.read_holding_registers(5006, count=3).registers
    # 5007 (switch) would accept 0x55, but 5008 rejects 5000: all or nothing.
    assert exc_code(client.write_registers(5006, [0x55, 5000])) == 4
    assert client.read_holding_registers(5006, count=3).registers == before


def test_writes_are_read_back(client: ModbusTcpClient) -> None:
    assert not client.write_register(5007, 500).isError()
    assert client.read_holding_registers(5007, count=1).registers == [500]
    assert not client.write_registers(5006, [0x55, 750]).isError()
    assert client.read_holding_registers(5006, count=2).registers == [0x55, 750]


def test_clock_write_shifts_the_inverter_clock(
    mock_sungrow: MockSungrowServer, client: ModbusTcpClient
) -> None:
    assert not client.write_registers(4999, [2027, 3, 4, 5, 6, 7]).isError()
    words = client.read_holding_registers(4999, count=6).registers
    assert words[:5] == [2027, 3, 4, 5, 6]
    assert words[5] - 7 in (0, 1, 2)  # seconds tick on with the real clock
    assert not client.write_register(4999, 2028).isError()  # one field at a time
    assert client.read_holding_registers(4999, count=1).registers == [2028]


def test_start_stop_register_starts_and_stops_the_plant(mock_sungrow_factory: Any) -> None:
    from datetime import datetime, timezone

    from mock_sungrow import ManualClock

    clock = ManualClock(datetime(2026, 1, 10, 2, 0, tzinfo=timezone.utc))  # 13:00 in Sydney
    server = mock_sungrow_factory(clock=clock)
    c = ModbusTcpClient("127.0.0.1", port=_port(server), timeout=2, retries=0)
    c.connect()
    try:
        def power() -> int:
            lo, hi = c.read_input_registers(5030, count=2).registers
            return lo | hi << 16

        def state() -> int:
            return int(c.read_input_registers(5037, count=1).registers[0])

        assert power() > 3000 and state() == 0x0000
        assert not c.write_register(5005, 0xCE).isError()
        clock.advance(5)
        assert power() == 0 and state() == 0x8000
        assert c.read_holding_registers(5005, count=1).registers == [0xCE]
        assert not c.write_register(5005, 0xCF).isError()
        clock.advance(5)
        assert state() == 0x1600 and power() == 0  # Starting: waiting to connect
        clock.advance(60)
        assert state() == 0x0000 and power() > 3000
    finally:
        c.close()


# ---------------------------------------------------------------------- units and the key probe


def test_unknown_unit_gets_gateway_exception(raw: RawModbus) -> None:
    assert raw.read(4, 4999, 1, unit=2) == 0x0B


def test_broadcast_write_is_applied_without_reply(mock_sungrow: MockSungrowServer,
                                                  raw: RawModbus) -> None:
    raw.send(raw.frame(0, struct.pack(">BHH", 6, 5007, 333)))
    # The next reply on the connection must be the answer to this read, not to the write.
    assert raw.read(3, 5007, 1) == [333]


def test_key_request_gets_the_plain_port_answer(raw: RawModbus) -> None:
    raw.send(bytes.fromhex("68 68 00 00 00 06 f7 04 0a e7 00 08"))
    reply = raw.recv_exact(25)
    assert reply == bytes.fromhex("68 68 00 00 00 13 f7 04 10") + bytes(16)


# ---------------------------------------------------------------------- framing


def test_pipelined_requests_are_answered_in_order(raw: RawModbus) -> None:
    frames = [raw.frame(1, struct.pack(">BHH", 4, 4999, 1)),
              raw.frame(1, struct.pack(">BHH", 3, 4999, 1)),
              raw.frame(1, struct.pack(">BHH", 4, 100, 1)),
              raw.frame(1, struct.pack(">BHH", 4, 5000, 1))]
    raw.send(b"".join(frames))
    replies = [raw.recv_frame() for _ in frames]
    assert [tid for tid, _, _ in replies] == [1, 2, 3, 4]
    assert replies[0][2] == b"\x04\x02\x01\x26"
    assert replies[1][2][:2] == b"\x03\x02"
    assert replies[2][2] == b"\x84\x02"
    assert replies[3][2] == b"\x04\x02\x00\x32"


def test_split_frames_are_reassembled(raw: RawModbus) -> None:
    frame = raw.frame(1, struct.pack(">BHH", 4, 4999, 1)) + raw.frame(
        1, struct.pack(">BHH", 4, 5000, 1)
    )
    for byte in frame:
        raw.send(bytes([byte]))
    assert raw.recv_frame() == (1, 1, b"\x04\x02\x01\x26")
    assert raw.recv_frame() == (2, 1, b"\x04\x02\x00\x32")


@pytest.mark.mock_sungrow_expect_errors
@pytest.mark.parametrize(
    "garbage",
    [bytes.fromhex("00 01 00 01 00 06 01 04 13 87 00 01"),  # protocol id 1
     bytes.fromhex("00 01 00 00 00 01 01"),  # length 1
     bytes.fromhex("00 01 00 00 01 00 01") + bytes(300),  # length 256
     b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"],
)
def test_malformed_mbap_closes_only_that_connection(
    mock_sungrow: MockSungrowServer, raw: RawModbus, garbage: bytes
) -> None:
    with RawModbus("127.0.0.1", _port(mock_sungrow)) as other:
        raw.send(garbage)
        assert raw.sock.recv(100) == b""  # closed by the server
        assert other.read(4, 4999, 1) == [0x0126]
    assert [p.kind for p in mock_sungrow.problems] == ["bad-frame"]


def test_partial_frame_then_close_is_harmless(mock_sungrow: MockSungrowServer) -> None:
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", _port(mock_sungrow)))
        s.sendall(bytes.fromhex("00 01 00 00 00 06 01"))
        s.close()
    with RawModbus("127.0.0.1", _port(mock_sungrow)) as r:
        assert r.read(4, 4999, 1) == [0x0126]
    assert mock_sungrow.problems == []


def test_client_that_never_reads_is_throttled_not_buffered(mock_sungrow: MockSungrowServer) -> None:
    hog = socket.create_connection(("127.0.0.1", _port(mock_sungrow)))
    request = struct.pack(">HHHBBHH", 1, 0, 6, 1, 4, 5099, 125)
    try:
        view = flood_until_unread(mock_sungrow, "modbus", hog, request * 64)
        assert not view["closing"], view  # stopped for back-pressure, not closed
        assert view["write_buffer"] >= 64 * 1024, view
        with RawModbus("127.0.0.1", _port(mock_sungrow)) as other:
            assert other.read(4, 4999, 1) == [0x0126]
        # What was read before writing paused waits in the buffer: at most one read (asyncio
        # reads 256 KiB at a time). tests/test_backpressure.py checks the write side.
        assert view["unanswered"] <= 256 * 1024 + 512, view
    finally:
        hog.close()
