"""A framing is one codec: Modbus RTU, defined here, runs through the unchanged request path.

The codec below is written from the Modbus RTU rules (the Modbus over serial line
specification: unit, PDU, CRC-16 low byte first; no transaction id; a frame with a bad CRC
gets no answer; a broadcast to unit 0 is carried out and never answered; frames end with a
silence of 3.5 characters). It carries RTU over a TCP socket, the way serial device servers
do, so a real client (pymodbus with its RTU framer) can drive it. A serial link would tell
the codec about silence with ``gap()``; over TCP the codec arms the same timer itself.

Nothing of the request path, the front end class or the application changes: the front end
gets the codec as its ``codec`` argument and serves the server's own application, faults and
request log.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from pymodbus import FramerType
from pymodbus.client import ModbusTcpClient

from mock_sungrow import MockSungrowServer
from mock_sungrow.faults.decision import NO_FAULT, Decision
from mock_sungrow.frontends.modbus.app import ModbusApplication
from mock_sungrow.frontends.modbus.codec import Codec
from mock_sungrow.frontends.modbus.path import RequestPath
from mock_sungrow.frontends.modbus.tcp import ModbusTcpFrontEnd
from tests.helpers import crc16, rtu_frame

#: SG5K-D input 5000 (wire 4999): device type code 0x0126 (registers.csv, models.csv).
DEVICE_TYPE = 0x0126


def rtu(unit: int, pdu: bytes) -> bytes:
    return rtu_frame(unit, pdu)


def recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, f"closed after {data!r}"
        data += chunk
    return data


class RtuCodec(Codec):
    """Modbus RTU requests: length by function code, CRC checked, silence ends a frame."""

    #: The line's inter-frame silence (3.5 characters; at 19200 baud and above, 1.75 ms).
    SILENCE = 0.00175
    #: Every gap the codecs saw (so a test can wait for one instead of sleeping).
    gaps: ClassVar[threading.Event]

    def __init__(self, path: RequestPath) -> None:
        super().__init__(path)
        self._timer: asyncio.TimerHandle | None = None
        self._write_reply = self._reply

    def feed(self, data: bytes) -> None:
        """Bytes from the line: frame what is whole now; a silence may end a frame later."""
        self.buffer += data
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(self.SILENCE, self.gap)
        self.take()

    def gap(self) -> None:
        """The line fell silent: bytes that did not make a whole frame are a broken one."""
        self._timer = None
        self.buffer.clear()
        RtuCodec.gaps.set()

    def lost(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().lost()

    def take(self) -> None:
        buf = self.buffer
        while len(buf) >= 2 and self.path.can_take():
            fc = buf[1]
            if fc in (3, 4, 6):
                size = 8
            elif fc == 16 and len(buf) >= 7:
                size = 9 + buf[6]
            elif fc == 16:
                return
            else:  # no length to go by: the rest of this frame ends at the next silence
                buf.clear()
                return
            if len(buf) < size:
                return
            frame = bytes(buf[:size])
            del buf[:size]
            if crc16(frame[:-2]) != frame[-2:]:
                continue  # a damaged frame: a slave does not answer it
            self.path.submit(self.path.handle, self._write_reply, 0, frame[0], frame[1:-2])

    def _reply(self, tid: int, unit: int, pdu: bytes | None, d: Decision = NO_FAULT) -> None:
        if pdu is not None and not self.path.link.is_closing():  # None: broadcast, silence
            self.path.link.write(rtu(unit, pdu))


@pytest.fixture
def rtu_port(mock_sungrow_factory: Any) -> Iterator[tuple[MockSungrowServer, int]]:
    """A server's Modbus application behind an RTU-over-TCP front end on its own loop."""
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus")
    lan_port = next(e for e in server.installation.endpoints if e.kind == "modbus")
    app = ModbusApplication(lan_port.devices, server.diagnostics)  # the LAN port's devices
    front_end = ModbusTcpFrontEnd(app, server.diagnostics, "127.0.0.1", 0,
                                  label="Modbus RTU over TCP (test codec)", codec=RtuCodec,
                                  traffic=server.traffic)
    RtuCodec.gaps = threading.Event()
    assert server._running is not None
    runtime = server._running.runtime
    runtime.run(front_end.start(), 5)
    try:
        assert front_end.port is not None
        yield server, front_end.port
    finally:
        runtime.run(front_end.stop(), 5)


def test_a_real_rtu_client_reads_and_writes(rtu_port: tuple[MockSungrowServer, int]) -> None:
    server, port = rtu_port
    client = ModbusTcpClient("127.0.0.1", port=port, framer=FramerType.RTU, timeout=5,
                             retries=0)
    assert client.connect()
    try:
        assert client.read_input_registers(4999, count=1).registers == [DEVICE_TYPE]
        assert not client.write_register(5007, 500).isError()  # holding 5008: limit 50.0 %
        assert client.read_holding_registers(5007, count=1).registers == [500]
    finally:
        client.close()
    assert [(r.function, r.address, r.outcome) for r in server.requests.all()] == [
        (4, 5000, "ok"), (6, 5008, "ok"), (3, 5008, "ok")]


def test_a_bad_crc_is_not_answered_and_a_broadcast_never(
    rtu_port: tuple[MockSungrowServer, int],
) -> None:
    server, port = rtu_port
    read = rtu(1, struct.pack(">BHH", 4, 4999, 1))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(read[:-1] + bytes([read[-1] ^ 0xFF]))  # damaged on the line
        sock.sendall(rtu(0, struct.pack(">BHH", 6, 5007, 700)))  # broadcast: limit 70.0 %
        sock.sendall(read)
        # The first answer on the line is the good read's: nothing came for the other two.
        assert recv_exact(sock, 7) == rtu(1, struct.pack(">BBH", 4, 2, DEVICE_TYPE))
        sock.sendall(rtu(1, struct.pack(">BHH", 3, 5007, 1)))
        assert recv_exact(sock, 7) == rtu(1, struct.pack(">BBH", 3, 2, 700))  # applied
    outcomes = [(r.unit, r.function, r.outcome) for r in server.requests.all()]
    assert outcomes == [(0, 6, "no reply"), (1, 4, "ok"), (1, 3, "ok")]


def test_a_silence_ends_a_broken_frame(rtu_port: tuple[MockSungrowServer, int]) -> None:
    server, port = rtu_port
    read = rtu(1, struct.pack(">BHH", 4, 4999, 1))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(read[:5])  # a frame cut short, then the line falls silent
        assert RtuCodec.gaps.wait(5)
        sock.sendall(read)
        assert recv_exact(sock, 7) == rtu(1, struct.pack(">BBH", 4, 2, DEVICE_TYPE))
    assert len(server.requests) == 1


def test_faults_act_on_rtu_through_the_same_path(rtu_port: tuple[MockSungrowServer, int]) -> None:
    server, port = rtu_port
    server.inject("exception", code=4, times=1)
    server.inject("latency", delay=0.05, times=1)  # the answer waits: the ordered worker
    server.inject("zeros", table="input", address=5000)
    client = ModbusTcpClient("127.0.0.1", port=port, framer=FramerType.RTU, timeout=5,
                             retries=0)
    assert client.connect()
    try:
        assert client.read_input_registers(4999, count=1).exception_code == 4
        assert client.read_input_registers(4999, count=1).registers == [0]
    finally:
        client.close()
    server.wait(1)
    assert [r.fault for r in server.requests.all()] == ["exception,latency", "zeros"]
