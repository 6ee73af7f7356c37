"""How the RTU front end finds frames in a byte stream (docs/rtu.md).

Modbus over a serial line has no length field: a request's length follows from its function
code (FC 3, 4 and 6: 8 bytes; FC 16: 9 plus the byte count in its seventh byte), and a frame
of any other function code ends at the line's silence. ``request_size`` and ``whole_frames``
say so for a buffer; the line tests (a real pty at 115 200 baud) show what a client sees at the
edges: a frame of exactly the 256-byte maximum, a truncated frame whose bytes happen to end in
a valid CRC, and the problems that name a bad frame. Every frame is built here, with the
suite's own CRC (tests/helpers.py).
"""

from __future__ import annotations

import socket
import struct
import time
from typing import Any

import pytest

from mock_sungrow import MockSungrowServer
from mock_sungrow.frontends.modbus.rtu import request_size, whole_frames
from tests.helpers import rtu_frame, wait_until
from tests.test_rtu import Line, device_of, read_pdu

READ = rtu_frame(1, read_pdu(4, 4999, 1))                       # 8 bytes
WRITE_1 = rtu_frame(1, struct.pack(">BHH", 6, 5007, 900))       # 8 bytes
WRITE_2 = rtu_frame(1, struct.pack(">BHHB2H", 16, 5006, 2, 4, 0xAA, 1000))  # 9 + 4 bytes


def test_request_size_from_the_function_code() -> None:
    assert request_size(READ) == request_size(rtu_frame(1, read_pdu(3, 0, 1))) == 8
    assert request_size(WRITE_1) == 8
    assert request_size(WRITE_2) == len(WRITE_2) == 13
    assert request_size(READ[:2]) == 8          # unit and function code tell the length
    assert request_size(READ[:1]) is None       # the function code has not arrived
    assert request_size(b"") is None
    assert request_size(WRITE_2[:7]) == 13      # FC 16 once its byte count has arrived
    assert request_size(WRITE_2[:6]) is None    # ... and not before
    assert request_size(rtu_frame(1, bytes([0x2B, 0x0E, 1, 0]))) is None  # ends at silence


def test_request_size_at_an_offset() -> None:
    buf = READ + WRITE_2
    assert request_size(buf, 8) == 13
    assert request_size(buf, len(buf) - 1) is None   # one byte left: no function code
    assert request_size(READ + WRITE_2[:6], 8) is None
    assert request_size(READ + WRITE_2[:7], 8) == 13


def test_whole_frames_counts_the_whole_requests_at_the_start() -> None:
    assert whole_frames(READ) == 8
    assert whole_frames(WRITE_1 + WRITE_2) == 21
    assert whole_frames(READ + WRITE_2 + READ) == 29
    assert whole_frames(READ + READ[:3]) == 8        # a frame still arriving is not counted
    assert whole_frames(READ + WRITE_2[:6]) == 8
    assert whole_frames(READ[:7]) == 0
    assert whole_frames(b"") == 0


@pytest.fixture
def rtu_line(mock_sungrow_factory: Any) -> MockSungrowServer:
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus+rtu",
                                                     rtu_baudrate=115200)
    return server


def test_a_frame_of_the_maximum_length_is_answered(rtu_line: MockSungrowServer) -> None:
    """256 bytes of an unknown function code end at the silence and get exception 1; the
    limit is 256 bytes, not 255."""
    longest = rtu_frame(1, bytes([0x41]) + bytes(range(252)))
    assert len(longest) == 256
    with Line(device_of(rtu_line)) as line:
        line.send(longest)
        assert line.recv(5) == rtu_frame(1, bytes([0xC1, 0x01]))
    assert rtu_line.problems == []


def test_a_truncated_request_is_not_answered_even_when_its_crc_fits(
        rtu_line: MockSungrowServer) -> None:
    """Unit 1, FC 3 and one byte, then two bytes that happen to be that prefix's CRC: an
    FC 3 request is 8 bytes, so the silence after 5 leaves a truncated frame, not a request."""
    cut = rtu_frame(1, bytes([3, 0]))
    assert len(cut) == 5
    with Line(device_of(rtu_line)) as line:
        line.send(cut)
        wait_until(lambda: rtu_line.problems, what="the truncated frame's problem")
        assert line.recv(1, timeout=0.2) == b""
        line.send(READ)
        assert line.recv(7) == rtu_frame(1, struct.pack(">BBH", 4, 2, 0x0126))
    assert [p.message for p in rtu_line.problems] == [
        f"truncated frame {cut.hex(' ')} ended by silence"]
    rtu_line.diagnostics.clear()


