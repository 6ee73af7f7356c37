"""What a connected client sees when the server stops, the sun sets, or an answer must wait.

Each test first completes a request on the connection, so the server has really accepted it
(a socket that only reached the kernel's backlog is closed by the listener, not by the code
these tests are about).
"""

from __future__ import annotations

import gc
import logging
import socket
import struct
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mock_sungrow import ManualClock, MockSungrowServer
from tests.helpers import (
    EncryptedModbus,
    RawModbus,
    closed_by_peer,
    crc16,
    turned_away,
    wait_until,
)


def _read_http_response(sock: socket.socket) -> bytes:
    """One whole HTTP/1.1 response (headers and a Content-Length body) from ``sock``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, f"closed before the headers: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = sock.recv(4096)
        assert chunk, "closed inside the body"
        body += chunk
    return head


@pytest.mark.parametrize("kind", ["modbus", "sungrow", "http"])
def test_stop_closes_connections_it_has_accepted(kind: str) -> None:
    server = MockSungrowServer(server_type={"modbus": "modbus", "sungrow": "sungrow",
                                            "http": "http"}[kind],
                               modbus_port=0, http_port=0, sungrow_port=0)
    server.start()
    info = server.get_connection_info(kind)
    sock: socket.socket
    try:
        if kind == "modbus":
            raw = RawModbus(info["host"], info["port"])
            assert raw.read(4, 4999, 1) == [0x0126]  # answered: accepted and served
            sock = raw.sock
        elif kind == "sungrow":
            enc = EncryptedModbus(info["host"], info["port"])
            enc.fetch_key()
            assert enc.eread(4, 4999, 1) == [0x0126]
            sock = enc.sock
        else:
            sock = socket.create_connection((info["host"], info["port"]), timeout=5)
            sock.sendall(b"GET /about/list HTTP/1.1\r\nHost: x\r\n\r\n")  # keep-alive
            assert _read_http_response(sock).startswith(b"HTTP/1.1 200")
        server.stop()
        # The client sees the connection end (EOF or reset) instead of hanging on it.
        assert closed_by_peer(sock, timeout=5)
        sock.close()
    finally:
        server.stop()


def test_night_shutdown_drops_a_connection_opened_by_day(mock_sungrow_factory: Any) -> None:
    clock = ManualClock(datetime(2026, 1, 10, 12, 0, tzinfo=ZoneInfo("Australia/Sydney")))
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus", clock=clock)
    server.inject("night-shutdown")
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as client:
        assert client.read(4, 4999, 1) == [0x0126]  # noon: the inverter is on
        clock.advance(11 * 3600)  # 23:00, the sun long gone: the inverter switches off
        client.send(client.frame(1, struct.pack(">BHH", 4, 4999, 1)))
        assert closed_by_peer(client.sock, timeout=5)  # dropped, not answered
    assert server.requests.all()[-1].outcome == "dropped"
    assert server.requests.all()[-1].fault == "night-shutdown"
    port = server.get_connection_info("modbus")["port"]
    assert turned_away(port)  # at night a new connection is refused as it arrives
    assert server.requests.all()[-1].outcome == "refused"  # not admitted, then dropped
    clock.advance(13 * 3600)  # noon next day: the inverter is on again
    with RawModbus("127.0.0.1", port) as client:
        assert client.read(4, 4999, 1) == [0x0126]


@pytest.mark.parametrize("first", ["night-shutdown", "exception"])
def test_night_shutdown_leaves_the_day_to_other_faults_and_its_drop_is_final(
        mock_sungrow_factory: Any, first: str) -> None:
    """By day the switched-on inverter answers as the other faults say; at night nothing does.

    Whichever was injected first, an exception fault on input 5000 answers by day (night-shutdown
    must not settle a request it leaves alone), and at night the request is dropped, not
    answered with that exception.
    """
    clock = ManualClock(datetime(2026, 1, 10, 12, 0, tzinfo=ZoneInfo("Australia/Sydney")))
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus", clock=clock)
    specs: dict[str, dict[str, Any]] = {
        "night-shutdown": {}, "exception": {"code": 4, "table": "input", "address": 5000}}
    for kind in sorted(specs, key=lambda k: k != first):
        server.inject(kind, **specs[kind])
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as client:
        assert client.read(4, 4999, 1) == 4  # noon: exception 4 (server device failure)
        assert isinstance(client.read(4, 5000, 1), list)  # 5001: outside the fault, answered
        clock.advance(11 * 3600)  # 23:00
        client.send(client.frame(1, struct.pack(">BHH", 4, 4999, 1)))
        assert closed_by_peer(client.sock, timeout=5)  # no exception reply: dropped
    last = server.requests.all()[-1]
    assert (last.address, last.outcome, last.fault) == (5000, "dropped", "night-shutdown")


def test_a_delayed_answer_keeps_its_place_in_the_pipeline(mock_sungrow_factory: Any) -> None:
    """Request 1 is delayed by a latency fault; request 2 (unfaulted) must still come second."""
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus")
    server.inject("latency", delay=0.3, table="input", address=5000)  # only request 1
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"], timeout=5) as c:
        first = c.frame(1, struct.pack(">BHH", 4, 4999, 1), tid=1)  # input 5000: delayed
        second = c.frame(1, struct.pack(">BHH", 3, 4999, 1), tid=2)  # holding 5000: not
        c.send(first + second)  # one segment: pipelined
        replies = [c.recv_frame() for _ in range(2)]
    assert [tid for tid, _unit, _pdu in replies] == [1, 2]
    assert replies[0][2] == bytes((4, 2, 0x01, 0x26))  # device type code of an SG5K-D
    assert replies[1][2][:2] == bytes((3, 2))  # the holding year, answered second
    log = server.requests.all()
    assert [(r.table, r.fault) for r in log] == [("input", "latency"), ("holding", None)]


def _read_mbap(port: int) -> None:
    with RawModbus("127.0.0.1", port) as client:
        assert client.read(4, 4999, 1) == [0x0126]


def _read_rtu(port: int) -> None:
    """Input 5000 (device type code 0x0126) as one RTU frame over TCP (spec §A: CRC low byte
    first)."""
    request = bytes((1, 4)) + struct.pack(">HH", 4999, 1)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request + crc16(request))
        answer = b""
        while len(answer) < 7:
            chunk = sock.recv(7 - len(answer))
            assert chunk, f"closed after {answer!r}"
            answer += chunk
    assert answer[:5] == bytes((1, 4, 2, 0x01, 0x26)) and answer[5:] == crc16(answer[:5])


@pytest.mark.parametrize(("server_type", "read"), [("modbus", _read_mbap),
                                                   ("rtu-tcp", _read_rtu)])
def test_a_closed_connection_is_freed_without_the_cyclic_collector(
        mock_sungrow_factory: Any, server_type: str, read: Any) -> None:
    """A connection, its request path and codec go as it closes, by reference counting.

    They refer to each other (and the RTU codec's line to the codec), and the front end
    keeps its open connections in a set a closed one must leave; a fleet polled
    connect-read-close made a thousand such cycles a second, and the collections they caused
    were most of its p99 (docs/fleet.md). With the collector off, none of them may be left
    once the server has seen the closes.
    """
    from mock_sungrow.frontends.modbus.codec import Codec
    from mock_sungrow.frontends.modbus.path import RequestPath
    from mock_sungrow.frontends.modbus.stream import StreamConnection

    def left() -> int:
        return sum(isinstance(o, RequestPath | Codec | StreamConnection)
                   for o in gc.get_objects())

    server: MockSungrowServer = mock_sungrow_factory(server_type=server_type, modbus_port=0,
                                                     rtu_tcp_port=0, rtu_baudrate=115200)
    port = server.get_connection_info(server_type)["port"]
    gc.collect()
    gc.disable()
    try:
        for _ in range(10):
            read(port)
        wait_until(lambda: left() == 0, what="every closed connection's path to be freed")
    finally:
        gc.enable()


def test_a_refused_connection_closes_cleanly_and_the_admitted_one_serves_on(
    mock_sungrow_factory: Any, caplog: pytest.LogCaptureFixture,
) -> None:
    """A connection a fault refuses never had a request path: its close must not touch one
    (an error there is logged by asyncio, and would repeat for every refused client)."""
    caplog.set_level(logging.ERROR, logger="asyncio")
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus", modbus_port=0)
    port = server.get_connection_info("modbus")["port"]
    server.inject("max-clients", limit=1, policy="refuse")
    with RawModbus("127.0.0.1", port) as first:
        assert isinstance(first.read(4, 4999, 1), list)
        for _ in range(3):
            assert turned_away(port)
        assert isinstance(first.read(4, 4999, 1), list)
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []
