"""A fault kind is its catalogue entry and its effect, and nothing else has to change.

The kinds here are defined in this file only and registered at run time; they then parse,
inject, act on real requests over real sockets, fire, wait and show in the request log like
the shipped ones. (A shipped kind lives in one ``faults/kinds/*.py`` module and needs its row
and example in docs/faults.md, which ``test_fault_catalogue`` checks.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pymodbus.client import ModbusTcpClient

from mock_sungrow.faults import FaultSpecError
from mock_sungrow.faults.catalogue import KINDS, register, unregister
from mock_sungrow.faults.decision import ERROR
from mock_sungrow.faults.kinds.base import Change, Effect, FaultKind, Turn, WordRead
from mock_sungrow.faults.params import Param, positive
from mock_sungrow.faults.spec import Fault
from tests.winet_client import Winet, run, words_of


class EveryNthBusy(Effect):
    """Every ``every``-th request is answered "server device busy" (exception 6)."""

    def before(self, fault: Fault, turn: Turn) -> bool:
        seen = fault.state["seen"] = fault.state.get("seen", 0) + 1
        if seen % fault.params["every"] == 0 and turn.decision.action is None:
            turn.decision.action, turn.decision.code = ERROR, 6
            turn.fire(fault)
        return False


class Inverted(Effect):
    """Every bit of the covered registers flipped."""

    def word(self, fault: Fault, read: WordRead, register: int, word: int) -> int | None:
        return word ^ 0xFFFF


class Tripped(Effect):
    """The inverter trips with fault code 99 while the fault is active."""

    def changed(self, fault: Fault, change: Change) -> bool:
        plant = change.host.plant_for(fault.match.unit)
        if change.added:
            plant.trip(99, at=change.at)
        else:
            plant.recover(at=change.at)
        return True


TEST_KINDS = (
    FaultKind("test-busy", "request", frozenset({"modbus"}), "every Nth request is busy",
              params=(Param("every", int, 2, check=positive),), effect=EveryNthBusy()),
    FaultKind("test-invert", "words", frozenset({"modbus", "http"}), "bits flipped",
              registers=True, effect=Inverted()),
    FaultKind("test-trip", "plant", frozenset({"modbus", "http"}), "trips with code 99",
              effect=Tripped()),
)


@pytest.fixture
def test_kinds() -> Iterator[None]:
    for kind in TEST_KINDS:
        register(kind)
    try:
        yield
    finally:
        for kind in TEST_KINDS:
            unregister(kind.name)


def _client(server: Any) -> ModbusTcpClient:
    client = ModbusTcpClient("127.0.0.1", port=server.get_connection_info("modbus")["port"],
                             timeout=5, retries=0)
    assert client.connect()
    return client


@pytest.mark.usefixtures("test_kinds")
def test_a_registered_request_kind_acts_counts_and_is_logged(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    fault = server.inject("test-busy:every=2,times=2")  # the CLI's text form parses it too
    client = _client(server)
    try:
        answers = [client.read_input_registers(4999, count=1) for _ in range(5)]
    finally:
        client.close()
    assert [r.exception_code if r.isError() else r.registers for r in answers] == [
        [0x0126], 6, [0x0126], 6, [0x0126]]
    server.wait(1)  # fired its two times
    assert fault.fired == 2
    assert [r.fault for r in server.requests.all()] == [None, "test-busy", None, "test-busy",
                                                        None]


@pytest.mark.usefixtures("test_kinds")
def test_a_registered_word_kind_acts_on_every_front_end(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="both")
    server.inject("test-invert", table="input", address=5000)
    client = _client(server)
    try:
        assert client.read_input_registers(4999, count=2).registers[0] == 0x0126 ^ 0xFFFF
    finally:
        client.close()

    async def go() -> dict[str, Any]:
        async with Winet(server) as w:
            token = (await w.session()).token
            return await w.registers(token, "input", 5000, 1)

    assert words_of(run(go())["result_data"]["param_value"]) == [0x0126 ^ 0xFFFF]
    assert {r.front_end for r in server.requests.all() if r.fault == "test-invert"} == {
        "modbus", "http"}


@pytest.mark.usefixtures("test_kinds")
def test_a_registered_plant_kind_changes_the_device_while_active(
    mock_sungrow_factory: Any,
) -> None:
    server = mock_sungrow_factory(server_type="modbus")
    client = _client(server)
    try:
        with server.inject("test-trip") as fault:
            assert client.read_input_registers(5044, count=1).registers == [99]  # input 5045
            assert fault.fired == 1
        assert client.read_input_registers(5044, count=1).registers == [0]
    finally:
        client.close()


def test_registration_refuses_what_could_never_act() -> None:
    class Misplaced(Effect):
        def word(self, fault: Fault, read: WordRead, register: int, word: int) -> int | None:
            return 0

    with pytest.raises(FaultSpecError, match=r"hook\(s\) word are never called for that phase"):
        FaultKind("test-misplaced", "connect", frozenset({"modbus"}), "", effect=Misplaced())
    with pytest.raises(FaultSpecError, match=r"unknown front end\(s\) \['serial'\]"):
        FaultKind("test-serial", "request", frozenset({"serial"}), "")
    with pytest.raises(FaultSpecError, match="exists already"):
        register(KINDS["zeros"])
    with pytest.raises(FaultSpecError, match="shipped"):
        unregister("zeros")
    assert "test-busy" not in KINDS  # the other tests' kinds are gone again
