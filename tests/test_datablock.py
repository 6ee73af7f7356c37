"""The original mock's extension idiom: subclass the data block, override getValues."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
from pymodbus.client import ModbusTcpClient

from mock_sungrow import ExceptionCode, MockSungrowServer, ModbusError, SungrowModbusDataBlock
from tests.helpers import RawModbus


class FaultyModbusDataBlock(SungrowModbusDataBlock):
    """Verbatim shape of the original README's "Simulating Errors" example."""

    def getValues(self, address: int, count: int = 1) -> list[int]:
        if address == 5009:  # Fault code register
            return [42]
        return super().getValues(address, count)


def _client(server: Any) -> ModbusTcpClient:
    c = ModbusTcpClient("127.0.0.1", port=server.get_connection_info()["port"], timeout=2,
                        retries=0)
    assert c.connect()
    return c


def test_readme_example_is_honoured_over_modbus(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(datablock_class=FaultyModbusDataBlock)
    c = _client(server)
    try:
        # Wire 5008 is documented 5009, what pymodbus <= 3.12 passed to getValues.
        assert c.read_input_registers(5008, count=1).registers == [42]
        assert c.read_holding_registers(5008, count=1).registers == [42]
        assert c.read_input_registers(4999, count=1).registers == [0x0126]
    finally:
        c.close()
    assert server.read_registers("input", 5009) == [42]


class ExceptionBlock(SungrowModbusDataBlock):
    """Refuse one register with exception 2, like a dongle that does not forward it."""

    def getValues(self, address: int, count: int = 1) -> list[int]:
        if self.table == "input" and address <= 5031 < address + count:
            raise ModbusError(ExceptionCode.ILLEGAL_ADDRESS, "not forwarded")
        return super().getValues(address, count)


def test_override_can_answer_with_an_exception(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(datablock_class=ExceptionBlock)
    with RawModbus("127.0.0.1", server.get_connection_info()["port"]) as r:
        assert r.read(4, 5000, 38) == 2  # one bad register kills the whole block
        assert r.read(4, 4999, 1) == [0x0126]


class RecordingBlock(SungrowModbusDataBlock):
    writes: list[tuple[int, list[int]]]

    def setValues(self, address: int, values: Sequence[int]) -> None:
        type(self).writes.append((address, list(values)))
        super().setValues(address, values)


def test_set_values_override_sees_every_write(mock_sungrow_factory: Any) -> None:
    RecordingBlock.writes = []
    server = mock_sungrow_factory(datablock_class=RecordingBlock)
    c = _client(server)
    try:
        c.write_register(5007, 900)
        c.write_registers(5006, [0x55, 800])
    finally:
        c.close()
    assert RecordingBlock.writes == [(5008, [900]), (5007, [0x55, 800])]


class AsyncWritesOnly(SungrowModbusDataBlock):
    """Overrides only ``async_setValues``: reads take the async path with the stock read."""

    async def async_setValues(self, address: int, values: Sequence[int]) -> None:
        await asyncio.sleep(0)
        self.setValues(address, values)


def test_the_stock_async_read_returns_every_register_asked(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(datablock_class=AsyncWritesOnly)
    with RawModbus("127.0.0.1", server.get_connection_info()["port"]) as r:
        # input 5000-5001: the SG5K-D's device type code 0x0126 and 5.0 kW nominal (models.csv)
        assert r.read(4, 4999, 2) == [0x0126, 50]
        assert r.write(5007, [700]) is None  # through the override
        assert r.read(3, 5007, 1) == [700]


def test_async_override_delays_only_its_requests_and_keeps_order(
    mock_sungrow_factory: Any,
) -> None:
    """An ``async_getValues`` override holds input reads until the test lets them go.

    Events instead of timings: the held read is known to be waiting on the server while the
    other connection is answered, and nothing comes back on the held connection until the
    test releases it.
    """
    holding_a_read = threading.Event()
    release = threading.Event()

    class HeldBlock(SungrowModbusDataBlock):
        async def async_getValues(self, address: int, count: int = 1) -> list[int]:
            if self.table == "input":
                holding_a_read.set()
                deadline = time.monotonic() + 10  # a failing test must not hang the loop
                while not release.is_set() and time.monotonic() < deadline:
                    await asyncio.sleep(0.002)
            return self.getValues(address, count)

    server = mock_sungrow_factory(datablock_class=HeldBlock)
    port = server.get_connection_info()["port"]
    with RawModbus("127.0.0.1", port) as slow, RawModbus("127.0.0.1", port) as fast:
        slow.send(slow.frame(1, struct.pack(">BHH", 4, 4999, 1)))
        slow.send(slow.frame(1, struct.pack(">BHH", 3, 4999, 1)))  # pipelined behind it
        assert holding_a_read.wait(10)
        assert fast.read(3, 4999, 1) != 2  # the other connection is not held up
        slow.sock.setblocking(False)
        with pytest.raises(BlockingIOError):
            slow.sock.recv(1)  # neither the held read nor the one queued behind it came back
        slow.sock.settimeout(5)
        release.set()
        first, second = slow.recv_frame(), slow.recv_frame()
        assert (first[0], second[0]) == (1, 2)  # strict request order
        assert first[2] == b"\x04\x02\x01\x26"


class BrokenBlock(SungrowModbusDataBlock):
    def getValues(self, address: int, count: int = 1) -> list[int]:
        if address == 5001:
            raise RuntimeError("bug in a user's override")
        if address == 5002:
            return [70000]  # not a 16-bit word
        return super().getValues(address, count)


@pytest.mark.mock_sungrow_expect_errors
def test_a_broken_override_answers_device_failure_and_is_reported(
    mock_sungrow_factory: Any,
) -> None:
    server = mock_sungrow_factory(datablock_class=BrokenBlock)
    with RawModbus("127.0.0.1", server.get_connection_info()["port"]) as r:
        assert r.read(4, 5000, 1) == 4
        assert r.read(4, 5001, 1) == 4
        assert r.read(4, 4999, 1) == [0x0126]  # and the server keeps serving
    assert [p.kind for p in server.problems] == ["handler-error", "handler-error"]
    assert "bug in a user's override" in server.problems[0].message


def test_block_knows_its_table_and_plant(mock_sungrow_shared: MockSungrowServer) -> None:
    server = mock_sungrow_shared
    assert server.device.input.table == "input"
    assert server.device.holding.table == "holding"
    assert server.device.input.plant is server.plant
    assert server.device.input.validate(5031, 2)
    assert not server.device.input.validate(100, 2)
    with pytest.raises(ModbusError) as e:
        server.device.input.setValues(5031, [1])
    assert e.value.code == ExceptionCode.ILLEGAL_ADDRESS


def test_slow_connect_close_cycles_leave_nothing(mock_sungrow_shared: MockSungrowServer) -> None:
    server = mock_sungrow_shared
    for _ in range(50):
        socket.create_connection(("127.0.0.1", server.get_connection_info()["port"])).close()
    with RawModbus("127.0.0.1", server.get_connection_info()["port"]) as r:
        assert r.read(4, 4999, 1) == [0x0126]
