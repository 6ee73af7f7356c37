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
from tests.helpers import control_call
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
    # Parameter types no shipped kind has: a number that may be an integer, a list with no
    # check of its own.
    FaultKind("test-params", "request", frozenset({"modbus"}), "parameters only",
              params=(Param("level", (int, float), doc="how loud"), Param("ids", list),
                      Param("every", int, 2, check=positive))),
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


@pytest.mark.usefixtures("test_kinds")
def test_a_registered_kinds_parameters_are_documented_and_coerced_over_the_api(
    mock_sungrow_factory: Any,
) -> None:
    """The served OpenAPI document types them from the Param, and POST /faults coerces so.

    JSON Schema's names for the types (``integer``, ``number``, ``array``); a number that may
    be an integer is kept as a float (2 -> 2.0), a list's whole floats become integers.
    """
    server = mock_sungrow_factory(server_type="modbus", control_port=0)
    base = server.get_connection_info("control")["url"].rstrip("/")
    status, doc = control_call(base, "GET", "/openapi.json")
    assert status == 200
    body = doc["paths"]["/faults"]["post"]["requestBody"]["content"]["application/json"]
    branch = next(b for b in body["schema"]["oneOf"]
                  if b["properties"]["kind"]["const"] == "test-params")
    given = {name: branch["properties"][name]["anyOf"][0] for name in ("level", "ids", "every")}
    assert given == {
        "level": {"type": ["integer", "number"], "description": "how loud"},
        "ids": {"type": "array", "items": {"type": "integer"}},
        "every": {"type": "integer", "exclusiveMinimum": 0, "default": 2},
    }

    status, made = control_call(base, "POST", "/faults",
                                {"kind": "test-params", "level": 2, "ids": [1.0, 2]})
    assert status == 201
    assert (made["level"], made["ids"], made["every"]) == (2.0, [1, 2], 2)
    assert isinstance(made["level"], float) and all(type(i) is int for i in made["ids"])
    status, made = control_call(base, "POST", "/faults", {"kind": "test-params", "level": 2.5})
    assert (status, made["level"]) == (201, 2.5)
    assert server.inject("test-params:level=3").params["level"] == 3.0
    with pytest.raises(FaultSpecError) as raised:  # the API's JSON has no NaN; the CLI's has
        server.inject("test-params:level=nan")
    assert str(raised.value) == "test-params: level must be a finite number; got nan"
    status, err = control_call(base, "POST", "/faults", {"kind": "test-params", "ids": "1 x 3"})
    assert (status, err["error"]) == (422, "test-params: ids must be a list; got '1 x 3'")
