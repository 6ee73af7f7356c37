"""Modbus RTU: the inverter's RS485 port on a pseudo-terminal, and RTU over TCP.

Expectations come from the Modbus over serial line specification (unit + PDU + CRC-16 low byte
first; no answer to a bad CRC or a broadcast; frames for other units belong to other slaves),
Sungrow's documented 9600 8N1 line, the register map's documents (SG5K-D device type 0x0126,
SH10RT 0x0E03: models.csv) and SunGather's level-1 blocks (as tests/test_modbus_tcp.py reads
them over TCP). The CRC here is computed by this file's own table-free loop, not the product's.
Real clients: pymodbus's serial client (RTU framer) on the pty, pymodbus's TCP client with the
RTU framer on ``rtu-tcp``, Debian's mbpoll on the pty.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import socket
import struct
import subprocess
import sys
import termios
import time
import tty
from collections.abc import Iterator
from typing import Any

import pytest
from pymodbus import FramerType
from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.exceptions import ModbusIOException

from mock_sungrow import ManualClock, MockSungrowServer
from tests.helpers import crc16, recv_upto, rtu_frame, wait_until
from tests.test_modbus_tcp import LEVEL1_BLOCKS

SG5K_D, SH10RT = 0x0126, 0x0E03
#: A Home Assistant ``modbus:`` set-up reads single sensors: device type (input 5000), daily
#: yield (5003), internal temperature (5008), total DC power (5017-5018, U32), running state
#: and battery state of charge on hybrids (13000, 13022).
HA_READS = {"SG5K-D": [(4, 4999, 1), (4, 5002, 1), (4, 5007, 1), (4, 5016, 2)],
            "SH10RT": [(4, 4999, 1), (4, 5002, 1), (4, 5007, 1), (4, 5016, 2), (4, 12999, 1),
                       (4, 13021, 1)]}


crc = crc16
frame = rtu_frame


def read_pdu(fc: int, address: int, count: int) -> bytes:
    return struct.pack(">BHH", fc, address, count)


class Line:
    """The client's end of the pty, raw, with reads that wait for a byte count or a deadline."""

    def __init__(self, device: str, parity: str = "N") -> None:
        self.fd = os.open(device, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)  # 8 data bits, no parity; the speed stays the line's
        if parity == "E":  # where the kernel's ptys take parity (some refuse it: EINVAL)
            attrs = termios.tcgetattr(self.fd)
            attrs[2] |= termios.PARENB
            with contextlib.suppress(termios.error):
                termios.tcsetattr(self.fd, termios.TCSANOW, attrs)

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def recv(self, size: int, timeout: float = 5.0) -> bytes:
        out = b""
        deadline = time.monotonic() + timeout
        while len(out) < size:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                break
            out += os.read(self.fd, size - len(out))
        return out

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> Line:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def rtu_server(mock_sungrow_factory: Any) -> MockSungrowServer:
    server: MockSungrowServer = mock_sungrow_factory(
        server_type="modbus+rtu+rtu-tcp", modbus_port=0, rtu_tcp_port=0, rtu_baudrate=115200)
    return server


def device_of(server: MockSungrowServer) -> str:
    device: str = server.get_connection_info("rtu")["device"]
    return device


# ------------------------------------------------------------------------- real clients


def read_sets(client: ModbusSerialClient | ModbusTcpClient, model: str) -> None:
    """SunGather's level-1 blocks and the Home Assistant set: every count exactly."""
    for fc, address, count in LEVEL1_BLOCKS[model] + HA_READS[model]:
        read = client.read_input_registers if fc == 4 else client.read_holding_registers
        resp = read(address, count=count, device_id=1)
        assert not resp.isError(), (fc, address, count, resp)
        assert len(resp.registers) == count


@pytest.mark.parametrize("model", ["SG5K-D", "SH10RT"])
def test_pymodbus_serial_client_reads_sungather_and_home_assistant_sets(
        mock_sungrow_factory: Any, model: str) -> None:
    server = mock_sungrow_factory(model=model, server_type="rtu", rtu_baudrate=19200)
    info = server.get_connection_info("rtu")
    assert (info["baudrate"], info["bytesize"], info["parity"], info["stopbits"]) == \
        (19200, 8, "N", 1)
    client = ModbusSerialClient(info["device"], baudrate=19200, timeout=3, retries=0)
    assert client.connect()
    try:
        read_sets(client, model)
        type_code = client.read_input_registers(4999, count=1, device_id=1).registers
        assert type_code == [SG5K_D if model == "SG5K-D" else SH10RT]
        if model == "SG5K-D":  # a string inverter's power limit: holding 5008, 0.1 %
            assert not client.write_register(5007, 600, device_id=1).isError()
            assert client.read_holding_registers(5007, count=1, device_id=1).registers == [600]
    finally:
        client.close()
    assert {r.front_end for r in server.requests.all()} == {"rtu"}


