"""The Modbus request path's rules for answers that wait, requests that get none, and faults.

Each test drives the plain port with a raw socket and checks what comes back, byte by byte,
and what the request log says. The rules (docs/design.md, "The request path"; docs/faults.md):
replies leave strictly in request order; a request that gets no answer (a broadcast, a silent
unit) holds nothing up; a latency fault delays an answer whatever answers it (an ``async_``
data block included); a write fault changes what the device applies, never the echo.
Expected bytes are Modbus PDUs written out by hand.
"""

from __future__ import annotations

import struct
import time
from typing import Any

import pytest

from mock_sungrow import MockSungrowServer, SungrowModbusDataBlock
from tests.helpers import AsyncBlock, RawModbus, closed_by_peer

READ_5000 = bytes.fromhex("04 13 87 00 01")  # FC4 wire 4999: device type code 0x0126
TYPE_CODE = bytes.fromhex("04 02 01 26")


def _port(server: MockSungrowServer) -> int:
    return int(server.get_connection_info("modbus")["port"])




def test_a_delayed_silent_unit_holds_up_nothing(mock_sungrow_factory: Any) -> None:
    """Latency on a unit that stays silent: no reply for it, the next one comes in order."""
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus",
                                                     unknown_unit="silence")
    server.inject("latency", delay=0.05)
    with RawModbus("127.0.0.1", _port(server)) as c:
        c.send(c.frame(9, READ_5000, tid=1) + c.frame(1, READ_5000, tid=2))
        assert c.recv_frame() == (2, 1, TYPE_CODE)
        assert c.request(1, READ_5000) == TYPE_CODE  # and the line goes on
    assert [(r.unit, r.outcome, r.fault) for r in server.requests.all()] == [
        (9, "no reply", "latency"), (1, "ok", "latency"), (1, "ok", "latency")]


def test_latency_on_an_async_data_block(mock_sungrow_factory: Any) -> None:
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus",
                                                     datablock_class=AsyncBlock)
    server.inject("latency", delay=0.02, table="input")
    with RawModbus("127.0.0.1", _port(server)) as c:
        # delayed (and async), then a holding read that is only async, then delayed again
        c.send(c.frame(1, READ_5000, tid=1) + c.frame(1, bytes.fromhex("03 13 8f 00 01"), tid=2)
               + c.frame(1, bytes.fromhex("04 13 88 00 01"), tid=3))
        assert c.recv_frame() == (1, 1, TYPE_CODE)
        tid, unit, reply = c.recv_frame()
        assert (tid, unit, reply[:2]) == (2, 1, b"\x03\x02")
        assert c.recv_frame() == (3, 1, bytes.fromhex("04 02 00 32"))  # 5001: 5.0 kW rated
    assert [r.fault for r in server.requests.all()] == ["latency", None, "latency"]


def test_write_scale_reaches_a_broadcast_write(mock_sungrow_factory: Any) -> None:
    """Unit 0 gets no reply, but its write is scaled like any other (and logged)."""
    server: MockSungrowServer = mock_sungrow_factory(model="SH10RT", server_type="modbus")
    server.inject("write-scale", factor=10, table="holding", address=13074)
    with RawModbus("127.0.0.1", _port(server)) as c:
        c.send(c.frame(0, bytes.fromhex("06 33 11 00 7b"), tid=1))  # 123 W, broadcast
        assert c.request(1, bytes.fromhex("03 33 11 00 01")) == bytes.fromhex("03 02 04 ce")
    first = server.requests.all()[0]
    assert (first.unit, first.outcome, first.values, first.fault) == (
        0, "no reply", (123,), "write-scale")


def test_write_scale_on_async_writes_refuses_what_no_longer_fits(
    mock_sungrow_factory: Any,
) -> None:
    server: MockSungrowServer = mock_sungrow_factory(model="SH10RT", server_type="modbus",
                                                     datablock_class=AsyncBlock)
    server.inject("write-scale", factor=10, table="holding", address=13074)
    with RawModbus("127.0.0.1", _port(server)) as c:
        assert c.request(1, bytes.fromhex("06 33 11 00 7b")) == bytes.fromhex("06 33 11 00 7b")
        assert c.request(1, bytes.fromhex("03 33 11 00 01")) == bytes.fromhex("03 02 04 ce")
        # 7000 W x 10 = 70 000: no longer a word, refused before the block sees it
        assert c.request(1, bytes.fromhex("06 33 11 1b 58")) == bytes.fromhex("86 04")
        assert c.request(1, bytes.fromhex("03 33 11 00 01")) == bytes.fromhex("03 02 04 ce")