def test_bad_frames_are_named_in_the_problems(rtu_line: MockSungrowServer) -> None:
    """A CRC error shows the whole frame; a truncated one its first 16 bytes."""
    damaged = READ[:-1] + bytes([READ[-1] ^ 0xFF])
    long_write = rtu_frame(1, struct.pack(">BHHB", 16, 5006, 20, 40) + bytes(40))
    with Line(device_of(rtu_line)) as line:
        line.send(damaged)
        assert line.recv(1, timeout=0.3) == b""   # no answer; the line falls silent
        line.send(READ)                            # a request answered: the silence passed
        assert line.recv(7) == rtu_frame(1, struct.pack(">BBH", 4, 2, 0x0126))
        line.send(long_write[:20])
        wait_until(lambda: len(rtu_line.problems) == 2, what="the truncated write")
    assert [p.message for p in rtu_line.problems] == [
        f"CRC error in {damaged.hex(' ')}",
        f"truncated frame {long_write[:16].hex(' ')} ended by silence"]
    assert {(p.front_end, p.peer, p.kind) for p in rtu_line.problems} == {
        ("rtu", device_of(rtu_line), "bad-frame")}
    rtu_line.diagnostics.clear()


def test_the_shortest_frame_is_four_bytes(rtu_line: MockSungrowServer) -> None:
    """Unit, function code and CRC (FC 0x11, report server ID, carries no data): a whole
    frame of a function this device lacks, so exception 1."""
    shortest = rtu_frame(1, bytes([0x11]))
    assert len(shortest) == 4
    with Line(device_of(rtu_line)) as line:
        line.send(shortest)
        assert line.recv(5) == rtu_frame(1, bytes([0x91, 0x01]))
    assert rtu_line.problems == []


def test_the_inverter_answers_no_sooner_than_its_turnaround(mock_sungrow_factory: Any) -> None:
    """``rtu_turnaround``: the inverter's own delay before it answers (a lower bound only:
    how much later the answer comes is the machine's)."""
    server = mock_sungrow_factory(server_type="modbus+rtu", rtu_baudrate=115200,
                                  rtu_turnaround=0.4)
    with Line(device_of(server)) as line:
        started = time.monotonic()
        line.send(READ)
        assert line.recv(7) == rtu_frame(1, struct.pack(">BBH", 4, 2, 0x0126))
        assert time.monotonic() - started >= 0.4


def test_a_frame_in_two_pieces_within_the_silence_is_one_frame(
        mock_sungrow_factory: Any) -> None:
    """At 300 baud four bytes take 133 ms on the line and the silence that ends a frame is
    3.5 characters (117 ms) after the last one: the second half, written 40 ms after the
    first, continues the frame (the pause is the stimulus here, not a synchronisation; the
    line's clock, not the pause, says when the frame ends)."""
    server = mock_sungrow_factory(server_type="modbus+rtu", rtu_baudrate=300)
    with Line(device_of(server)) as line:
        line.send(READ[:4])
        time.sleep(0.04)
        line.send(READ[4:])
        assert line.recv(7) == rtu_frame(1, struct.pack(">BBH", 4, 2, 0x0126))
    assert server.problems == []


def test_the_tcp_gateway_records_its_bad_frames(mock_sungrow_factory: Any) -> None:
    """The RTU-over-TCP gateway names its own bad frames (front end ``rtu-tcp``, the
    client's address)."""
    server = mock_sungrow_factory(server_type="modbus+rtu-tcp")
    damaged = READ[:-1] + bytes([READ[-1] ^ 0xFF])
    info = server.get_connection_info("rtu-tcp")
    with socket.create_connection((info["host"], info["port"]), timeout=5) as sock:
        sock.sendall(damaged)
        wait_until(lambda: server.problems, what="the CRC error")
        host, port = sock.getsockname()[:2]
    assert [(p.front_end, p.peer, p.kind, p.message) for p in server.problems] == [
        ("rtu-tcp", f"{host}:{port}", "bad-frame", f"CRC error in {damaged.hex(' ')}")]
    server.diagnostics.clear()