@pytest.mark.parametrize("model", ["SG5K-D", "SH10RT"])
def test_pymodbus_rtu_framer_over_tcp_reads_the_same(mock_sungrow_factory: Any,
                                                     model: str) -> None:
    server = mock_sungrow_factory(model=model, server_type="modbus+rtu-tcp", modbus_port=0,
                                  rtu_tcp_port=0, rtu_baudrate=115200)
    info = server.get_connection_info("rtu-tcp")
    client = ModbusTcpClient(info["host"], port=info["port"], framer=FramerType.RTU, timeout=3,
                             retries=0)
    assert client.connect()
    try:
        read_sets(client, model)
    finally:
        client.close()


def test_the_sbr_battery_answers_unit_200_on_the_bus(mock_sungrow_factory: Any) -> None:
    """On RS485 the hybrid's SBR battery is unit 200, as on its LAN port; unit 7 is nobody."""
    server = mock_sungrow_factory(model="SH10RT", server_type="rtu", rtu_baudrate=115200)
    with Line(device_of(server)) as line:
        line.send(frame(200, read_pdu(4, 10739, 1)))  # battery input 10740 (sbr_registers)
        reply = line.recv(7)
        assert reply[:3] == bytes([200, 4, 2]) and reply[-2:] == crc(reply[:-2])
        line.send(frame(7, read_pdu(4, 4999, 1)))  # another slave's address: no answer
        assert line.recv(1, timeout=0.3) == b""
    assert [r.unit for r in server.requests.all()] == [200]


