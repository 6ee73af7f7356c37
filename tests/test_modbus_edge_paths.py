"""Modbus request paths the main tests do not reach, each as a client sees it on the wire.

Expected bytes are Modbus PDUs written out by hand: ``84 02`` is FC4 with the exception bit
and code 2, ``06 33 11 00 7b`` is an FC6 write of 123 to wire address 13073 echoed back.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Sequence
from typing import Any

import pytest

from mock_sungrow import ExceptionCode, MockSungrowServer, ModbusError, SungrowModbusDataBlock
from tests.helpers import RawModbus, closed_by_peer, wait_until


def _read(fc: int, wire_address: int, count: int) -> bytes:
    return struct.pack(">BHH", fc, wire_address, count)


def _port(server: MockSungrowServer) -> int:
    return int(server.get_connection_info("modbus")["port"])


def test_a_drop_waits_for_the_delayed_answers_before_it(mock_sungrow_factory: Any) -> None:
    """Request 1 is delayed, request 2 is dropped: 1 is still answered, then the line closes."""
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus")
    server.inject("latency", delay=0.2, table="input", address=5000)
    server.inject("drop", table="holding", address=5000)
    with RawModbus("127.0.0.1", _port(server), timeout=5) as c:
        c.send(c.frame(1, _read(4, 4999, 1), tid=1)   # delayed
               + c.frame(1, _read(3, 4999, 1), tid=2)  # dropped, behind it
               + c.frame(1, _read(4, 5000, 1), tid=3))  # never answered: the line is gone
        assert c.recv_frame() == (1, 1, bytes((4, 2, 0x01, 0x26)))
        assert closed_by_peer(c.sock)
    log = server.requests.all()
    assert [(r.table, r.outcome, r.fault) for r in log] == [
        ("input", "ok", "latency"), ("holding", "dropped", "drop")]


class AsyncWrites(SungrowModbusDataBlock):
    """An override of ``async_setValues``: writes take the async path (and are recorded)."""

    seen: list[tuple[int, list[int]]]

    async def async_setValues(self, address: int, values: Sequence[int]) -> None:
        await asyncio.sleep(0)  # really asynchronous
        type(self).seen.append((address, list(values)))
        await super().async_setValues(address, values)


def test_write_scale_on_the_async_write_path(mock_sungrow_factory: Any) -> None:
    AsyncWrites.seen = []
    server: MockSungrowServer = mock_sungrow_factory(
        model="SH10RT", server_type="modbus", datablock_class=AsyncWrites)
    server.inject("write-scale", factor=10, table="holding", address=13074)
    with RawModbus("127.0.0.1", _port(server)) as c:
        single = bytes.fromhex("06 33 11 00 7b")  # holding 13074 (feed-in limit) = 123 W
        assert c.request(1, single) == single  # the reply echoes what the client sent...
        assert c.read(3, 13073, 1) == [1230]  # ...the inverter applied ten times that
        multi = bytes.fromhex("10 33 11 00 01 02 00 c8")  # FC16: 200 W
        assert c.request(1, multi) == multi[:5]
        assert c.read(3, 13073, 1) == [2000]
        assert c.request(1, bytes.fromhex("06 33 11 13 88")) == bytes.fromhex("86 04")  # 50 kW
        assert c.request(1, bytes.fromhex("06 33 11 1b 58")) == bytes.fromhex("86 04")  # 70 000
        assert c.read(3, 13073, 1) == [2000]  # refused writes changed nothing
    assert AsyncWrites.seen == [(13074, [1230]), (13074, [2000]), (13074, [50000])]
    assert [r.fault for r in server.requests.find(writes=True)] == ["write-scale"] * 4


def test_write_scale_bounds_are_those_of_a_register(mock_sungrow_factory: Any) -> None:
    """A scaled word of 0 is written; one of 65 536 (0x8000 doubled) no longer fits: 4."""
    server: MockSungrowServer = mock_sungrow_factory(model="SH10RT", server_type="modbus")
    server.inject("write-scale", factor=2, table="holding", address=13074)
    with RawModbus("127.0.0.1", _port(server)) as c:
        assert c.request(1, bytes.fromhex("06 33 11 00 64")) == bytes.fromhex("06 33 11 00 64")
        assert c.read(3, 13073, 1) == [200]
        assert c.request(1, bytes.fromhex("06 33 11 00 00")) == bytes.fromhex("06 33 11 00 00")
        assert c.read(3, 13073, 1) == [0]
        assert c.request(1, bytes.fromhex("06 33 11 80 00")) == bytes.fromhex("86 04")
        assert c.read(3, 13073, 1) == [0]
    assert server.problems == []


class AsyncFailures(SungrowModbusDataBlock):
    """An ``async_getValues`` override that refuses one register and breaks on another."""

    async def async_getValues(self, address: int, count: int = 1) -> list[int]:
        if address == 5001:
            raise ModbusError(ExceptionCode.DEVICE_BUSY)
        if address == 5002:
            raise RuntimeError("bug in a user's async override")
        return await super().async_getValues(address, count)


@pytest.mark.mock_sungrow_expect_errors
def test_async_override_errors_become_exceptions(mock_sungrow_factory: Any) -> None:
    server: MockSungrowServer = mock_sungrow_factory(
        server_type="modbus", datablock_class=AsyncFailures)
    with RawModbus("127.0.0.1", _port(server)) as c:
        assert c.read(4, 5000, 1) == 6  # ModbusError(6): "device busy", as raised
        assert c.read(4, 5001, 1) == 4  # a bug: "device failure", recorded, served on
        assert c.read(4, 4999, 1) == [0x0126]
        host, port = c.sock.getsockname()[:2]
        peer = f"{host}:{port}"
    [problem] = server.problems
    assert problem.kind == "handler-error" and "bug in a user's async override" in problem.message
    assert (problem.front_end, problem.peer) == ("modbus", peer)  # where it happened



class BrokenBoth(SungrowModbusDataBlock):
    """A read of input 5002 and a write of holding 5008 that break in a user's override."""

    def getValues(self, address: int, count: int = 1) -> list[int]:
        if address == 5002:
            raise RuntimeError("broken read override")
        return super().getValues(address, count)

    def setValues(self, address: int, values: Any) -> None:
        if address == 5008:
            raise RuntimeError("broken write override")
        super().setValues(address, values)