def test_an_error_fault_answers_with_its_code_for_the_function_asked(
    mock_sungrow_factory: Any,
) -> None:
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus")
    server.inject("exception", code=3, table="holding", address=5008)
    with RawModbus("127.0.0.1", _port(server)) as c:
        assert c.request(1, bytes.fromhex("03 13 8f 00 01")) == bytes.fromhex("83 03")
        assert c.request(1, bytes.fromhex("06 13 8f 01 f4")) == bytes.fromhex("86 03")
        pdu = struct.pack(">BHHBH", 16, 5007, 1, 2, 500)
        assert c.request(1, pdu) == bytes.fromhex("90 03")
        assert c.request(1, READ_5000) == TYPE_CODE  # another register: untouched
    assert server.read_registers("holding", 5008) != [500]  # refused writes applied nothing


def test_traffic_keeps_an_idle_timeout_from_closing_a_busy_connection(
    mock_sungrow_factory: Any,
) -> None:
    """``idle-timeout`` closes *idle* connections: every answer restarts the countdown.

    The client asks again and again for more than twice the timeout; the line stays open.
    Then it stops, and the server closes it (the wait only bounds a failing test).
    """
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus")
    server.inject("idle-timeout", seconds=2.0)
    with RawModbus("127.0.0.1", _port(server), timeout=10) as c:
        started = time.monotonic()
        while time.monotonic() - started < 5.0:  # 2.5 timeouts of steady traffic
            assert c.request(1, READ_5000) == TYPE_CODE
            time.sleep(0.05)  # pacing, not synchronisation: a client polling fast
        assert server.requests.find(outcome="closed: idle") == []
        assert closed_by_peer(c.sock, timeout=30)
    (closed,) = server.requests.find(outcome="closed: idle")
    assert closed.fault == "idle-timeout"


def _peer_of(client: RawModbus) -> str:
    host, port = client.sock.getsockname()[:2]
    return f"{host}:{port}"


def test_an_idle_close_is_logged_for_the_connection_it_closed(mock_sungrow_factory: Any
                                                               ) -> None:
    """The log's idle close names the client it closed (host and port), as a request would."""
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus")
    server.inject("idle-timeout", seconds=0.2)
    with RawModbus("127.0.0.1", _port(server)) as c:
        assert c.request(1, READ_5000) == TYPE_CODE
        peer = _peer_of(c)
        assert closed_by_peer(c.sock)
    (closed,) = server.requests.find(outcome="closed: idle")
    assert (closed.peer, closed.fault) == (peer, "idle-timeout")


def test_a_delayed_answer_to_a_client_that_left_is_never_given(mock_sungrow_factory: Any
                                                                ) -> None:
    """The client closes while its answer waits out a latency fault: the answer is dropped
    with the connection, so the log never says it was answered. A second client, which asks
    later and waits out the same delay, sees the first one's delay pass before its own."""
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus")
    server.inject("latency", delay=0.3)
    left = RawModbus("127.0.0.1", _port(server))
    left.send(left.frame(1, READ_5000))
    left.close()
    with RawModbus("127.0.0.1", _port(server)) as c:
        assert c.request(1, bytes.fromhex("04 13 88 00 01")) == bytes.fromhex("04 02 00 32")
        peer = _peer_of(c)
    assert [(r.peer, r.address, r.outcome) for r in server.requests.all()] == [
        (peer, 5001, "ok")]


class _Broken5003(SungrowModbusDataBlock):
    def getValues(self, address: int, count: int = 1) -> list[int]:
        if address == 5003:
            raise RuntimeError("an override that fails at 5003")
        return super().getValues(address, count)


@pytest.mark.mock_sungrow_expect_errors
def test_a_queued_request_that_fails_is_reported_for_its_connection(mock_sungrow_factory: Any
                                                                     ) -> None:
    """Behind a delayed answer the next request waits in the queue; its handler error names
    the port and the client it came from, like one answered at once."""
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus",
                                                     datablock_class=_Broken5003)
    server.inject("latency", delay=0.05, table="input", address=5000)
    with RawModbus("127.0.0.1", _port(server)) as c:
        c.send(c.frame(1, READ_5000, tid=1) + c.frame(1, bytes.fromhex("04 13 8a 00 01"), tid=2))
        assert [c.recv_frame() for _ in range(2)] == [(1, 1, TYPE_CODE), (2, 1, b"\x84\x04")]
        peer = _peer_of(c)
    assert [(p.front_end, p.peer, p.kind) for p in server.problems] == [
        ("modbus", peer, "handler-error")]