@pytest.mark.skipif(shutil.which("mbpoll") is None, reason="Debian's mbpoll is not installed")
def test_mbpoll_reads_the_pty(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="rtu")  # 9600 8N1, as Sungrow documents
    out = subprocess.run(
        ["mbpoll", "-m", "rtu", "-b", "9600", "-d", "8", "-s", "1", "-P", "none", "-a", "1",
         "-t", "3", "-r", "5000", "-c", "1", "-1", "-o", "2", device_of(server)],
        capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"[5000]: \t{SG5K_D}" in out.stdout.replace("[5000]:  ", "[5000]: \t"), out.stdout


# ------------------------------------------------------------------------- the line


@pytest.mark.mock_sungrow_expect_errors
def test_a_client_at_the_wrong_baud_rate_gets_nothing(mock_sungrow_factory: Any) -> None:
    """As on a real bus, 19200 8N1 against a 9600 8N1 line is garbage both ways: no answer,
    and a problem names both settings. The same client at 9600 is answered."""
    server = mock_sungrow_factory(server_type="rtu")
    device = device_of(server)
    wrong = ModbusSerialClient(device, baudrate=19200, timeout=0.5, retries=0)
    assert wrong.connect()
    try:
        with pytest.raises(ModbusIOException):
            wrong.read_input_registers(4999, count=1, device_id=1)
    finally:
        wrong.close()
    assert [p.kind for p in server.problems] == ["line-settings"]
    assert "19200 8N1" in server.problems[0].message
    assert "9600 8N1" in server.problems[0].message
    right = ModbusSerialClient(device, baudrate=9600, timeout=3, retries=0)
    assert right.connect()
    try:
        assert right.read_input_registers(4999, count=1, device_id=1).registers == [SG5K_D]
    finally:
        right.close()


def test_bad_crc_broadcast_and_garbage_get_no_answer(rtu_server: MockSungrowServer) -> None:
    good = frame(1, read_pdu(4, 4999, 1))
    with Line(device_of(rtu_server)) as line:
        line.send(good[:-1] + bytes([good[-1] ^ 0xFF]))  # damaged on the cable
        assert line.recv(1, timeout=0.3) == b""
        line.send(frame(0, struct.pack(">BHH", 6, 5007, 700)))  # broadcast: 70.0 %
        assert line.recv(1, timeout=0.3) == b""
        line.send(os.urandom(40))  # noise: after the next silence the line is clean again
        assert line.recv(1, timeout=0.3) == b""
        line.send(good)
        assert line.recv(7) == frame(1, struct.pack(">BBH", 4, 2, SG5K_D))
        line.send(frame(1, read_pdu(3, 5007, 1)))
        assert line.recv(7) == frame(1, struct.pack(">BBH", 3, 2, 700))  # broadcast applied
    kinds = [p.kind for p in rtu_server.problems]
    assert kinds and set(kinds) == {"bad-frame"}  # the CRC error and the garbage recorded
    rtu_server.diagnostics.clear()


def test_an_overlong_frame_is_dropped_and_the_next_answered(rtu_server: MockSungrowServer
                                                            ) -> None:
    with Line(device_of(rtu_server)) as line:
        line.send(bytes([1, 0x41]) + bytes(300))  # no length to go by, longer than 256
        assert line.recv(1, timeout=0.3) == b""
        line.send(frame(1, read_pdu(4, 4999, 1)))
        assert line.recv(7) == frame(1, struct.pack(">BBH", 4, 2, SG5K_D))
    assert any("longer than 256" in p.message for p in rtu_server.problems)
    rtu_server.diagnostics.clear()


def test_a_truncated_frame_ends_at_the_silence(rtu_server: MockSungrowServer) -> None:
    good = frame(1, read_pdu(4, 4999, 1))
    with Line(device_of(rtu_server)) as line:
        line.send(good[:5])  # the cable was pulled mid-frame
        wait_until(lambda: rtu_server.problems, what="the truncated frame's problem")
        line.send(good)
        assert line.recv(7) == frame(1, struct.pack(">BBH", 4, 2, SG5K_D))
    assert "truncated" in rtu_server.problems[0].message
    rtu_server.diagnostics.clear()


def test_a_gateways_minimum_gap(rtu_server: MockSungrowServer, tcp_line: socket.socket
                                ) -> None:
    """An EW11-type gateway that needs a pause between requests: one sent too soon makes it
    drop the TCP connection (``min-gap``, as the WiNet-S does)."""
    rtu_server.inject("min-gap", gap=3600, front_end="rtu-tcp")
    request = frame(1, read_pdu(4, 4999, 1))
    tcp_line.sendall(request)
    assert _recv(tcp_line, 7) == frame(1, struct.pack(">BBH", 4, 2, SG5K_D))
    tcp_line.sendall(request)  # too soon
    assert _recv(tcp_line, 7) == b""  # closed by the gateway


def test_an_unknown_function_gets_exception_1_once_the_line_is_silent(
        rtu_server: MockSungrowServer) -> None:
    with Line(device_of(rtu_server)) as line:
        line.send(frame(1, bytes([0x2B, 0x0E, 0x01, 0x00])))  # read device identification
        assert line.recv(5) == frame(1, bytes([0xAB, 0x01]))


@pytest.mark.mock_sungrow_expect_errors  # the flood's last write may be cut short
def test_a_reader_that_never_reads_is_bounded(rtu_server: MockSungrowServer) -> None:
    """Requests flood in while nobody reads the replies: the server stops taking them when
    the line and the pty are full; a reader later gets whole, in-order frames. (The pty may
    take only part of the last request: the server reports that frame as truncated.)"""
    request = frame(1, read_pdu(4, 5000, 100))  # 205-byte replies
    with Line(device_of(rtu_server)) as line:
        os.set_blocking(line.fd, False)
        sent = 0
        try:
            for _ in range(50_000):
                line.send(request)
                sent += 1
        except BlockingIOError:
            pass  # the pty's input is full: the server stopped reading
        assert sent < 50_000
        wait_until(lambda: len(rtu_server.requests) > 0, what="the first requests")
        answered = len(rtu_server.requests)
        assert answered < sent  # not all taken: back-pressure held the rest in the pty
        # The other transports are not held up by the flooded line.
        tcp = ModbusTcpClient("127.0.0.1", port=rtu_server.get_connection_info()["port"],
                              timeout=5, retries=0)
        assert tcp.connect()
        try:
            assert tcp.read_input_registers(4999, count=1).registers == [SG5K_D]
        finally:
            tcp.close()
        os.set_blocking(line.fd, True)
        first = line.recv(205)
        assert first[:3] == bytes([1, 4, 200]) and first[-2:] == crc(first[:-2])
    assert all("truncated" in p.message for p in rtu_server.problems)


def _timed_long_read(server: MockSungrowServer) -> float:
    """Seconds from a 125-register request to its whole, well-formed 255-byte reply."""
    with Line(device_of(server)) as line:
        start = time.monotonic()
        line.send(frame(1, read_pdu(4, 12999, 125)))
        reply = line.recv(255)
        took = time.monotonic() - start
    assert len(reply) == 255 and reply[-2:] == crc(reply[:-2])
    return took


def test_replies_leave_at_the_line_rate(mock_sungrow_factory: Any) -> None:
    """A 125-register read at 9600 8N1: request 8 bytes, 3.5 characters of silence, reply 255
    bytes, 10 bits each: 278 ms at least (a cable cannot be faster)."""
    server = mock_sungrow_factory(model="SH10RT", server_type="rtu")
    assert _timed_long_read(server) >= (8 + 3.5 + 255) * 10 / 9600 * 0.99


def test_a_request_heard_while_a_reply_is_on_the_line_is_answered_after_it(
        mock_sungrow_factory: Any) -> None:
    """One line, one talker: a second request that arrives while the first reply is still
    leaving (255 bytes at 9600 8N1 take 266 ms) is answered once that reply has left whole,
    never with its bytes interleaved."""
    server = mock_sungrow_factory(model="SH10RT", server_type="rtu")
    with Line(device_of(server)) as line:
        line.send(frame(1, read_pdu(4, 12999, 125)))
        first = line.recv(1)  # the first reply has started to leave
        line.send(frame(1, read_pdu(4, 4999, 1)))
        rest = line.recv(254 + 7)
    first += rest[:254]
    second = rest[254:]
    assert first[:3] == bytes([1, 4, 250]) and first[-2:] == crc(first[:-2])
    assert second == frame(1, struct.pack(">BBH", 4, 2, SH10RT))


def test_turnaround_and_settings_in_the_ready_line(tmp_path: Any) -> None:
    link = tmp_path / "ttySungrow"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_sungrow", "serve", "--server-type", "modbus+rtu+rtu-tcp",
         "--modbus-port", "0", "--rtu-tcp-port", "0", "--no-control", "--rtu-baudrate",
         "19200", "--rtu-parity", "E", "--rtu-link", str(link)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        import json

        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        assert ready["rtu"] == {"device": ready["rtu"]["device"], "baudrate": 19200,
                                "bytesize": 8, "parity": "E", "stopbits": 1,
                                "connection_type": "rtu", "link": str(link)}
        assert os.path.realpath(link) == ready["rtu"]["device"]
        assert set(ready["rtu-tcp"]) >= {"host", "port"}
        assert ready["devices"][0]["endpoints"]["rtu"] == {"device": ready["rtu"]["device"]}
        with Line(str(link), parity="E") as line:
            line.send(frame(1, read_pdu(4, 4999, 1)))
            assert line.recv(7) == frame(1, struct.pack(">BBH", 4, 2, SG5K_D))
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert not link.exists()  # the symlink goes with the server


# ------------------------------------------------------------------------- faults


@pytest.fixture
def tcp_line(rtu_server: MockSungrowServer) -> Iterator[socket.socket]:
    info = rtu_server.get_connection_info("rtu-tcp")
    with socket.create_connection((info["host"], info["port"]), timeout=5) as sock:
        yield sock


_recv = recv_upto


def test_bad_crc_noise_and_collision_as_the_client_sees_them(
        rtu_server: MockSungrowServer, tcp_line: socket.socket) -> None:
    clean = frame(1, struct.pack(">BBH", 4, 2, SG5K_D))
    request = frame(1, read_pdu(4, 4999, 1))
    with rtu_server.inject("bad-crc", times=1):
        tcp_line.sendall(request)
        damaged = _recv(tcp_line, 7)
        assert damaged[:5] == clean[:5] and damaged[5:] != clean[5:]
    with rtu_server.inject("noise", bytes=3, times=1):
        tcp_line.sendall(request)
        noisy = _recv(tcp_line, 10)
        assert noisy[3:] == clean  # three stray bytes, then the reply
    with rtu_server.inject("collision", times=1):
        tcp_line.sendall(request)
        garbled = _recv(tcp_line, 7)
        assert garbled[:2] == clean[:2] and garbled[2:5] != clean[2:5]
        assert crc(garbled[:-2]) != garbled[-2:]
    tcp_line.sendall(request)
    assert _recv(tcp_line, 7) == clean
    assert [r.fault for r in rtu_server.requests.all()] == ["bad-crc", "noise", "collision", None]


def test_a_late_reply_is_taken_for_the_next_request(rtu_server: MockSungrowServer) -> None:
    """RTU has no transaction id: a reply after the client's timeout arrives while it waits
    for its next request's, and looks like it."""
    rtu_server.inject("latency", delay=0.5, times=1)
    with Line(device_of(rtu_server)) as line:
        line.send(frame(1, read_pdu(4, 4999, 1)))  # the device type, answered late
        assert line.recv(7, timeout=0.1) == b""  # the client gives up
        line.send(frame(1, read_pdu(4, 5002, 1)))  # daily yield next
        assert line.recv(7) == frame(1, struct.pack(">BBH", 4, 2, SG5K_D))  # the late one


def test_exception_and_word_faults_reach_the_bus(rtu_server: MockSungrowServer) -> None:
    rtu_server.inject("exception", code=4, times=1, front_end="rtu")
    rtu_server.inject("zeros", table="input", address=5000)
    with Line(device_of(rtu_server)) as line:
        line.send(frame(1, read_pdu(4, 4999, 1)))
        assert line.recv(5) == frame(1, bytes([0x84, 4]))
        line.send(frame(1, read_pdu(4, 4999, 1)))
        assert line.recv(7) == frame(1, struct.pack(">BBH", 4, 2, 0))



def test_a_dropped_request_leaves_the_bus_serving(rtu_server: MockSungrowServer) -> None:
    """On a bus a drop is the device falling silent (what was on its way out is gone); it
    answers the next request as before, and its line has no stale backlog."""
    rtu_server.inject("drop", times=1, front_end="rtu")
    with Line(device_of(rtu_server)) as line:
        line.send(frame(1, read_pdu(4, 4999, 1)))
        assert line.recv(7, timeout=0.3) == b""  # silence
        for _ in range(2):
            line.send(frame(1, read_pdu(4, 4999, 1)))
            assert line.recv(7) == frame(1, struct.pack(">BBH", 4, 2, SG5K_D))
    assert [r.outcome for r in rtu_server.requests.all()] == ["dropped", "ok", "ok"]


def test_mbap_length_faults_leave_rtu_frames_whole(mock_sungrow_factory: Any) -> None:
    """``bad-exception-frame`` and ``padded-frame`` lie in the MBAP length, which an RTU
    frame has not: reads whose fifth data byte (where an MBAP reply has its function code)
    looks like an exception's or a read's, and an exception, pass unchanged."""
    rtu_server: MockSungrowServer = mock_sungrow_factory(  # 10:00 in Sydney: it runs
        server_type="rtu-tcp", rtu_tcp_port=0, rtu_baudrate=115200, clock=ManualClock())
    info = rtu_server.get_connection_info("rtu-tcp")
    with socket.create_connection((info["host"], info["port"]), timeout=5) as tcp_line:
        rtu_server.inject("bad-exception-frame")
        rtu_server.inject("padded-frame", extra=1)
        words = rtu_server.read_registers("input", 5028, 3)
        assert words[2] == 0xFFFF
        tcp_line.sendall(frame(1, read_pdu(4, 5027, 3)))
        assert _recv(tcp_line, 11) == frame(1, struct.pack(">BB3H", 4, 6, *words))
        # Input 5035 (power factor 1.000 = 0x03E8): a fifth data byte of 3, a read's FC in MBAP.
        words = rtu_server.read_registers("input", 5033, 3)
        assert words[2] >> 8 == 3
        tcp_line.sendall(frame(1, read_pdu(4, 5032, 3)))
        assert _recv(tcp_line, 11) == frame(1, struct.pack(">BB3H", 4, 6, *words))
        tcp_line.sendall(frame(1, read_pdu(4, 99, 1)))
        assert _recv(tcp_line, 5) == frame(1, bytes([0x84, 2]))


@pytest.mark.mock_sungrow_expect_errors
def test_the_rtu_gateway_listens_where_told_and_is_its_own_port(mock_sungrow_factory: Any
                                                                ) -> None:
    """The RS485-to-Ethernet gateway binds the host it is given (here 127.0.0.2 only), names
    itself when its port is taken, has no Sungrow key to hand out (unit 247's key request is
    a frame for a unit nobody on the bus is), and records a handler error as its own."""
    from mock_sungrow import SungrowModbusDataBlock

    class Broken(SungrowModbusDataBlock):
        def getValues(self, address: int, count: int = 1) -> list[int]:
            if address == 5001:
                raise RuntimeError("broken override")
            return super().getValues(address, count)

    server: MockSungrowServer = mock_sungrow_factory(
        server_type="rtu-tcp", host="127.0.0.2", rtu_tcp_port=0, rtu_baudrate=115200,
        datablock_class=Broken)
    info = server.get_connection_info("rtu-tcp")
    assert info["host"] == "127.0.0.2"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", info["port"]), timeout=2).close()
    with socket.create_connection(("127.0.0.2", info["port"]), timeout=5) as sock:
        sock.sendall(frame(247, read_pdu(4, 0x0AE7, 8)))  # the key request, on a bus
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(1)
        sock.settimeout(5)
        sock.sendall(frame(1, read_pdu(4, 5000, 1)))  # input 5001: the broken override
        assert _recv(sock, 5) == frame(1, bytes([0x84, 4]))
    assert [(p.front_end, p.kind) for p in server.problems] == [("rtu-tcp", "handler-error")]
    taken = MockSungrowServer(server_type="rtu-tcp", host="127.0.0.2",
                              rtu_tcp_port=info["port"])
    with pytest.raises(OSError, match="Modbus RTU over TCP front end cannot bind"):
        taken.start()


def test_back_to_back_requests_of_every_length_are_split_and_answered_in_order(
    rtu_server: MockSungrowServer, tcp_line: socket.socket,
) -> None:
    """A gateway's TCP side may deliver several RTU requests in one read, with no silence
    between them: each is found by its function code's length (FC3/4/6: 8 bytes; FC16: 9
    plus the byte count in its seventh byte)."""
    write_16 = bytes((0x10,)) + struct.pack(">HHB2H", 5006, 2, 4, 0xAA, 1000)
    requests = [read_pdu(4, 4999, 1), struct.pack(">BHH", 6, 5007, 900), write_16,
                read_pdu(3, 5006, 2)]
    tcp_line.sendall(b"".join(frame(1, pdu) for pdu in requests))
    answers = [frame(1, struct.pack(">BBH", 4, 2, SG5K_D)), frame(1, requests[1]),
               frame(1, write_16[:5]), frame(1, struct.pack(">BB2H", 3, 4, 0xAA, 1000))]
    assert _recv(tcp_line, sum(map(len, answers))) == b"".join(answers)

def test_connection_faults_do_not_name_the_serial_line(rtu_server: MockSungrowServer) -> None:
    from mock_sungrow.faults.params import FaultSpecError

    with pytest.raises(FaultSpecError, match="rtu"):
        rtu_server.inject("refuse", front_end="rtu")
    with pytest.raises(FaultSpecError, match="modbus"):
        rtu_server.inject("bad-crc", front_end="modbus")


def test_bad_line_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="rtu_parity"):
        MockSungrowServer(server_type="rtu", rtu_parity="X")
    with pytest.raises(ValueError, match="rtu_baudrate"):
        MockSungrowServer(server_type="rtu", rtu_baudrate=0)
    with pytest.raises(ValueError, match=r"ports\.rtu must be 0"):
        MockSungrowServer(installation={"inverter": [{"model": "SG5K-D",
                                                      "ports": {"rtu": 5}}]})


def test_an_installation_gives_each_inverter_its_own_bus(tmp_path: Any) -> None:
    """A master with a battery and a slave, each with its RS485 port (a pty of its own) and a
    gateway; the master's bus has units 1 and 200, the slave's unit 2."""
    site = tmp_path / "site.toml"
    site.write_text(
        '[[inverter]]\nmodel = "SH10RT"\nrole = "master"\nbattery_kwh = 9.6\n'
        '[inverter.ports]\nrtu = 0\n"rtu-tcp" = 0\n[inverter.rtu]\nbaudrate = 115200\n'
        '[[inverter]]\nmodel = "SH10RT"\nrole = "slave"\nbattery_kwh = 0\n'
        '[inverter.ports]\nrtu = 0\n[inverter.rtu]\nbaudrate = 115200\nparity = "E"\n')
    with MockSungrowServer(installation=site) as server:
        master = server.get_connection_info("rtu", device="inverter[1]")
        slave = server.get_connection_info("rtu", device="inverter[2]")
        assert master["device"] != slave["device"] and slave["parity"] == "E"
        expected = frame(1, struct.pack(">BBH", 4, 2, SH10RT))
        with Line(master["device"]) as m, Line(slave["device"], parity="E") as s:
            m.send(frame(1, read_pdu(4, 4999, 1)))
            assert m.recv(7) == expected
            m.send(frame(200, read_pdu(4, 10739, 1)))
            assert m.recv(7)[:3] == bytes([200, 4, 2])
            s.send(frame(1, read_pdu(4, 4999, 1)))  # not on the slave's bus
            assert s.recv(1, timeout=0.3) == b""
            s.send(frame(2, read_pdu(4, 4999, 1)))
            assert s.recv(7) == frame(2, struct.pack(">BBH", 4, 2, SH10RT))
        devices = {d["id"]: d["endpoints"] for d in server.describe_devices()}
        assert devices["inverter[1]"]["rtu"] == {"device": master["device"]}
        assert set(devices["inverter[1]"]["rtu-tcp"]) == {"host", "port"}
        assert "rtu-tcp" not in devices["inverter[2]"]


