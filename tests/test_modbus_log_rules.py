"""What the request log says about each Modbus request, field by field, as a client sent it.

The log is how a test finds out what its client did (docs/faults.md, "The request log"): the
documented register number (the wire address + 1), the table of the function code, the count
(1 for FC6), the words a write carried, the outcome and the serial of the device that
answered. Requests are logged on two paths: raw and decoded when read (no fault active) and
through the fault layer (any fault active, matching or not). Both must say the same, so every
case runs once without a fault and once with one that matches none of these requests.
Expectations are the request bytes written out by hand and read as the Modbus rules read them.
"""

from __future__ import annotations

from typing import Any

import pytest

from mock_sungrow import ManualClock, MockSungrowServer
from tests.helpers import RawModbus

SERIAL = "A2231234567"

#: (unit, request PDU, expected reply PDU, expected log fields without time, peer and fault):
#: (front end, unit, function, table, address, count, outcome, values, device)
CASES: list[tuple[int, str, str, tuple[Any, ...]]] = [
    # FC4 at wire 4999, 2 registers: documented 5000-5001, input
    (1, "04 13 87 00 02", "04 04 01 26 00 32",
     ("modbus", 1, 4, "input", 5000, 2, "ok", None, SERIAL)),
    # FC4 at wire 100: input 101, a register no Sungrow map serves
    (1, "04 00 64 00 01", "84 02",
     ("modbus", 1, 4, "input", 101, 1, "exception 2", None, SERIAL)),
    # FC6 of 500 at wire 5007: holding 5008, one register, the word written
    (1, "06 13 8f 01 f4", "06 13 8f 01 f4",
     ("modbus", 1, 6, "holding", 5008, 1, "ok", (500,), SERIAL)),
    # FC16 of 0x0055, 750 at wire 5006: holding 5007-5008
    (1, "10 13 8e 00 02 04 00 55 02 ee", "10 13 8e 00 02",
     ("modbus", 1, 16, "holding", 5007, 2, "ok", (0x55, 750), SERIAL)),
    # FC3 at wire 5007: holding 5008, read back as written
    (1, "03 13 8f 00 01", "03 02 02 ee",
     ("modbus", 1, 3, "holding", 5008, 1, "ok", None, SERIAL)),
    # a unit nobody answers for: exception 0x0B, no device
    (9, "04 13 87 00 01", "84 0b",
     ("modbus", 9, 4, "input", 5000, 1, "exception 11", None, None)),
    # an unsupported function: no table, no address, no count
    (1, "2b 0e 01 00", "ab 01",
     ("modbus", 1, 0x2B, None, None, 0, "exception 1", None, SERIAL)),
    # a truncated FC16 header: a function code, nothing the log can read as a register
    (1, "10 13 8e 00", "90 02",
     ("modbus", 1, 16, None, None, 0, "exception 2", None, SERIAL)),
    # an FC16 whose data is short of its byte count: the words it does carry are logged
    (1, "10 13 8e 00 02 04 00 01", "90 02",
     ("modbus", 1, 16, "holding", 5007, 2, "exception 2", (1,), SERIAL)),
]


@pytest.fixture(params=["no fault", "an unrelated fault"])
def server(request: pytest.FixtureRequest, mock_sungrow_factory: Any) -> MockSungrowServer:
    s: MockSungrowServer = mock_sungrow_factory(server_type="modbus", serial=SERIAL,
                                                clock=ManualClock(1_767_225_600.0))
    if request.param == "an unrelated fault":
        s.inject("exception", code=4, table="input", address=39000)  # nothing reads it
    return s


def _peer(client: RawModbus) -> str:
    host, port = client.sock.getsockname()[:2]
    return f"{host}:{port}"


def test_each_request_is_logged_as_the_client_sent_it(server: MockSungrowServer) -> None:
    port = int(server.get_connection_info("modbus")["port"])
    with RawModbus("127.0.0.1", port) as c:
        for unit, pdu, reply, _ in CASES:
            assert c.request(unit, bytes.fromhex(pdu)) == bytes.fromhex(reply), pdu
        peer = _peer(c)
    log = server.requests.all()
    assert [(r.front_end, r.unit, r.function, r.table, r.address, r.count, r.outcome,
             r.values, r.device) for r in log] == [case[3] for case in CASES]
    assert {r.peer for r in log} == {peer}
    assert {r.fault for r in log} == {None}
    assert {r.time for r in log} == {1_767_225_600.0}  # the server's (manual) clock


def test_a_broadcast_write_is_logged_without_a_reply(server: MockSungrowServer) -> None:
    """Unit 0: applied on every device, never answered, logged as "no reply"."""
    port = int(server.get_connection_info("modbus")["port"])
    with RawModbus("127.0.0.1", port) as c:
        c.send(c.frame(0, bytes.fromhex("06 13 8f 02 58")))  # 600 to holding 5008
        # the next request's answer is the first thing that comes back
        assert c.request(1, bytes.fromhex("03 13 8f 00 01")) == bytes.fromhex("03 02 02 58")
        c.send(c.frame(0, bytes.fromhex("10 13 8f 00 01 02 01 90")))  # FC16: 400 to 5008
        assert c.request(1, bytes.fromhex("03 13 8f 00 01")) == bytes.fromhex("03 02 01 90")
    first, second, third, _ = server.requests.all()
    assert (first.unit, first.function, first.table, first.address, first.count,
            first.outcome, first.values, first.device) == (
        0, 6, "holding", 5008, 1, "no reply", (600,), None)
    assert (second.function, second.address, second.outcome, second.values) == (
        3, 5008, "ok", None)
    assert (third.unit, third.function, third.address, third.count, third.outcome,
            third.values) == (0, 16, 5008, 1, "no reply", (400,))


def test_the_key_request_is_logged_against_the_ports_own_inverter(
        mock_sungrow_factory: Any) -> None:
    """With no fault active the key request (unit 247) is logged as reaching the inverter
    whose port answered it (the plain LAN port's "no encryption" reply of 16 zero bytes)."""
    from tests.helpers import GET_KEY

    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus")
    with RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"]) as c:
        c.send(GET_KEY)
        assert c.recv_exact(25)[9:] == bytes(16)
    logged = server.requests.all()
    assert [(r.unit, r.device) for r in logged] == [(247, server.inverters[0].serial)]