@pytest.mark.mock_sungrow_expect_errors
def test_handler_errors_on_the_delayed_and_rewritten_paths_name_where(
    mock_sungrow_factory: Any,
) -> None:
    """A read that waits for a latency fault and a write that write-scale rewrote still
    record a broken override with the port and the peer it came from."""
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus",
                                                     datablock_class=BrokenBoth)
    server.inject("latency", delay=0.01, function=4)
    server.inject("write-scale", factor=2, table="holding", address=5008)
    with RawModbus("127.0.0.1", _port(server)) as c:
        assert c.read(4, 5001, 1) == 4
        assert c.write(5007, [50]) == 4
        host, port = c.sock.getsockname()[:2]
    assert [(p.front_end, p.peer, p.kind) for p in server.problems] == [
        ("modbus", f"{host}:{port}", "handler-error")] * 2

def test_stop_with_an_answer_still_pending() -> None:
    """A request delayed for a minute does not hold up stop(), and the client sees the end."""
    server = MockSungrowServer(server_type="modbus", modbus_port=0).start()
    try:
        fault = server.inject("latency", delay=60)
        with RawModbus("127.0.0.1", _port(server)) as c:
            c.send(c.frame(1, _read(4, 4999, 1)))
            wait_until(lambda: fault.fired >= 1, what="the request reaching the server")
            started = time.monotonic()
            server.stop()
            assert time.monotonic() - started < 30  # far less than the pending minute
            assert closed_by_peer(c.sock)
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("what", "pdu", "reply"),
    [
        ("a read PDU one byte long", "04 13 87 00 01 00", "84 02"),
        ("a read of 0 registers", "04 13 87 00 00", "84 02"),
        ("a single write without its value", "06 13 8e 00", "86 02"),
        ("a truncated FC16 header", "10 13 8e 00", "90 02"),
        ("FC16 count 0", "10 13 8e 00 00 00", "90 02"),
        ("FC16 byte count not 2 x count", "10 13 8e 00 01 04 00 01 00 02", "90 02"),
        ("FC16 data shorter than its byte count", "10 13 8e 00 02 04 00 01", "90 02"),
        ("an unsupported function", "2b 0e 01 00", "ab 01"),
    ],
)
def test_malformed_pdus_get_an_exception_and_the_line_stays(
    mock_sungrow_factory: Any, what: str, pdu: str, reply: str
) -> None:
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus")
    with RawModbus("127.0.0.1", _port(server)) as c:
        assert c.request(1, bytes.fromhex(pdu)) == bytes.fromhex(reply), what
        assert c.read(4, 4999, 1) == [0x0126]  # the same connection keeps working


def test_unanswered_units_stay_silent_and_later_requests_still_come(
    mock_sungrow_factory: Any,
) -> None:
    """A unit with no device (``unknown_unit="silence"``) and a broadcast read get no reply.

    Pipelined with a normal read: the next frame to arrive answers the normal read.
    """
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus",
                                                     unknown_unit="silence")
    with RawModbus("127.0.0.1", _port(server)) as c:
        c.send(c.frame(9, _read(4, 4999, 1), tid=1)  # no device 9: silence
               + c.frame(0, _read(4, 4999, 1), tid=2)  # a broadcast read: never answered
               + c.frame(1, _read(4, 4999, 1), tid=3))
        assert c.recv_frame() == (3, 1, bytes((4, 2, 0x01, 0x26)))
    default: MockSungrowServer = mock_sungrow_factory(server_type="modbus")
    with RawModbus("127.0.0.1", _port(default)) as c:
        c.send(c.frame(9, _read(4, 4999, 1), tid=7))
        assert c.recv_frame() == (7, 9, bytes.fromhex("84 0b"))  # gateway target failed


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"unknown_unit": "ignore"}, "unknown_unit must be 'exception' or 'silence'"),
    ({"key_reply": bytes(15)}, "key_reply must be exactly 16 bytes"),
])
def test_an_application_refuses_settings_it_cannot_serve(kwargs: dict[str, Any],
                                                         message: str) -> None:
    """Front ends build the application from checked settings; a direct caller (a test, a
    new front end) gets the mistake named instead of a port that answers wrongly."""
    from mock_sungrow.diagnostics import Diagnostics
    from mock_sungrow.frontends.modbus.app import ModbusApplication

    with pytest.raises(ValueError) as caught:
        ModbusApplication({}, Diagnostics(), **kwargs)
    assert str(caught.value) == message
    plain = ModbusApplication({}, Diagnostics())  # the defaults: exception 0x0B, zero key
    assert plain.handle(5, bytes.fromhex("04 13 87 00 01")) == bytes.fromhex("84 0b")
    # the key request (unit 247, input 2792, 8 registers): 16 zero bytes, "plain port"
    assert plain.handle(247, bytes.fromhex("04 0a e7 00 08")) == b"\x04\x10" + bytes(16)
