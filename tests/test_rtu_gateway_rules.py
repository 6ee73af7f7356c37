"""The RTU-over-TCP gateway (``rtu-tcp``) as a client on its TCP side sees it.

An RS485-to-Ethernet gateway forwards RTU frames, CRC and all, and its serial side sets the
pace (docs/rtu.md): replies leave at the line's rate, a damaged frame makes the device deaf
until the line falls silent, the device answers no sooner than its turnaround, and while the
replies waiting for the line fill it (4 KiB) the gateway reads no more. Expected frames are
written out by hand (Modbus RTU: unit, PDU, CRC-16 low byte first) with the SG5K-D's words
from ../shared/spec/models.csv (device type code 0x0126, 5.0 kW nominal at input 5001).
"""

from __future__ import annotations

import socket
import struct
import time
from typing import Any

import pytest

from mock_sungrow import MockSungrowServer
from tests.helpers import crc16, modbus_view, recv_upto, rtu_frame, wait_until

SG5K_D = 0x0126
crc = crc16
frame = rtu_frame
_recv = recv_upto


def read_pdu(fc: int, address: int, count: int) -> bytes:
    return struct.pack(">BHH", fc, address, count)


def _gateway(server: MockSungrowServer) -> socket.socket:
    info = server.get_connection_info("rtu-tcp")
    return socket.create_connection((info["host"], info["port"]), timeout=5)


def test_a_broadcast_leaves_the_gateway_connection_serving(mock_sungrow_factory: Any) -> None:
    """A broadcast write (unit 0) gets no reply on the bus; the next request is answered."""
    server = mock_sungrow_factory(server_type="rtu-tcp", rtu_tcp_port=0, rtu_baudrate=115200)
    with _gateway(server) as sock:
        sock.sendall(frame(0, struct.pack(">BHH", 6, 5007, 700)))  # 70.0 %
        sock.sendall(frame(1, read_pdu(3, 5007, 1)))
        assert _recv(sock, 7) == frame(1, struct.pack(">BBH", 3, 2, 700))
    assert [r.outcome for r in server.requests.all()] == ["no reply", "ok"]


def test_the_gateway_reads_again_once_its_line_has_drained(mock_sungrow_factory: Any) -> None:
    """The RTU-over-TCP gateway stops reading while 4 KiB of replies wait for its line (20
    replies of 205 bytes); once they have left it reads again: the 3 requests written after
    the first reply are answered too, in turn."""
    server = mock_sungrow_factory(model="SG5K-D", server_type="rtu-tcp", rtu_tcp_port=0,
                                  rtu_baudrate=38400)
    request = frame(1, read_pdu(4, 5000, 100))
    with _gateway(server) as sock:
        sock.sendall(request * 24)
        first = _recv(sock, 205)
        assert first[:3] == bytes([1, 4, 200]) and first[-2:] == crc(first[:-2])
        sock.sendall(request * 3)
        for n in range(26):
            reply = _recv(sock, 205)
            assert reply[:3] == bytes([1, 4, 200]) and reply[-2:] == crc(reply[:-2]), n
    assert [r.outcome for r in server.requests.all()] == ["ok"] * 27


def test_the_gateway_does_not_read_while_its_line_is_full(mock_sungrow_factory: Any) -> None:
    """Back-pressure on the gateway: 50 requests arrive at once; while what it has read
    still fills its line (4 KiB of 205-byte replies at 19200 8N1, 107 ms each), it reads no
    more, also after a reply has left and the next request has taken its place. (Looked at
    on the server's loop once the first reply is in: 29 requests still wait then, 3 s of
    line time.)"""
    server = mock_sungrow_factory(model="SG5K-D", server_type="rtu-tcp", rtu_tcp_port=0,
                                  rtu_baudrate=19200)
    request = frame(1, read_pdu(4, 5000, 100))
    with _gateway(server) as sock:
        sock.sendall(request * 50)
        first = _recv(sock, 205)
        assert first[:3] == bytes([1, 4, 200])
        host, port = sock.getsockname()[:2]
        view = modbus_view(server, "rtu-tcp", f"{host}:{port}")
        assert view is not None and view["unanswered"] > 0
        assert view["reading"] is False
        for n in range(49):
            reply = _recv(sock, 205)
            assert reply[:3] == bytes([1, 4, 200]) and reply[-2:] == crc(reply[:-2]), n
    assert [r.outcome for r in server.requests.all()] == ["ok"] * 50


def test_a_bad_frame_makes_the_device_deaf_until_the_line_is_silent_across_reads(
        mock_sungrow_factory: Any) -> None:
    """The damaged request and the good one behind it arrive in two reads, the good one within
    the damaged one's line time at 300 baud (a 29-byte write of ten registers takes 1.06 s,
    the silence after it 128 ms): the good one is not trusted either. The first request after
    a silence is answered. (The two-second wait for nothing is the silence, a stimulus.)"""
    server = mock_sungrow_factory(server_type="rtu-tcp", rtu_tcp_port=0, rtu_baudrate=300)
    write = frame(1, struct.pack(">BHHB10H", 16, 5007, 10, 20, *range(10)))
    damaged = write[:-1] + bytes([write[-1] ^ 0xFF])
    with _gateway(server) as sock:
        sock.sendall(damaged)
        wait_until(lambda: server.problems, what="the CRC error")
        sock.sendall(frame(1, read_pdu(4, 4999, 1)))  # still inside the damaged frame's time
        sock.settimeout(2.0)
        with pytest.raises(TimeoutError):
            sock.recv(1)
        sock.settimeout(5)
        sock.sendall(frame(1, read_pdu(4, 5000, 1)))
        assert _recv(sock, 7) == frame(1, struct.pack(">BBH", 4, 2, 50))  # 5001: 5.0 kW
    assert [r.address for r in server.requests.all()] == [5001]
    server.diagnostics.clear()


def test_an_answer_queued_behind_a_late_one_keeps_its_own_turnaround(
        mock_sungrow_factory: Any) -> None:
    """``rtu_turnaround`` 1 s: the first request waits out a 0.6 s latency fault, the second
    (sent 0.1 s later, a stimulus) queues behind it. Each answer leaves no sooner than its
    own request plus the turnaround: the second's 1 s after it was sent, not right behind
    the first's (a lower bound only)."""
    server = mock_sungrow_factory(server_type="rtu-tcp", rtu_tcp_port=0, rtu_baudrate=115200,
                                  rtu_turnaround=1.0)
    server.inject("latency", delay=0.6, table="input", address=5000)
    with _gateway(server) as sock:
        sock.sendall(frame(1, read_pdu(4, 4999, 1)))
        time.sleep(0.1)
        sent = time.monotonic()
        sock.sendall(frame(1, read_pdu(4, 5000, 1)))
        assert _recv(sock, 7) == frame(1, struct.pack(">BBH", 4, 2, SG5K_D))
        assert _recv(sock, 7) == frame(1, struct.pack(">BBH", 4, 2, 50))
        assert time.monotonic() - sent >= 1.0
