"""Who a Modbus request reaches, as the request log, the faults and the diagnostics see it.

A hybrid's LAN port serves its inverter on unit 1 and its battery on unit 200; Sungrow's key
request (``04 0A E7 00 08`` on unit 247, ../shared/spec/encrypted-modbus.md) is answered by the
port itself, for its inverter. The request log's ``device`` column says whose registers a request
reached: nobody's for a unit no device answers. Raw Modbus TCP sockets; expectations are the
documented words (models.csv: the SH10RT's device type code 0x0E03) and the serials the server
reports for its devices.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import pytest

from mock_sungrow import MockSungrowServer, SungrowModbusDataBlock
from tests.helpers import GET_KEY, RawModbus, wait_until

KEY_PDU = bytes.fromhex("04 0A E7 00 08")  # read input 2792-2799 (GET_KEY's PDU)
READ_5000 = struct.pack(">BHH", 4, 4999, 1)


def _port(server: MockSungrowServer) -> int:
    port: int = server.get_connection_info("modbus")["port"]
    return port


def test_the_log_names_the_device_each_unit_reaches(mock_sungrow_factory: Any) -> None:
    server: MockSungrowServer = mock_sungrow_factory(model="SH10RT", battery_kwh=9.6,
                                                     server_type="modbus")
    inverter, battery = server.find_device("inverter[1]"), server.battery
    assert battery is not None and battery.unit == 200
    with RawModbus("127.0.0.1", _port(server)) as client:
        assert client.read(4, 4999, 1, unit=1) == [0x0E03]
        assert client.read(4, 4999, 1, unit=9) == 0x0B  # nobody: gateway target failed
        assert client.request(247, KEY_PDU) == b"\x04\x10" + bytes(16)  # plain port: zeros
        # The battery's own input 2792-2799: none is in registers.csv, illegal address.
        assert client.request(200, KEY_PDU) == b"\x84\x02"
    assert [(r.unit, r.device) for r in server.requests.all()] == [
        (1, inverter.serial), (9, None), (247, inverter.serial), (200, battery.serial)]


def test_only_the_key_request_on_unit_247_is_the_handshake(mock_sungrow_factory: Any) -> None:
    """key-silent swallows the key request; other reads of unit 247, and the key PDU sent to
    the inverter's own unit, are ordinary requests and answered."""
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus")
    server.inject("key-silent")
    with RawModbus("127.0.0.1", _port(server)) as client:
        assert client.request(247, READ_5000) == b"\x84\x0b"  # no device 247: refused
        # The inverter's input 2792-2799, not a key: none is in registers.csv.
        assert client.request(1, KEY_PDU) == b"\x84\x02"
        client.send(GET_KEY)
        wait_until(lambda: server.requests.find(outcome="silence"), what="the ignored key")
    assert [(r.unit, r.fault) for r in server.requests.all()] == [
        (247, None), (1, None), (247, "key-silent")]


class _RefusesWrites(SungrowModbusDataBlock):
    def setValues(self, address: int, values: Sequence[int]) -> None:
        raise RuntimeError("a user's override that cannot write")


@pytest.mark.mock_sungrow_expect_errors
def test_a_broadcast_write_that_fails_is_reported_for_its_port(mock_sungrow_factory: Any
                                                                ) -> None:
    """A broadcast (unit 0) gets no answer, so the failure is visible only as a problem."""
    server: MockSungrowServer = mock_sungrow_factory(server_type="modbus",
                                                     datablock_class=_RefusesWrites)
    with RawModbus("127.0.0.1", _port(server)) as client:
        client.send(client.frame(0, struct.pack(">BHH", 6, 5007, 333)))
        wait_until(lambda: server.problems, what="the broadcast's problem")
    assert [(p.front_end, p.kind) for p in server.problems] == [("modbus", "handler-error")]
    assert "a user's override that cannot write" in server.problems[0].message
