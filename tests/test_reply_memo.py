"""Replies kept per plant instant (WiNet-S ``real`` and getParam, Modbus FC4) never go stale.

The front ends keep a reply built from a stock device's words while the plant stays at one
instant (``frontends/winet/memo.py``, ``ModbusApplication._read_input``). These tests hold
the plant still (a manual clock nobody moves), let a reply be kept, then change the words
without moving the clock — a pinned register, a word fault, a data-block override — and
check that the next reply shows the change, over real sockets.
"""

from __future__ import annotations

import itertools
from typing import Any

from mock_sungrow import ManualClock, MockSungrowServer, SungrowModbusDataBlock
from tests.helpers import RawModbus
from tests.winet_client import Winet, run, words_of

POWER = "I18N_COMMON_TOTAL_ACTIVE_POWER"  # input 5031-5032, U32 watts, low word first


def _server(factory: Any, **kwargs: Any) -> MockSungrowServer:
    server: MockSungrowServer = factory(model="SG5K-D", server_type="both", clock=ManualClock(),
                                        **kwargs)
    return server


def _modbus(server: MockSungrowServer, address: int, count: int) -> list[int]:
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as client:
        words = client.read(4, address - 1, count)  # wire address = documented - 1
    assert isinstance(words, list), f"input {address}: exception {words}"
    return words


def _winet(server: MockSungrowServer) -> tuple[str, list[int]]:
    """``real``'s active power text and getParam's words of input 5031-5032."""

    async def go() -> tuple[str, list[int]]:
        async with Winet(server) as w:
            session = await w.session()
            reply = await session.call("real", dev_id="1")
            assert reply["result_code"] == 1, reply
            values = [i["data_value"] for i in reply["result_data"]["list"]
                      if i["data_name"] == POWER]
            registers = await w.registers(session.token, "input", 5031, 2)
            assert registers["result_code"] == 1, registers
            return values[0], words_of(registers["result_data"]["param_value"])

    return run(go())


def _kw(words: list[int]) -> str:
    """A U32 watt register as the dongle's kW text (spec: three decimals)."""
    return f"{(words[0] | words[1] << 16) / 1000:.3f}"


def test_a_pinned_word_shows_at_once_in_real_getparam_and_modbus(
    mock_sungrow_factory: Any,
) -> None:
    server = _server(mock_sungrow_factory)
    clean = _modbus(server, 5031, 2)
    assert clean != [1234, 0]
    for _ in range(2):  # the second round is answered from what the first one kept
        assert _winet(server) == (_kw(clean), clean)
        assert _modbus(server, 5031, 2) == clean
    server.set_register("input", 5031, [1234, 0])
    assert _winet(server) == ("1.234", [1234, 0])
    assert _modbus(server, 5031, 2) == [1234, 0]
    server.clear_registers()
    assert _winet(server) == (_kw(clean), clean)
    assert _modbus(server, 5031, 2) == clean


def test_a_word_fault_shows_at_once_and_ends_at_once(mock_sungrow_factory: Any) -> None:
    server = _server(mock_sungrow_factory)
    clean = _modbus(server, 5031, 2)
    assert clean != [0, 0]  # 10:00 on the default day: the inverter produces
    assert _winet(server) == (_kw(clean), clean)
    server.inject("zeros", table="input", address=[5031, 5032])
    assert _winet(server) == ("0.000", [0, 0])
    assert _modbus(server, 5031, 2) == [0, 0]
    server.clear_faults()
    assert _winet(server) == (_kw(clean), clean)
    assert _modbus(server, 5031, 2) == clean


class CountingBlock(SungrowModbusDataBlock):
    """Answers input 5031 with a new word on every read (no two replies alike)."""

    counter = itertools.count(100)

    def getValues(self, address: int, count: int = 1) -> list[int]:
        words = super().getValues(address, count)
        if self.table == "input" and address <= 5031 < address + count:
            words[5031 - address] = next(self.counter)
            if address + count > 5032:
                words[5032 - address] = 0
        return words


def test_a_data_block_override_is_asked_on_every_request(mock_sungrow_factory: Any) -> None:
    server = _server(mock_sungrow_factory, datablock_class=CountingBlock)
    first, second = _winet(server), _winet(server)
    assert first[0] != second[0]  # real read the block again
    assert first[1] != second[1]  # and so did getParam
    reads = [_modbus(server, 5031, 2)[0] for _ in range(3)]
    assert len(set(reads)) == 3
