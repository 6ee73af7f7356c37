"""Which requests and connections a fault acts on, and what the request log then says.

Over real sockets (pymodbus, raw sockets) and the control API; the expectations are the
behaviour docs/faults.md promises a client, written out here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pymodbus.client import ModbusTcpClient

from mock_sungrow import ManualClock
from tests.helpers import (
    RawModbus,
    closed_without_answer,
    control_call,
    turned_away,
    wait_until,
)
from tests.winet_client import Winet, run

SYDNEY = ZoneInfo("Australia/Sydney")


def _port(server: Any, kind: str = "modbus") -> int:
    port = server.get_connection_info(kind)["port"]
    assert isinstance(port, int)
    return port


def test_night_shutdown_drops_a_connection_opened_by_day(mock_sungrow_factory: Any) -> None:
    clock = ManualClock(datetime(2026, 1, 10, 12, 0, tzinfo=SYDNEY))
    server = mock_sungrow_factory(server_type="modbus", clock=clock)
    server.inject("night-shutdown")
    with RawModbus("127.0.0.1", _port(server)) as raw:
        assert raw.read(4, 4999, 1) == [0x0126]  # noon: the inverter answers
        clock.advance(11 * 3600)                 # 23:00: the sun is down
        raw.send(raw.frame(1, bytes.fromhex("04 13 87 00 01")))
        assert closed_without_answer(raw.sock)
    dropped = server.requests.find(outcome="dropped")
    assert [(r.front_end, r.fault) for r in dropped] == [("modbus", "night-shutdown")]


def test_refuse_resets_new_connections_and_logs_them(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    with RawModbus("127.0.0.1", _port(server)) as early:  # opened before the fault
        assert early.read(4, 4999, 1) == [0x0126]  # (and admitted: it has been answered)
        with server.inject("refuse", front_end="modbus"):
            assert turned_away(_port(server))  # reset at once (TCP RST), no answer
            assert early.read(4, 4999, 1) == [0x0126]  # connections already open stay
        refused = server.requests.find(outcome="refused")
        assert [(r.front_end, r.fault, r.function) for r in refused] == [
            ("modbus", "refuse", None)]
    client = ModbusTcpClient("127.0.0.1", port=_port(server), timeout=2, retries=0)
    assert client.connect()
    try:  # the fault ended with its context: connections are accepted again
        assert client.read_input_registers(4999, count=1).registers == [0x0126]
    finally:
        client.close()


def test_the_log_keeps_the_words_a_client_wrote(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="modbus", control_port=0)
    with RawModbus("127.0.0.1", _port(server)) as raw:
        assert raw.write(5007, [500]) is None   # documented 5008: power limitation 50.0 %
        assert raw.read(3, 5007, 1) == [500]
    base = server.get_connection_info("control")["url"].rstrip("/")
    status, entries = control_call(base, "GET", "/requests?front_end=modbus")
    assert status == 200
    write, read = entries[-2:]
    assert (write["function"], write["table"], write["address"], write["count"],
            write["values"], write["outcome"]) == (16, "holding", 5008, 1, [500], "ok")
    assert (read["function"], read["address"], read["values"]) == (3, 5008, None)


def test_an_ordered_fault_without_times_is_refused_by_name(mock_sungrow_factory: Any) -> None:
    import pytest

    from mock_sungrow.faults import FaultSpecError

    server = mock_sungrow_factory(server_type="modbus")
    with pytest.raises(FaultSpecError, match=r"^an ordered fault needs a finite 'times'$"):
        server.inject("exception", ordered=True)


def test_the_log_keeps_written_words_while_a_fault_is_active(mock_sungrow_factory: Any
                                                             ) -> None:
    """With a fault active a request takes the fault path, not the raw log: the written
    words are still logged, and a read under the fault still logs none."""
    server = mock_sungrow_factory(server_type="modbus")
    server.inject("exception", code=4, unit=9)  # acts on no request here
    with RawModbus("127.0.0.1", _port(server)) as raw:
        assert raw.write(5007, [400]) is None  # documented 5008: power limitation 40.0 %
        assert raw.read(3, 5007, 1) == [400]
    write, read = server.requests.all()[-2:]
    assert (write.function, write.address, write.values, write.outcome) == (
        16, 5008, (400,), "ok")
    assert write.to_dict()["values"] == [400]
    assert (read.function, read.address, read.values) == (3, 5008, None)


def test_a_frame_fault_naming_a_table_leaves_the_other_table_alone(mock_sungrow_factory: Any
                                                                   ) -> None:
    """``wrong-count`` on holding registers: an input read keeps its byte count (2 for one
    register), a holding read of one register claims 3 registers (6 bytes)."""
    server = mock_sungrow_factory(server_type="modbus")
    server.inject("wrong-count", count=3, table="holding")
    with RawModbus("127.0.0.1", _port(server)) as raw:
        assert raw.request(1, bytes.fromhex("04 13 87 00 01"))[:2] == bytes((4, 2))
        assert raw.request(1, bytes.fromhex("03 13 87 00 01"))[:2] == bytes((3, 6))
    assert [r.fault for r in server.requests.all()] == [None, "wrong-count"]


def test_a_counting_fault_naming_a_function_counts_only_it(mock_sungrow_factory: Any
                                                           ) -> None:
    """``freeze-after-illegal-reads`` for function 3: an illegal input read (function 4,
    exception 2) is not counted, the dongle keeps answering; an illegal holding read
    freezes it."""
    server = mock_sungrow_factory(server_type="modbus", clock=ManualClock())
    freeze = server.inject("freeze-after-illegal-reads", reads=1, recover=100, function=3)
    with RawModbus("127.0.0.1", _port(server)) as raw:
        assert raw.read(4, 100, 1) == 2
        assert raw.read(4, 4999, 1) == [0x0126]  # not frozen: input 5000, the device type
        assert freeze.fired == 0
        assert raw.read(3, 100, 1) == 2
        assert freeze.fired == 1


def test_a_fault_naming_registers_leaves_services_that_name_none(mock_sungrow_factory: Any
                                                                ) -> None:
    """``silence`` on register 5000: a WiNet-S ``real`` request names no register, so it is
    answered; a Modbus read of input 5000 is not (the log says which fault took it)."""
    server = mock_sungrow_factory(server_type="both")
    server.inject("silence", address=5000, times=1)  # any table: the address decides

    async def go() -> dict[str, Any]:
        async with Winet(server) as w:
            s = await w.session()
            return await s.call("real", dev_id="1")

    assert run(go())["result_code"] == 1
    with RawModbus("127.0.0.1", _port(server)) as raw:
        raw.send(raw.frame(1, bytes.fromhex("04 13 87 00 01")))
        wait_until(lambda: server.requests.find(fault="silence"))
        assert raw.read(4, 4999, 1) == [0x0126]  # used up: answered again
    assert [(r.front_end, r.outcome) for r in server.requests.find(fault="silence")] == [
        ("modbus", "silence")]