def test_requests_wait_while_the_line_is_behind_and_are_taken_as_it_drains(
        mock_sungrow_factory: Any) -> None:
    """A device talks at its baud rate, whatever arrives: at 19200 8N1 a 100-register reply
    (205 bytes) takes 107 ms on the line. Of 40 requests written at once it takes only what
    4 KiB of waiting replies hold (about twenty) and stops reading; as its replies leave it
    takes the rest, and reads again: five more written meanwhile are answered too, all in
    turn, none lost."""
    server = mock_sungrow_factory(model="SG5K-D", server_type="rtu", rtu_baudrate=19200)
    request = frame(1, read_pdu(4, 5000, 100))
    with Line(device_of(server)) as line:
        line.send(request * 40)            # 320 bytes: the pty takes them all at once
        first = line.recv(205)
        assert first[:3] == bytes([1, 4, 200]) and first[-2:] == crc(first[:-2])
        taken = len(server.requests)
        # 4 KiB is 19.98 replies; a slow machine may have seen more leave since (1.6 s for 15)
        assert 19 <= taken <= 35, taken
        line.send(request * 5)             # heard only once the device reads again
        for n in range(44):
            reply = line.recv(205)
            assert reply[:3] == bytes([1, 4, 200]) and reply[-2:] == crc(reply[:-2]), n
    assert [r.outcome for r in server.requests.all()] == ["ok"] * 45


def test_a_late_reply_still_leaves_at_the_line_rate(mock_sungrow_factory: Any) -> None:
    """A latency fault holds the answer back; once it goes, its 255 bytes still take 266 ms
    of line time at 9600 8N1 (a cable cannot be faster), not a burst of the whole frame: the
    reply is complete no sooner than 0.3 s + 266 ms after the request."""
    server = mock_sungrow_factory(model="SH10RT", server_type="rtu")
    server.inject("latency", delay=0.3, times=1)
    took = _timed_long_read(server)
    assert took >= 0.3 + 255 * 10 / 9600 * 0.95, took


def test_a_bad_frame_makes_the_device_deaf_until_the_line_is_silent(
        rtu_server: MockSungrowServer) -> None:
    """After a CRC error nothing on the line can be trusted to start a frame: a good request
    right behind the damaged one (no silence between) gets no answer; the first request
    after a silence does."""
    good = frame(1, read_pdu(4, 4999, 1))
    damaged = good[:-1] + bytes([good[-1] ^ 0xFF])
    with Line(device_of(rtu_server)) as line:
        line.send(damaged + good)
        assert line.recv(1, timeout=0.3) == b""
        line.send(good)
        assert line.recv(7) == frame(1, struct.pack(">BBH", 4, 2, SG5K_D))
    assert len(rtu_server.requests) == 1
    rtu_server.diagnostics.clear()
